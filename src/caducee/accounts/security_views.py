"""« Sécurité du compte »: password change, TOTP enrolment and removal; the login's second step (code).

Views stay thin: the work and the traces are in `accounts.passwords` and `accounts.totp`.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth.password_validation import password_validators_help_texts
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from caducee.accounts.landing import home_url
from caducee.accounts.models import User
from caducee.accounts.passwords import PasswordChangeError, password_change, password_expired
from caducee.accounts.permissions import Perm, has_permission
from caducee.accounts.totp import (
    TotpError,
    TotpLocked,
    grouped,
    provisioning_uri,
    qr_data_uri,
    totp_disable,
    totp_disable_own,
    totp_enrol_confirm,
    totp_enrol_start,
    totp_renewal_due,
    totp_required,
    totp_verify,
)

# Session keys. The pending login holds no secret: the user's id, when the password was accepted, where to go.
PENDING_LOGIN = "caducee_login_pending"
# Set at a password login, enforced by accounts.middleware.AccountSecurityMiddleware until done.
ENROL_REQUIRED = "caducee_totp_enrol_required"
PASSWORD_CHANGE_REQUIRED = "caducee_password_change_required"  # noqa: S105 — a session key, not a password


def login_code_begin(request: HttpRequest, *, user: User, next_url: str) -> None:
    """After a good password of a user with TOTP: remember who is half logged in (no login() yet)."""
    request.session[PENDING_LOGIN] = {
        "user": user.pk,
        "at": time.time(),
        "next": next_url,
        "backend": getattr(user, "backend", "django.contrib.auth.backends.ModelBackend"),
    }


def _pending_user(request: HttpRequest) -> tuple[User, dict[str, Any]] | None:
    pending = request.session.get(PENDING_LOGIN)
    if not isinstance(pending, dict):
        return None
    if time.time() - float(pending.get("at", 0)) > settings.TOTP_PENDING_SECONDS:
        request.session.pop(PENDING_LOGIN, None)
        return None
    user_id = pending.get("user")
    if not isinstance(user_id, int):
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.totp_enabled_at:
        request.session.pop(PENDING_LOGIN, None)
        return None
    return user, pending


def login_landing(request: HttpRequest, user: User, next_url: str) -> str:
    """Where a fresh password login goes: TOTP enrolment for an administrator without it, the password form for an
    administrator's expired password (SC.SSI/IAM.92), else `next` or the role's home page."""
    if totp_required(user) and not user.totp_enabled_at:
        request.session[ENROL_REQUIRED] = True
        return reverse("security:totp_enrol")
    if password_expired(user):
        request.session[PASSWORD_CHANGE_REQUIRED] = True
        return reverse("security:account")
    return next_url or home_url(user)


def login_code_view(request: HttpRequest) -> HttpResponse:
    """`/connexion/code/`: the six-digit code of the authenticator app, within 5 minutes of the password."""
    found = _pending_user(request)
    if found is None:
        messages.error(request, "Session de connexion expirée : saisissez à nouveau votre mot de passe.")
        return redirect("accounts:login")
    user, pending = found
    error = ""
    if request.method == "POST":
        try:
            totp_verify(user=user, code=request.POST.get("code", ""), request=request)
        except TotpLocked as exc:
            request.session.pop(PENDING_LOGIN, None)
            messages.error(request, str(exc))
            return redirect("accounts:login")
        except TotpError as exc:
            error = str(exc)
        else:
            request.session.pop(PENDING_LOGIN, None)
            login(request, user, backend=pending["backend"])
            if totp_renewal_due(user):
                # SC.SSI/IE.34: the secret has reached its age; a new one is enrolled before anything else.
                totp_disable(actor=None, user=user, request=request, reason="renewal")
                request.session[ENROL_REQUIRED] = True
                messages.warning(
                    request, "Votre double authentification doit être renouvelée : enregistrez-la à nouveau."
                )
                return redirect("security:totp_enrol")
            return redirect(login_landing(request, user, pending.get("next", "")))
    return render(request, "accounts/login_code.html", {"error": error}, status=401 if error else 200)


def security_view(request: HttpRequest) -> HttpResponse:
    """« Sécurité du compte »: the password form and the state of the second factor."""
    user = request.user
    assert isinstance(user, User)
    if request.method == "POST":
        try:
            password_change(
                actor=user,
                old_password=request.POST.get("old_password", ""),
                new_password=request.POST.get("new_password", ""),
                confirmation=request.POST.get("confirmation", ""),
                request=request,
            )
        except PasswordChangeError as exc:
            for problem in exc.messages:
                messages.error(request, problem)
        else:
            update_session_auth_hash(request, user)
            request.session.pop(PASSWORD_CHANGE_REQUIRED, None)
            messages.success(request, "Mot de passe changé.")
        return redirect("security:account")
    context: dict[str, Any] = {
        "password_required": bool(request.session.get(PASSWORD_CHANGE_REQUIRED)),
        "totp_required": totp_required(user),
        "help_texts": password_validators_help_texts(),
        "manage_users": has_permission(user, Perm.PRACTICE_MANAGE),
    }
    if context["manage_users"]:
        context["totp_users"] = User.objects.filter(totp_enabled_at__isnull=False).exclude(pk=user.pk)
    return render(request, "accounts/security.html", context)


def totp_enrol_view(request: HttpRequest) -> HttpResponse:
    """Enable TOTP: the QR code and the key to type by hand, then a code to prove the app has it."""
    user = request.user
    assert isinstance(user, User)
    if user.totp_enabled_at:
        return redirect("security:account")
    error = ""
    if request.method == "POST":
        try:
            totp_enrol_confirm(actor=user, code=request.POST.get("code", ""), request=request)
        except TotpError as exc:
            error = str(exc)
        else:
            request.session.pop(ENROL_REQUIRED, None)
            messages.success(request, "Double authentification activée.")
            return redirect("security:account")
    secret = totp_enrol_start(actor=user)
    uri = provisioning_uri(secret, account=user.username, issuer=settings.TOTP_ISSUER)
    return render(
        request,
        "accounts/totp_enrol.html",
        {
            "qr": qr_data_uri(uri),
            "secret": grouped(secret),
            "error": error,
            "required": bool(request.session.get(ENROL_REQUIRED)),
        },
        status=400 if error else 200,
    )


@require_POST
def totp_disable_view(request: HttpRequest) -> HttpResponse:
    """SC.SSI/IE.35: the user switches the second factor off (lost or stolen phone), confirming with the password
    (counted toward the lockout, `totp_disable_own`)."""
    user = request.user
    assert isinstance(user, User)
    try:
        totp_disable_own(actor=user, password=request.POST.get("password", ""), request=request)
    except TotpError as exc:
        messages.error(request, str(exc))
        return redirect("security:account")
    if totp_required(user):
        request.session[ENROL_REQUIRED] = True
        messages.warning(request, "Compte administrateur : enregistrez un nouveau téléphone pour continuer.")
        return redirect("security:totp_enrol")
    messages.success(request, "Double authentification désactivée.")
    return redirect("security:account")


@require_POST
def totp_disable_for_view(request: HttpRequest, user_id: int) -> HttpResponse:
    """SC.SSI/IE.35: an administrator switches off the second factor of a user who lost their phone."""
    target = get_object_or_404(User, pk=user_id)
    actor = request.user
    assert isinstance(actor, User)
    totp_disable(actor=actor, user=target, request=request)  # checks Perm.PRACTICE_MANAGE
    messages.success(request, f"Double authentification désactivée pour {target.display_name()}.")
    return redirect("security:account")
