from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

# Paths reachable without a session: the login page itself, static files, the health probe.
_PUBLIC_PREFIXES = ("/connexion/", "/static/", "/sante/")


class LoginRequiredMiddleware:
    """Every page needs a session, so a forgotten decorator cannot expose a patient record."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated and not request.path.startswith(_PUBLIC_PREFIXES):
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return self.get_response(request)


# Reachable while the account must first be secured: the security pages themselves, logout, static files.
_SECURITY_PREFIXES = ("/compte/securite/", "/deconnexion/", "/connexion/", "/static/", "/sante/")


class AccountSecurityMiddleware:
    """After a password login, what the account must do before any other page (set by `login_landing`):

    - an administrator without TOTP enrols first (issue 6: second factor required for administrators);
    - an administrator whose password expired changes it first (SC.SSI/IAM.92, one year at most).
    Every other page redirects there until done. A PSC (e-CPS) login is already two-factor and sets neither.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from caducee.accounts.passwords import password_expired
        from caducee.accounts.security_views import ENROL_REQUIRED, PASSWORD_CHANGE_REQUIRED

        user = request.user
        if user.is_authenticated and not request.path.startswith(_SECURITY_PREFIXES):
            session = request.session
            if session.get(ENROL_REQUIRED):
                if not getattr(user, "totp_enabled_at", None):
                    return redirect("security:totp_enrol")
                session.pop(ENROL_REQUIRED)
            if session.get(PASSWORD_CHANGE_REQUIRED):
                if password_expired(user):
                    return redirect("security:account")
                session.pop(PASSWORD_CHANGE_REQUIRED)
        return self.get_response(request)
