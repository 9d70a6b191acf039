"""Issue 13 §2: empty draft consultations can be deleted by their author; another doctor's draft is refused (read
only, a "refused" audit row), except to the author's remplaçant during an open replacement (audited with it).
Failed before the fix: there was no delete URL, and any writer could save or validate anyone's draft without trace."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from caducee.accounts.models import Replacement, Role, User
from caducee.core.models import AuditEvent
from caducee.record.consultations import ConsultationError, consultation_delete, consultation_open, consultation_save
from caducee.record.models import Consultation
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def colleague(db: None) -> User:
    return User.objects.create_user(
        username="collegue", password=PASSWORD, role=Role.MEDECIN, last_name="COLLEGUE", rpps="89970012399"
    )


@pytest.fixture
def remplacant(db: None) -> User:
    return User.objects.create_user(
        username="rempl", password=PASSWORD, role=Role.REMPLACANT, last_name="REMPL", rpps="89970012398"
    )


def _save(client: Client, consultation: Consultation, **fields: str):  # type: ignore[no-untyped-def]
    consultation.refresh_from_db()
    data = {"version": str(consultation.version), "action": "save", **fields}
    return client.post(f"/consultations/{consultation.pk}/enregistrer/", data)


def test_the_author_deletes_his_empty_draft(client: Client, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    client.force_login(doctor)
    client.post(f"/consultations/patient/{patient.pk}/nouvelle/")
    consultation = Consultation.objects.get()
    page = client.get(f"/consultations/{consultation.pk}/").content.decode()
    assert "Supprimer ce brouillon vide" in page
    response = client.post(f"/consultations/{consultation.pk}/supprimer/")
    assert response.status_code == 302 and response.url == f"/patients/{patient.pk}/"
    assert not Consultation.objects.exists()
    event = AuditEvent.objects.get(action="consultation.delete")
    assert event.outcome == AuditEvent.Outcome.OK and event.patient_id == patient.pk


def test_a_draft_with_content_or_validated_is_kept(client: Client, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    client.force_login(doctor)
    consultation = consultation_open(actor=doctor, patient=patient)
    _save(client, consultation, motif="Toux")
    page = client.get(f"/consultations/{consultation.pk}/").content.decode()
    assert "Supprimer ce brouillon vide" not in page
    response = client.post(f"/consultations/{consultation.pk}/supprimer/", follow=True)
    assert "contient des informations" in response.content.decode()
    assert Consultation.objects.filter(pk=consultation.pk).exists()
    assert AuditEvent.objects.get(action="consultation.delete").outcome == AuditEvent.Outcome.REFUSED
    Consultation.objects.filter(pk=consultation.pk).update(motif="", state=Consultation.State.VALIDATED)
    consultation.refresh_from_db()
    with pytest.raises(ConsultationError, match="validée"):
        consultation_delete(actor=doctor, consultation=consultation, request=None)
    assert Consultation.objects.filter(pk=consultation.pk).exists()


def test_a_colleague_can_neither_edit_nor_delete_the_draft(client: Client, doctor, colleague, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    consultation = consultation_open(actor=doctor, patient=patient)
    consultation_save(actor=doctor, consultation=consultation, version=1, fields={"motif": "Toux"})
    client.force_login(colleague)
    page = client.get(f"/consultations/{consultation.pk}/").content.decode()
    assert "lecture seule" in page and "Valider la consultation" not in page
    assert "readonly" in page and "Supprimer ce brouillon vide" not in page
    response = _save(client, consultation, motif="Réécrit par un autre", action="validate")
    assert response.status_code == 302
    consultation.refresh_from_db()
    assert consultation.motif == "Toux" and consultation.state == Consultation.State.OPEN
    refused = AuditEvent.objects.get(action="consultation.save", outcome=AuditEvent.Outcome.REFUSED)
    assert refused.actor_id == colleague.pk and refused.detail["author"] == doctor.pk
    Consultation.objects.filter(pk=consultation.pk).update(motif="")
    consultation.refresh_from_db()
    client.post(f"/consultations/{consultation.pk}/supprimer/")
    assert Consultation.objects.filter(pk=consultation.pk).exists()


def test_the_remplacant_finishes_the_replaced_doctors_draft(client: Client, doctor, remplacant, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    consultation = consultation_open(actor=doctor, patient=patient)
    replacement = Replacement.objects.create(replaced=doctor, remplacant=remplacant, opened_by=doctor)
    client.force_login(remplacant)
    page = client.get(f"/consultations/{consultation.pk}/").content.decode()
    assert "que vous complétez en tant que remplaçant" in page
    assert "Supprimer ce brouillon vide" not in page  # deleting stays the author's
    _save(client, consultation, motif="Fièvre")
    consultation.refresh_from_db()
    assert consultation.motif == "Fièvre"
    saved = AuditEvent.objects.get(action="consultation.save", actor=remplacant)
    assert saved.outcome == AuditEvent.Outcome.OK
    assert saved.detail == {"replacement": replacement.pk, "for_author": doctor.pk}
    # Once the replacement is closed, the draft is the author's alone again.
    Replacement.objects.filter(pk=replacement.pk).update(closed_at=replacement.opened_at)
    _save(client, consultation, motif="Après le remplacement")
    consultation.refresh_from_db()
    assert consultation.motif == "Fièvre"


def test_a_consultation_prints_and_downloads_as_pdf(client: Client, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    """Issue 13 §2 « Impression »: before the fix a consultation had no PDF at all."""
    patient = make_patient()
    consultation = consultation_open(actor=doctor, patient=patient)
    consultation_save(
        actor=doctor,
        consultation=consultation,
        version=1,
        fields={"motif": "Toux", "observation": "Toux sèche\nApyrétique", "conclusion": "Virose"},
    )
    client.force_login(doctor)
    page = client.get(f"/consultations/{consultation.pk}/").content.decode()
    assert f'href="/consultations/{consultation.pk}/pdf/"' in page
    assert f'href="/consultations/{consultation.pk}/pdf/?telecharger=1"' in page
    shown = client.get(f"/consultations/{consultation.pk}/pdf/")
    assert shown.status_code == 200 and shown["Content-Type"] == "application/pdf"
    assert shown["Content-Disposition"].startswith("inline;")
    assert shown.content.startswith(b"%PDF-1.4")
    assert (
        f"Consultation du {timezone.localtime(consultation.date):%d/%m/%Y}".encode() in shown.content
    )  # the XMP title
    saved = client.get(f"/consultations/{consultation.pk}/pdf/?telecharger=1")
    assert saved["Content-Disposition"].startswith("attachment;")
    reads = AuditEvent.objects.filter(action="consultation.read", object_id=str(consultation.pk), detail__format="pdf")
    assert reads.count() == 2


def test_text_typed_before_delete_is_saved_not_lost(client: Client, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    """The delete button posts the consultation's form: text typed since the page was loaded keeps the draft (saved)."""
    patient = make_patient()
    consultation = consultation_open(actor=doctor, patient=patient)
    client.force_login(doctor)
    page = client.get(f"/consultations/{consultation.pk}/").content.decode()
    assert f'formaction="/consultations/{consultation.pk}/supprimer/"' in page
    response = client.post(
        f"/consultations/{consultation.pk}/supprimer/", {"version": "1", "motif": "Douleur thoracique"}, follow=True
    )
    assert "Brouillon non supprimé" in response.content.decode()
    consultation.refresh_from_db()
    assert consultation.motif == "Douleur thoracique"
    assert not AuditEvent.objects.filter(action="consultation.delete").exists()
