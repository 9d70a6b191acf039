"""Consultations as data: open, save, and the state change of validation (issue 3 §2).

The one-click validation that produces documents and shares them (VSM, DMP, MSSanté) composes several apps: it is
the top floor's use case, `caducee.cabinet.consultations.consultation_validate`, which calls
`consultation_mark_validated` here in its transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_record
from caducee.patients.models import Patient
from caducee.record.models import Consultation


class ConsultationError(Exception):
    """A refused consultation operation; the message is for the doctor, in French."""


def consultation_open(*, actor: Any, patient: Patient, request: HttpRequest | None = None) -> Consultation:
    check_permission(actor, Perm.CLINICAL_WRITE)
    consultation = Consultation.objects.create(patient=patient, author=actor)
    audit_record(
        actor=actor,
        action="consultation.open",
        object_type="consultation",
        object_id=consultation.pk,
        patient_id=patient.pk,
        request=request,
    )
    return consultation


def consultation_save(
    *, actor: Any, consultation: Consultation, version: int, fields: dict[str, str], request: HttpRequest | None = None
) -> Consultation:
    check_permission(actor, Perm.CLINICAL_WRITE)
    if consultation.state == Consultation.State.VALIDATED:
        raise ConsultationError("Consultation déjà validée : elle n'est plus modifiable.")
    allowed = {k: v.strip() for k, v in fields.items() if k in ("motif", "observation", "examination", "conclusion")}
    updated = Consultation.objects.filter(pk=consultation.pk, version=version).update(
        version=F("version") + 1, **allowed
    )
    if not updated:
        raise ConsultationError("La consultation a été modifiée ailleurs : rechargez la page.")
    for k, v in allowed.items():
        setattr(consultation, k, v)
    consultation.version = version + 1
    audit_record(
        actor=actor,
        action="consultation.save",
        object_type="consultation",
        object_id=consultation.pk,
        patient_id=consultation.patient_id,
        request=request,
    )
    return consultation


def consultation_mark_validated(*, actor: Any, consultation: Consultation, request: HttpRequest | None) -> None:
    """The state change itself; the caller produces the documents in the same transaction."""
    with transaction.atomic():
        updated = Consultation.objects.filter(pk=consultation.pk, state=Consultation.State.OPEN).update(
            state=Consultation.State.VALIDATED, validated_at=timezone.now(), version=F("version") + 1
        )
        if not updated:
            raise ConsultationError("Consultation déjà validée.")
        audit_record(
            actor=actor,
            action="consultation.validate",
            object_type="consultation",
            object_id=consultation.pk,
            patient_id=consultation.patient_id,
            request=request,
        )
