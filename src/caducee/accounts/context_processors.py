from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from caducee.accounts.permissions import Perm, has_permission


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    clinical = has_permission(user, Perm.CLINICAL_READ)
    return {
        "SANDBOX": settings.SANDBOX,
        "IDLE_TIMEOUT_MINUTES": settings.IDLE_TIMEOUT_MINUTES,
        "perms_patient": has_permission(user, Perm.PATIENT_ADMIN),
        "perms_audit": has_permission(user, Perm.AUDIT_READ),
        "perms_clinical": clinical,
    }


def replacement(request: HttpRequest) -> dict[str, Any]:
    """The replacement banner of the top bar (« Remplacement du Dr X ») and the « Remplacement » menu entry.

    One indexed query per page, for professionals who can replace or be replaced only."""
    from caducee.accounts.replacement import REMPLACANT_ROLES, open_replacement_for

    user = getattr(request, "user", None)
    professional = has_permission(user, Perm.CLINICAL_WRITE) and getattr(user, "role", "") in REMPLACANT_ROLES
    return {
        # The replacement the user works in as remplaçant (None outside one).
        "replacement_current": open_replacement_for(user) if professional else None,
        # The page: a médecin (open/close his replacements), a remplaçant (his), an administrator (close any).
        "perms_replacement": professional or has_permission(user, Perm.PRACTICE_MANAGE),
    }
