"""Issue 13 §2 « Impression »: a document's page offers « Imprimer » (the PDF opened in the browser's viewer) and
« Télécharger » (the same PDF as an attachment with a readable name). Failed before the fix: the PDF was only
embedded in the page, with neither link, and `?telecharger=1` still answered `inline`."""

from __future__ import annotations

import pytest
from django.test import Client

from caducee.core.models import AuditEvent
from caducee.documents.models import Document

pytestmark = pytest.mark.django_db


def test_document_page_prints_and_downloads_the_pdf(client: Client, doctor, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    client.force_login(doctor)
    client.post(f"/documents/patient/{patient.pk}/vsm/")
    document = Document.objects.get(patient=patient, model="vsm")
    page = client.get(f"/documents/{document.pk}/").content.decode()
    assert f'href="/documents/{document.pk}/pdf/" target="_blank" rel="noopener">Imprimer</a>' in page
    assert f'href="/documents/{document.pk}/pdf/?telecharger=1">Télécharger (PDF)</a>' in page
    assert "window.print" not in page  # the CSP forbids inline scripts: printing is the viewer's
    shown = client.get(f"/documents/{document.pk}/pdf/")
    assert shown["Content-Disposition"].startswith("inline;")
    saved = client.get(f"/documents/{document.pk}/pdf/?telecharger=1")
    assert saved.status_code == 200 and saved.content == bytes(document.pdf)
    expected = f'attachment; filename="volet-de-synthese-medicale-{document.created_at:%Y%m%d}-v1.pdf"'
    assert saved["Content-Disposition"] == expected, saved["Content-Disposition"]
    assert AuditEvent.objects.filter(action="document.pdf", patient_id=patient.pk).count() == 2
