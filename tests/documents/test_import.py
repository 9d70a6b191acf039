"""Issue 13 §2 « Importation de document »: a PDF or a scan imported from the browser, several files at once, each
stored as an N1 document (type, date, origin, category) valid against the CI-SIS kit; hostile files refused with the
reason, by their content and not their name, without blocking the others. Failed before the fix: there was no upload
in the chart at all (404)."""

from __future__ import annotations

import base64
import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from caducee.core.models import AuditEvent
from caducee.documents.models import Document
from caducee.documents.pdf import render_pdf

pytestmark = pytest.mark.django_db


def _png(size: tuple[int, int] = (300, 400), mode: str = "RGBA") -> bytes:
    out = io.BytesIO()
    color = {"RGBA": (200, 30, 30, 128), "RGB": (200, 30, 30), "1": 1}[mode]
    Image.new(mode, size, color).save(out, format="PNG")
    return out.getvalue()


def _pdf(practice, doctor, patient) -> bytes:  # type: ignore[no-untyped-def]
    return render_pdf(
        title="Bilan", practice=practice, author=doctor, identity=patient.identity, sections=[], date_text="Le 1/1"
    )


def test_import_a_pdf_and_a_scan_at_once(client: Client, doctor, make_patient, practice, cda_validator) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    client.force_login(doctor)
    url = f"/documents/patient/{patient.pk}/importer/"
    page = client.get(url).content.decode()
    assert 'type="file" multiple' in page and 'enctype="multipart/form-data"' in page
    assert f'href="{url}"' in client.get(f"/documents/patient/{patient.pk}/").content.decode()
    response = client.post(
        url,
        {
            "type": "biologie",
            "date": "2026-11-20",
            "origine": "Laboratoire Bioavenir",
            "fichiers": [
                SimpleUploadedFile("bilan.pdf", _pdf(practice, doctor, patient), content_type="application/pdf"),
                SimpleUploadedFile("scan.png", _png(), content_type="image/png"),
            ],
        },
    )
    assert response.status_code == 302 and response.url == f"/documents/patient/{patient.pk}/"
    documents = list(Document.objects.filter(patient=patient).order_by("pk"))
    assert len(documents) == 2
    for document in documents:
        assert document.model == "n1" and document.category == Document.Category.LAB
        assert document.type_code == "11502-2" and document.correspondent == "Laboratoire Bioavenir"
        assert document.title == "Compte rendu d'examens biologiques — Laboratoire Bioavenir du 20/11/2026"
        assert bytes(document.pdf).startswith(b"%PDF-")
        cda = bytes(document.cda)
        report = cda_validator.validate(cda)
        assert report.is_valid, report.format()
        assert base64.b64encode(bytes(document.pdf)) in cda
    assert b"/Subtype /Image" in bytes(documents[1].pdf)  # the scan laid on a PDF page
    assert AuditEvent.objects.filter(patient_id=patient.pk, action__startswith="document.").exists()


def test_hostile_files_are_refused_with_the_reason(client: Client, doctor, make_patient, practice, settings) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    client.force_login(doctor)
    settings.IMPORT_FILE_MAX_BYTES = 200_000
    response = client.post(
        f"/documents/patient/{patient.pk}/importer/",
        {
            "type": "courrier",
            "date": "20/11/2026",
            "origine": "CHU",
            "fichiers": [
                SimpleUploadedFile("facture.pdf", b"MZ\x90\x00 not a pdf", content_type="application/pdf"),
                SimpleUploadedFile("photo.png", b"GIF89a" + b"\x00" * 50, content_type="image/png"),
                SimpleUploadedFile("gros.pdf", b"%PDF-1.4\n" + b"0" * 300_000, content_type="application/pdf"),
                SimpleUploadedFile("casse.jpg", b"\xff\xd8\xff\xe0 broken", content_type="image/jpeg"),
                SimpleUploadedFile("bon.png", _png(mode="RGB"), content_type="image/png"),
            ],
        },
    )
    page = response.content.decode()
    assert response.status_code == 200  # one stored, the others listed with their reason
    assert "facture.pdf</strong> : Type de fichier refusé" in page
    assert "photo.png</strong> : Type de fichier refusé" in page
    assert "gros.pdf</strong> : Fichier trop volumineux" in page
    assert "casse.jpg</strong> : Image illisible" in page
    assert "bon.png</strong> : Importé" in page
    assert Document.objects.filter(patient=patient).count() == 1


def test_an_oversized_image_in_pixels_is_refused(doctor, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    from caducee.documents.imports import DocumentImportError, document_import

    patient = make_patient()
    with pytest.raises(DocumentImportError, match="trop grande"):
        document_import(
            actor=doctor,
            patient=patient,
            data=_png((8000, 6000), mode="1"),
            kind="png",
            type_key="courrier",
            document_date=dt.date(2026, 1, 2),
            origin="",
        )
    assert not Document.objects.exists()


def test_the_secretary_cannot_import(client: Client, secretary, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    client.force_login(secretary)
    assert client.get(f"/documents/patient/{patient.pk}/importer/").status_code == 403
