"""Where a login lands: the `next` target when it is safe, else the role's home page (password, TOTP and PSC)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from caducee.accounts.models import Role


def safe_next(request: HttpRequest, next_url: str) -> str:
    """No open redirect after login: only a path of this site ("/…"), else "". Anything else is refused too:
    Django's `redirect` would read « ٣٤ » or « -1 » as a URL name to reverse (NoReverseMatch, a 500; issue 13 §4)."""
    if not next_url.startswith("/") or next_url.startswith(("//", "/\\")):
        return ""
    if url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
        return next_url
    return ""


def home_url(user: Any) -> str:
    """An administrator lands on the audit trail (no patient record for that role), everyone else on the patients."""
    return reverse("accounts:audit" if getattr(user, "role", "") == Role.ADMINISTRATEUR else "patients:list")
