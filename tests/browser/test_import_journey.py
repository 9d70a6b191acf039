"""Issue 13 §2: a doctor imports a scan and a PDF into the chart from the browser, in one send; a hostile file in
the batch is refused with its reason. Failed before the fix: there was no import page."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from caducee.documents.models import Document
from tests.browser.conftest import ARTIFACTS
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (600, 800), (240, 240, 235)).save(out, format="PNG")
    return out.getvalue()


def test_doctor_imports_several_files(browser_page, make_patient, doctor, practice) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    page = browser_page
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(f"{page.base_url}/documents/patient/{patient.pk}/")
    page.fill("#username", "medecin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("text=Importer des documents")
    page.select_option("#i-type", "imagerie")
    page.fill("#i-origin", "Centre d'imagerie du Parc")
    page.screenshot(path=str(ARTIFACTS / "import-form-1024.png"), full_page=True)
    page.set_input_files(
        "#i-files",
        [
            {"name": "radio.png", "mimeType": "image/png", "buffer": _png()},
            {"name": "virus.pdf", "mimeType": "application/pdf", "buffer": b"MZ\x90\x00 this is no pdf"},
        ],
    )
    page.click("button:has-text('Importer')")
    page.wait_for_selector(".import-results")
    page.screenshot(path=str(ARTIFACTS / "import-results-1024.png"), full_page=True)
    assert "Type de fichier refusé" in page.inner_text(".import-results")
    assert "radio.png : Importé" in page.inner_text(".import-results")
    assert Document.objects.filter(patient=patient, correspondent="Centre d'imagerie du Parc").count() == 1
    assert page.console_errors == []
