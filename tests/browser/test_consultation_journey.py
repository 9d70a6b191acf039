"""Issue 3 acceptance: a doctor validates a consultation with the VSM ticked and one allergy unticked; the
stored VSM lacks it. Clicks counted (docs/journeys.md)."""

from __future__ import annotations

import datetime as dt

import pytest

from caducee.documents.models import Document
from caducee.record.models import Allergy, Problem
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_ins_journey import Clicks
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_doctor_validates_a_consultation_with_the_vsm(browser_page, make_patient, doctor) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    patient.medecin_traitant = doctor
    patient.save(update_fields=["medecin_traitant"])
    Problem.objects.create(
        patient=patient, created_by=doctor, label="Diabète de type 2", cim10_code="E11", onset=dt.date(2015, 3, 1)
    )
    Allergy.objects.create(
        patient=patient,
        created_by=doctor,
        agent_kind="drug",
        agent_label="Pénicilline",
        reaction="Urticaire",
        severity="M",
    )
    peanut = Allergy.objects.create(
        patient=patient,
        created_by=doctor,
        agent_kind="substance",
        agent_label="Arachide",
        reaction="Œdème",
        severity="H",
    )
    page = browser_page
    clicks = Clicks(page)
    page.goto(f"{page.base_url}/patients/{patient.pk}/")
    page.fill("#username", "medecin")
    page.fill("#password", PASSWORD)
    clicks.click("button[type=submit]")
    clicks.click("button:has-text('Nouvelle consultation')")
    page.fill("#c-motif", "Suivi diabète")
    page.fill("#c-observation", "Équilibre correct, HbA1c 6,8 %.")
    assert page.is_checked("#vsm")  # pre-ticked: no VSM yet
    clicks.click(f"input[data-vsm-key='allergy:{peanut.pk}']")  # untick one allergy
    page.screenshot(path=str(ARTIFACTS / "consultation-panel.png"), full_page=True)
    clicks.click("button:has-text('Valider la consultation')")
    page.wait_for_selector("text=Consultation validée")
    assert clicks.count == 4  # login, new consultation, untick, validate
    assert page.console_errors == []

    vsm = Document.objects.get(patient=patient, model="vsm")
    cda = bytes(vsm.cda).decode()
    assert "Pénicilline" in cda and "Arachide" not in cda
    assert "Diabète de type 2" in cda
