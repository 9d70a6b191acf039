"""Issue 13 §1 acceptance: the secretary adds a correspondent to the patient's care team from the Annuaire Santé in
≤ 3 clicks from the chart — here 2 (Chercher, Ajouter), 3 with the login. Clicks counted (docs/journeys.md)."""

from __future__ import annotations

import pytest

from caducee.mss.annuaire.records import DirectoryRecord
from caducee.mss.models import DirectoryEntry
from caducee.patients.models import PatientCorrespondent
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_ins_journey import Clicks
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_secretary_adds_a_cardiologist_from_the_directory_to_the_care_team(
    browser_page, make_patient, secretary
) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    record = DirectoryRecord(
        address="anne.leroy@demo.mssante.fr",
        kind="PER",
        national_id="810001234567",
        civility="DR",
        family_name="LEROY",
        given_name="Anne",
        profession="Médecin",
        specialty="Cardiologie et maladies vasculaires",
        organisation="CABINET DE CARDIOLOGIE BELLECOUR",
        address_line="4 PL BELLECOUR",
        postal_code="69002",
        city="LYON",
    )
    entry = DirectoryEntry.objects.create(**record.model_values())
    page = browser_page
    clicks = Clicks(page)
    page.goto(f"{page.base_url}/patients/{patient.pk}/")
    page.fill("#username", "secretaire")
    page.fill("#password", PASSWORD)
    clicks.click("button[type=submit]")  # lands on the chart
    page.fill("#equipe-q", "ler lyon")  # the care team's search field, on the chart
    clicks.click("#h-equipe ~ form button:has-text('Chercher')")
    page.wait_for_selector("[data-testid=directory-results]")
    assert page.input_value(f"#role-{entry.pk}") == "specialiste"  # suggested from the specialty
    page.screenshot(path=str(ARTIFACTS / "care-team-directory.png"), full_page=True)
    clicks.click(f"[data-testid=add-{entry.pk}]")
    page.wait_for_selector("text=ajouté à l'équipe de soins")
    team = page.inner_text("[data-testid=care-team]")
    assert "LEROY" in team and "anne.leroy@demo.mssante.fr" in team and "Spécialiste" in team
    page.screenshot(path=str(ARTIFACTS / "care-team-chart.png"), full_page=True)
    assert clicks.count == 3  # login, Chercher, Ajouter: 2 from the chart
    assert page.console_errors == []
    link = PatientCorrespondent.objects.get(patient=patient)
    assert (link.role, link.correspondent.national_id) == ("specialiste", "810001234567")
