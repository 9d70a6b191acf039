"""Issue 3 §3 acceptance: from the patient's documents, a doctor writes a referral letter and saves it as an
N1 document (category courrier). Clicks counted (docs/journeys.md)."""

from __future__ import annotations

import pytest

from caducee.documents.letters.services import letters_seed_defaults
from caducee.documents.models import Document, LetterTemplate
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_ins_journey import Clicks
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_doctor_writes_a_letter_from_the_documents(browser_page, make_patient, doctor) -> None:  # type: ignore[no-untyped-def]
    letters_seed_defaults()  # migration 0003 seeds them, but transactional tests flush the tables after themselves
    referral = LetterTemplate.objects.get(kind=LetterTemplate.Kind.REFERRAL)
    patient = make_patient()
    page = browser_page
    clicks = Clicks(page)
    page.goto(f"{page.base_url}/documents/patient/{patient.pk}/")
    page.fill("#username", "medecin")
    page.fill("#password", PASSWORD)
    clicks.click("button[type=submit]")
    clicks.click("a:has-text('Nouveau courrier')")
    page.fill("#l-correspondent", "Dr Claire DURAND, cardiologue")
    clicks.click(f"button[name=modele][value='{referral.pk}']")
    page.wait_for_selector("#l-text")
    assert "Je vous adresse Madame DOMINIQUE ADRTROIS" in page.input_value("#l-text")
    assert page.input_value("#l-correspondent") == "Dr Claire DURAND, cardiologue"
    clicks.click("button:has-text('Enregistrer')")
    page.wait_for_selector("text=Courrier enregistré")
    assert clicks.count == 4  # login, "Nouveau courrier", the template, "Enregistrer"
    assert page.console_errors == []

    document = Document.objects.get(patient=patient)
    assert page.url == f"{page.base_url}/documents/{document.pk}/"
    assert (document.model, document.category) == ("n1", Document.Category.LETTER)
    assert document.correspondent == "Dr Claire DURAND, cardiologue"
    page.wait_for_load_state("networkidle")  # the PDF frame loaded before the screenshot
    page.screenshot(path=str(ARTIFACTS / "letter.png"), full_page=True)
