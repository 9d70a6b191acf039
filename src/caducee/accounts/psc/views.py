"""Pro Santé Connect pages: start, callback, account linking, work situation, back from PSC's logout."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from caducee.accounts.landing import home_url, safe_next
from caducee.accounts.psc import services
from caducee.accounts.psc.selectors import pending_situations
from caducee.accounts.services import LoginError


def _done(request: HttpRequest, outcome: services.CallbackOutcome) -> HttpResponse:
    if outcome.kind == "link":
        return redirect("psc:link")
    if outcome.kind == "situation":
        return redirect("psc:situation")
    return redirect(safe_next(request, outcome.next_url) or home_url(request.user))


def _failed(request: HttpRequest, error: str) -> HttpResponse:
    """A refused PSC step: back to the login page with the reason (PSC again, or the password)."""
    messages.error(request, error)
    return redirect("accounts:login")


def start_view(request: HttpRequest) -> HttpResponse:
    """GET /connexion/psc/ → the PSC wallet (a link, not a form: CSP form-action stays 'self').

    PSC down or not configured: back to the login page with the reason, where the password still works."""
    try:
        url = services.psc_login_start(request=request, next_url=request.GET.get("next", ""))
    except services.PscLoginError as exc:
        messages.error(request, str(exc))
        return redirect("accounts:login")
    return redirect(url)


def callback_view(request: HttpRequest) -> HttpResponse:
    params = {key: request.GET.get(key, "") for key in ("code", "state", "error", "error_description")}
    try:
        outcome = services.psc_login_callback(request=request, params=params)
    except services.PscLoginError as exc:
        return _failed(request, str(exc))
    return _done(request, outcome)


@require_http_methods(["GET", "POST"])
def link_view(request: HttpRequest) -> HttpResponse:
    """SC.PSC.02: first PSC login of an existing local account — its password, once."""
    carried = request.session.get(services.LINK_KEY)
    if not carried:
        return redirect("accounts:login")
    identity = carried["identity"]
    context = {"identity": identity, "error": "", "username": ""}
    if request.method == "POST":
        context["username"] = request.POST.get("username", "").strip()
        try:
            outcome = services.psc_link_account(
                request=request, username=context["username"], password=request.POST.get("password", "")
            )
        except LoginError as exc:
            context["error"] = str(exc)
            return render(request, "psc/link.html", context, status=401)
        except services.PscLoginError as exc:
            return _failed(request, str(exc))
        messages.success(request, "Votre compte est désormais rapproché de Pro Santé Connect.")
        return _done(request, outcome)
    return render(request, "psc/link.html", context)


@require_http_methods(["GET", "POST"])
def situation_view(request: HttpRequest) -> HttpResponse:
    situations = pending_situations(request)
    if not situations:
        return redirect("accounts:login")
    if request.method == "POST":
        try:
            outcome = services.psc_choose_situation(request=request, key=request.POST.get("situation", ""))
        except services.PscLoginError as exc:
            return render(request, "psc/situation.html", {"situations": situations, "error": str(exc)}, status=400)
        return _done(request, outcome)
    return render(request, "psc/situation.html", {"situations": situations, "error": ""})


def logged_out_view(request: HttpRequest) -> HttpResponse:
    """Where PSC sends the browser back after its own logout."""
    messages.info(request, "Vous êtes déconnecté de Caducée et de Pro Santé Connect.")
    return redirect("accounts:login")
