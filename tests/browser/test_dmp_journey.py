"""Issue 4 acceptance: a doctor validates a consultation with "Envoyer au DMP" (pre-ticked), the worker sends the
VSM to the sandbox DMP, the doctor opens the chart's DMP tab, records the patient's consent, sees the document
(fetched in the background) and masks it in one click. Clicks counted (docs/journeys.md)."""

# ruff: noqa: F811 — pytest fixtures imported by name and used as arguments
from __future__ import annotations

import pytest

from caducee.core.models import Delivery
from caducee.core.outbox import run_worker
from caducee.dmp.models import DmpEntry
from caducee.documents.models import Document
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_ins_journey import Clicks
from tests.conftest import PASSWORD
from tests.dmp.test_dmp_sandbox_flow import FREE_INS, on_sandbox, qualified  # noqa: F401
from tests.sandbox.fixtures import dmp_sandbox, insi_sandbox_session  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_consultation_feeds_the_dmp_then_the_doctor_masks_it(on_sandbox, browser_page, make_patient, doctor) -> None:  # type: ignore[no-untyped-def]
    patient = qualified(make_patient, FREE_INS)
    patient.medecin_traitant = doctor
    patient.save(update_fields=["medecin_traitant"])
    page = browser_page
    clicks = Clicks(page)
    page.goto(f"{page.base_url}/patients/{patient.pk}/")
    page.fill("#username", "medecin")
    page.fill("#password", PASSWORD)
    clicks.click("button[type=submit]")
    clicks.click("button:has-text('Nouvelle consultation')")
    page.fill("#c-motif", "Renouvellement")
    assert page.is_checked("#vsm") and page.is_checked("#dmp")  # both pre-ticked: nothing to click
    clicks.click("button:has-text('Valider la consultation')")
    page.wait_for_selector("text=Consultation validée")

    # The worker (`caducee worker`, run by `caducee demo`) sends what was queued.
    assert run_worker(until_idle=True).sent == 1
    vsm = Document.objects.get(patient=patient, model="vsm")
    assert Delivery.objects.get(document_ref=vsm.unique_id).state == Delivery.State.SENT

    clicks.click("a:has-text('DMP')")
    page.wait_for_selector("[data-testid=dmp-state]:has-text('DMP ouvert')")  # TD0.2 asked in the background
    clicks.click("#consult_consent")
    clicks.click("button:has-text('Enregistrer les choix')")
    row = page.locator(f"tr[data-unique-id='{vsm.unique_id}']")
    row.wait_for()
    page.screenshot(path=str(ARTIFACTS / "dmp-tab.png"), full_page=True)
    clicks.click(f"tr[data-unique-id='{vsm.unique_id}'] button:has-text('Masquer')")
    page.wait_for_selector("text=Visibilité de")
    assert "Masqué aux professionnels de santé" in page.locator(f"tr[data-unique-id='{vsm.unique_id}']").inner_text()
    page.screenshot(path=str(ARTIFACTS / "dmp-masked.png"), full_page=True)
    assert DmpEntry.objects.get(patient=patient, unique_id=vsm.unique_id).masked_ps
    assert clicks.count == 7  # login, new consultation, validate, DMP tab, consent, save, mask
    assert page.console_errors == []
