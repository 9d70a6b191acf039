"""Role-based access, checked in services (check_*), not only in views.

A secretary manages identities and administrative data but never sees clinical content.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied

from caducee.accounts.models import Role


class Perm(StrEnum):
    PATIENT_ADMIN = "patient.admin"  # create patients, edit contact/Vitale/administrative data
    IDENTITY_MANAGE = "identity.manage"  # edit traits, call INSi, validate a high-trust document
    IDENTITY_VIGILANCE = "identity.vigilance"  # identity-vigilance work list
    CLINICAL_READ = "clinical.read"
    CLINICAL_WRITE = "clinical.write"
    AUDIT_READ = "audit.read"
    PRACTICE_MANAGE = "practice.manage"


_FRONT_DESK = {Perm.PATIENT_ADMIN, Perm.IDENTITY_MANAGE, Perm.IDENTITY_VIGILANCE}

ROLE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    Role.MEDECIN: frozenset(_FRONT_DESK | {Perm.CLINICAL_READ, Perm.CLINICAL_WRITE}),
    Role.REMPLACANT: frozenset(_FRONT_DESK | {Perm.CLINICAL_READ, Perm.CLINICAL_WRITE}),
    Role.PARAMEDICAL: frozenset(_FRONT_DESK | {Perm.CLINICAL_READ}),
    Role.ASSISTANT: frozenset(_FRONT_DESK | {Perm.CLINICAL_READ}),
    Role.SECRETAIRE: frozenset(_FRONT_DESK),
    Role.ADMINISTRATEUR: frozenset({Perm.AUDIT_READ, Perm.PRACTICE_MANAGE}),
}


def has_permission(user: Any, perm: Perm) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return perm in ROLE_PERMISSIONS.get(user.role, frozenset())


def check_permission(user: Any, perm: Perm) -> None:
    if not has_permission(user, perm):
        raise PermissionDenied(f"Action non autorisée pour ce profil ({perm}).")
