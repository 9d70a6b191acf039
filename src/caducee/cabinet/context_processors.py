"""The top bar's context that needs the apps above accounts (accounts.context_processors has the rest)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from caducee.accounts.permissions import Perm, has_permission
from caducee.mss.selectors import unread_count


def messaging(request: HttpRequest) -> dict[str, Any]:
    """The messaging unread counter in the top bar (issue 5 §4): one indexed count, only when rendered."""
    user = getattr(request, "user", None)
    if not has_permission(user, Perm.CLINICAL_READ):
        return {"mss_unread": 0}
    return {"mss_unread": SimpleLazyObject(lambda: unread_count(user))}
