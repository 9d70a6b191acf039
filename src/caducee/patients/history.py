"""The history of the administrative card (issue 13 §1): one `ContactChange` per change, with the values the
fields had before, and one audit event naming the fields only (the audit trail leaves the practice as syslog and
carries no personal data but the patient's number)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from caducee.core.audit import audit_record
from caducee.patients.models import ContactChange, Patient

AUDIT_ACTIONS = {
    ContactChange.Kind.CONTACT: "patient.contact.update",
    ContactChange.Kind.MEDECIN_TRAITANT: "patient.medecin_traitant.update",
}


def contact_change_record(
    *,
    actor: Any,
    patient: Patient,
    kind: str,
    fields: list[str],
    previous: dict[str, str],
    request: HttpRequest | None = None,
) -> ContactChange:
    """Store the change (fields and previous values) and audit it (fields only); inside the caller's transaction."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    change = ContactChange.objects.create(patient=patient, kind=kind, by=user, fields=fields, previous=previous)
    audit_record(
        actor=actor,
        action=AUDIT_ACTIONS[ContactChange.Kind(kind)],
        object_type="patient",
        object_id=patient.pk,
        patient_id=patient.pk,
        detail={"fields": ",".join(fields)},
        request=request,
    )
    return change
