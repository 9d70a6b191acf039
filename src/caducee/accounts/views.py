from __future__ import annotations

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from caducee.accounts.landing import safe_next
from caducee.accounts.permissions import Perm, check_permission
from caducee.accounts.psc.services import psc_logout
from caducee.accounts.security_views import login_code_begin, login_landing
from caducee.accounts.selectors import audit_events
from caducee.accounts.services import LoginError, user_authenticate
from caducee.core.audit import audit_record, export_syslog


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


def audit_view(request: HttpRequest) -> HttpResponse:
    check_permission(request.user, Perm.AUDIT_READ)
    patient, action = request.GET.get("patient", ""), request.GET.get("action", "")
    events = audit_events(patient=patient, action=action)[:200]
    return render(request, "accounts/audit.html", {"events": events, "patient": patient, "action": action})


def audit_export_view(request: HttpRequest) -> StreamingHttpResponse:
    check_permission(request.user, Perm.AUDIT_READ)
    events = audit_events(patient=request.GET.get("patient", ""), action=request.GET.get("action", ""))
    audit_record(actor=request.user, action="audit.export", request=request)
    response = StreamingHttpResponse(export_syslog(events.iterator()), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="caducee-audit.log"'
    return response
