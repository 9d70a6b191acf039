"""Patient services: creation (with or without the carte Vitale) and audited opening of a record."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_record
from caducee.identity.models import CollectionMethod
from caducee.identity.services import identity_create
from caducee.identity.traits import Traits
from caducee.patients.models import Patient
from caducee.patients.selectors import patient_get


def patient_create(
    *,
    actor: Any,
    traits: Traits,
    contact: dict[str, str] | None = None,
    vitale_nir_od: str = "",
    vitale_rang: str = "",
    request: HttpRequest | None = None,
) -> Patient:
    check_permission(actor, Perm.PATIENT_ADMIN)
    method = CollectionMethod.CV if vitale_nir_od else CollectionMethod.SM
    with transaction.atomic():
        identity = identity_create(actor=actor, traits=traits, collection_method=method, request=request)
        patient = Patient.objects.create(
            identity=identity,
            vitale_nir_od=vitale_nir_od,
            vitale_rang=vitale_rang,
            vitale_read_at=timezone.now() if vitale_nir_od else None,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            **(contact or {}),
        )
        audit_record(
            actor=actor,
            action="patient.create",
            object_type="patient",
            object_id=patient.pk,
            patient_id=patient.pk,
            request=request,
        )
    return patient


def patient_open(*, actor: Any, patient_id: int, request: HttpRequest | None = None) -> Patient:
    """Every read of a patient record is audited (who, when, which record)."""
    check_permission(actor, Perm.PATIENT_ADMIN)
    patient = patient_get(patient_id)
    audit_record(
        actor=actor,
        action="patient.read",
        object_type="patient",
        object_id=patient.pk,
        patient_id=patient.pk,
        request=request,
    )
    return patient
