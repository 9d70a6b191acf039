"""Accounts: authentication with lockout (PGSSI-S), audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import make_password
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.lockout import (
    attempt_fail,
    attempt_release,
    attempt_start,
    attempt_succeed,
    locked_message,
    plausible_username,
    username_for_trace,
)
from caducee.accounts.models import Practice, Role, User
from caducee.accounts.selectors import account_is_dormant
from caducee.core.audit import audit_record
from caducee.core.errors import SandboxDataError
from caducee.core.models import AuditEvent


class LoginError(Exception):
    pass


def user_authenticate(*, request: HttpRequest, username: str, password: str) -> User:
    """Check a password, counting attempts atomically; refuse without checking once LOGIN_MAX_FAILURES is reached.

    SC.SSI/IAM.92 (issue 13 §4): a slot is taken before the password is evaluated (`accounts.lockout`), so a burst
    of concurrent attempts gets LOGIN_MAX_FAILURES evaluations at most, and a right password checked while the
    others locked the account is refused too. An identifier that is no account is counted and locked the same way,
    with Django's dummy hash before the limit: the answer, its message and its time do not tell whether the account
    exists. SC.SSI/IAM.90: every attempt is traced with the identifier typed and the result (`auth.login`,
    `auth.lockout`). A user with TOTP only passes the first step here (`auth.password`): the slot is given back
    but the counter is not cleared, so failed codes add up toward the same lockout, and `totp.totp_verify` records
    the login. SC.SSI/IAM.93: a dormant administrator account is disabled on its next attempt (and by
    `accounts_disable_dormant`).
    """
    plausible = plausible_username(username)
    account = User.objects.filter(username=username).first() if plausible else None
    traced = username_for_trace(username)
    attempt = attempt_start(user=account, username=username)
    if attempt is None:
        _login_refused(request, account, traced, "locked")
        raise LoginError(locked_message())
    if account and account.is_active and account_is_dormant(account, now=timezone.now()):
        account_disable(account=account, reason="dormant", request=request)
    if plausible:
        user = authenticate(request, username=username, password=password)
    else:
        make_password(password)  # what ModelBackend does for an unknown identifier: the same time as a check
        user = None
    if user is None:
        locked = attempt_fail(attempt=attempt, request=request)
        _login_refused(request, account, traced, "bad_credentials")
        message = "Identifiant ou mot de passe incorrect."
        raise LoginError(f"{message} {locked_message()}" if locked else message)
    assert isinstance(user, User)
    if user.totp_enabled_at:
        if not attempt_release(attempt=attempt):
            attempt_fail(attempt=attempt, request=request)  # the limit was reached meanwhile: its slot stays
            _login_refused(request, account, traced, "locked")
            raise LoginError(locked_message())
        audit_record(
            actor=None,
            action="auth.password",
            object_type="user",
            object_id=user.pk,
            detail={"username": traced, "second_factor": "totp"},
            request=request,
        )
        return user
    if not attempt_succeed(attempt=attempt):
        attempt_fail(attempt=attempt, request=request)  # the limit was reached meanwhile: its slot stays
        _login_refused(request, account, traced, "locked")
        raise LoginError(locked_message())
    audit_record(
        actor=user,
        action="auth.login",
        object_type="user",
        object_id=user.pk,
        detail={"username": traced},
        request=request,
    )
    return user


def _login_refused(request: HttpRequest, account: User | None, username: str, reason: str) -> None:
    audit_record(
        actor=None,
        action="auth.login",
        object_type="user",
        object_id=account.pk if account else "",
        outcome=AuditEvent.Outcome.REFUSED,
        detail={"username": username, "reason": reason},
        request=request,
    )


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
