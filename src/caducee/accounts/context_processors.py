from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from caducee.accounts.permissions import Perm, has_permission


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "SANDBOX": settings.SANDBOX,
        "IDLE_TIMEOUT_MINUTES": settings.IDLE_TIMEOUT_MINUTES,
        "perms_patient": has_permission(user, Perm.PATIENT_ADMIN),
        "perms_audit": has_permission(user, Perm.AUDIT_READ),
        "perms_clinical": has_permission(user, Perm.CLINICAL_READ),
    }
