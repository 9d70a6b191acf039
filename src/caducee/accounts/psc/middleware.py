from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from caducee.accounts.psc.services import SESSION_KEY, psc_keepalive


class PscSessionMiddleware:
    """A user logged in through Pro Santé Connect stays logged in only while the PSC session lives.

    On each request the PSC session is refreshed every few minutes (keeps PSC's 30-minute idle limit at bay while
    the user works, DRIMbox DB/CO.65); when PSC refuses (4 h reached, session ended at PSC) the Caducée session ends
    too. Password sessions are untouched (no query for them).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and request.session.get(SESSION_KEY) and not psc_keepalive(request=request):
            logout(request)
            messages.warning(request, "Votre session Pro Santé Connect a pris fin : reconnectez-vous avec votre e-CPS.")
            return redirect("accounts:login")
        return self.get_response(request)
