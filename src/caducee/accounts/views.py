from __future__ import annotations

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from caducee.accounts.landing import safe_next
from caducee.accounts.permissions import Perm, check_permission
from caducee.accounts.psc.services import psc_logout
from caducee.accounts.security_views import login_code_begin, login_landing
from caducee.accounts.selectors import audit_events
from caducee.accounts.services import LoginError, user_authenticate
from caducee.core.audit import audit_record, export_syslog
from caducee.core.inputs import parse_id


def login_view(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next") or "")
    context = {"next": next_url, "username": "", "error": ""}
    if request.method == "POST":
        username = request.POST.get("username", "").strip()
        context["username"] = username
        try:
            user = user_authenticate(request=request, username=username, password=request.POST.get("password", ""))
        except LoginError as exc:
            context["error"] = str(exc)
            return render(request, "accounts/login.html", context, status=401)
        if user.totp_enabled_at:
            # Second step (issue 6): no session is opened before the code; the pending user lives 5 minutes.
            login_code_begin(request, user=user, next_url=next_url)
            return redirect("security:login_code")
        login(request, user)
        return redirect(login_landing(request, user, next_url))
    return render(request, "accounts/login.html", context)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit_record(
            actor=request.user,
            action="auth.logout",
            object_type="user",
            object_id=request.user.pk,
            request=request,
        )
    # A Pro Santé Connect session ends at PSC too (RP-initiated logout with id_token_hint, SC.SSI/IE.38).
    psc_end_url = psc_logout(request=request)
    logout(request)
    if psc_end_url:
        # A page that moves on by itself: CSP form-action 'self' forbids redirecting this POST to PSC's origin.
        return render(request, "psc/logout.html", {"end_session_url": psc_end_url})
    return redirect("accounts:login")


PATIENT_FILTER_ERROR = "N° de dossier patient invalide : des chiffres (0 à 9) uniquement."


def _patient_filter(request: HttpRequest) -> tuple[str, int | None, bool]:
    """The « Dossier patient n° » filter as typed, the id it names, and whether it is valid (issue 13 §4: "٣٤" or a
    25-digit number named no patient and made a 500)."""
    typed = request.GET.get("patient", "").strip()
    patient_id = parse_id(typed) if typed else None
    return typed, patient_id, not typed or patient_id is not None


def audit_view(request: HttpRequest) -> HttpResponse:
    check_permission(request.user, Perm.AUDIT_READ)
    (patient, patient_id, valid), action = _patient_filter(request), request.GET.get("action", "")
    events = audit_events(patient=str(patient_id or ""), action=action)[:200] if valid else []
    return render(
        request,
        "accounts/audit.html",
        {
            "events": events,
            "patient": patient,
            "patient_id": patient_id,
            "action": action,
            "error": "" if valid else PATIENT_FILTER_ERROR,
        },
        status=200 if valid else 400,
    )


def audit_export_view(request: HttpRequest) -> HttpResponseBase:
    check_permission(request.user, Perm.AUDIT_READ)
    _, patient_id, valid = _patient_filter(request)
    if not valid:
        return HttpResponse(PATIENT_FILTER_ERROR, status=400, content_type="text/plain; charset=utf-8")
    events = audit_events(patient=str(patient_id or ""), action=request.GET.get("action", ""))
    audit_record(actor=request.user, action="audit.export", request=request)
    response = StreamingHttpResponse(export_syslog(events.iterator()), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="caducee-audit.log"'
    return response
