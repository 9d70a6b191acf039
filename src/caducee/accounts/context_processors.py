from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

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
        # The messaging unread counter in the top bar (issue 5 §4): one indexed count, only when rendered.
        "mss_unread": SimpleLazyObject(lambda: _unread(user)) if clinical else 0,
    }


def _unread(user: Any) -> int:
    from caducee.mss.selectors import unread_count

    return unread_count(user)
