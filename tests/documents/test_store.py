"""Document store: stable uniqueIds, immutable originals, corrections as new versions, audited; the PDF."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from caducee.core.models import AuditEvent
from caducee.documents.models import Document, ImmutableDocumentError
from caducee.documents.pdf import PdfSection, render_pdf
from caducee.documents.services import document_ids_new, document_store, sequence_next

pytestmark = pytest.mark.django_db


def _store(actor, patient, practice, replaces=None):  # type: ignore[no-untyped-def]
    return document_store(
        actor=actor,
        patient=patient,
        ids=document_ids_new(practice=practice, replaces=replaces),
        model="n1",
        type_code="11488-4",
        type_code_system="2.16.840.1.113883.6.1",
        type_label="Compte rendu de consultation",
        title="CR",
        cda=b"<ClinicalDocument/>",
        pdf=b"%PDF-1.4",
        replaces=replaces,
    )


def test_sequence_never_repeats(db) -> None:  # type: ignore[no-untyped-def]
    assert [sequence_next(name="x") for _ in range(3)] == [1, 2, 3]


def test_store_then_immutable_then_new_version(doctor, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    first = _store(doctor, patient, practice)
    assert first.unique_id == "1.2.250.1.999.1.1^1" and first.version_number == 1
    first.cda = b"<tampered/>"
    with pytest.raises(ImmutableDocumentError):
        first.save()
    first.refresh_from_db()
    first.state = Document.State.SENT
    first.save(update_fields=["state"])  # the state may change
    second = _store(doctor, patient, practice, replaces=first)
    assert (second.set_id_ext, second.version_number, second.replaces) == (first.set_id_ext, 2, first)
    assert second.unique_id_ext != first.unique_id_ext
    assert AuditEvent.objects.filter(action="document.create", patient_id=patient.pk).count() == 2


def test_secretary_cannot_store_clinical_documents(secretary, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        _store(secretary, make_patient(), practice)
    assert not Document.objects.exists()


def test_pdf_carries_the_r32_identity_and_survives_non_latin1_text(doctor, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    identity = make_patient().identity
    pdf = render_pdf(
        title="Synthèse – cœur",
        practice=practice,
        author=doctor,
        identity=identity,
        sections=[PdfSection("Allergies", ["Pénicilline — urticaire €"])],
        date_text="le 22/11/2026",
    )
    assert pdf.startswith(b"%PDF-") and len(pdf) > 800
