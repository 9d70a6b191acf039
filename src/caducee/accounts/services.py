"""Accounts: authentication with lockout (PGSSI-S), audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.models import Practice, Role, User
from caducee.accounts.selectors import account_is_dormant
from caducee.accounts.totp import count_failure
from caducee.core.audit import audit_record
from caducee.core.errors import SandboxDataError
from caducee.core.models import AuditEvent


class LoginError(Exception):
    pass


def user_authenticate(*, request: HttpRequest, username: str, password: str) -> User:
    """Check a password, counting failures; lock the account after LOGIN_MAX_FAILURES (IAM.90 traced).

    SC.SSI/IAM.90: every attempt is traced with the identifier typed and the result (`auth.login`, `auth.lockout`).
    A user with TOTP only passes the first step here (`auth.password`): the failure counter is not cleared, so
    failed codes add up toward the same lockout, and `totp.totp_verify` records the login. SC.SSI/IAM.93: a
    dormant administrator account is disabled on its next attempt (and by `accounts_disable_dormant`).
    """
    account = User.objects.filter(username=username).first()
    now = timezone.now()
    if account and account.locked_until and account.locked_until > now:
        audit_record(
            actor=None,
            action="auth.login",
            object_type="user",
            object_id=account.pk,
            outcome=AuditEvent.Outcome.REFUSED,
            detail={"username": username, "reason": "locked"},
            request=request,
        )
        raise LoginError("Compte verrouillé après plusieurs échecs. Réessayez plus tard.")
    if account and account.is_active and account_is_dormant(account, now=now):
        account_disable(account=account, reason="dormant", request=request)
    user = authenticate(request, username=username, password=password)
    if user is None:
        if account:
            count_failure(account, request=request)
        audit_record(
            actor=None,
            action="auth.login",
            object_type="user",
            object_id=account.pk if account else "",
            outcome=AuditEvent.Outcome.REFUSED,
            detail={"username": username, "reason": "bad_credentials"},
            request=request,
        )
        raise LoginError("Identifiant ou mot de passe incorrect.")
    assert isinstance(user, User)
    if user.totp_enabled_at:
        audit_record(
            actor=None,
            action="auth.password",
            object_type="user",
            object_id=user.pk,
            detail={"username": username, "second_factor": "totp"},
            request=request,
        )
        return user
    User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
    audit_record(
        actor=user,
        action="auth.login",
        object_type="user",
        object_id=user.pk,
        detail={"username": username},
        request=request,
    )
    return user


def account_disable(*, account: User, reason: str, actor: Any = None, request: HttpRequest | None = None) -> None:
    User.objects.filter(pk=account.pk).update(is_active=False)
    account.is_active = False
    audit_record(
        actor=actor,
        action="auth.account_disable",
        object_type="user",
        object_id=account.pk,
        detail={"username": account.username, "reason": reason},
        request=request,
    )


def accounts_disable_dormant(*, now: datetime | None = None) -> list[str]:
    """SC.SSI/IAM.93: disables every administrator account unused for ADMIN_DORMANT_DAYS; their usernames."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ADMIN_DORMANT_DAYS)
    dormant = User.objects.filter(role=Role.ADMINISTRATEUR, is_active=True).filter(
        Q(last_login__lt=cutoff) | Q(last_login__isnull=True, date_joined__lt=cutoff)
    )
    names = []
    for account in dormant.order_by("username"):
        account_disable(account=account, reason="dormant")
        names.append(account.username)
    return names


def practice_check_national_service() -> None:
    """Before any call to a national service: a practice that ran on the sandbox holds test data.

    On the sandbox the practice is flagged (once, for good); on real settings a flagged practice is refused,
    so nothing it holds can ever be sent to a real national service.
    """
    if settings.SANDBOX:
        Practice.objects.filter(is_sandbox=False).update(is_sandbox=True)
        return
    if Practice.objects.filter(is_sandbox=True).exists():
        raise SandboxDataError(
            "Cette structure a fonctionné en bac à sable : ses données de test ne peuvent pas être envoyées à un "
            "service national réel. Utilisez une base de production neuve."
        )
