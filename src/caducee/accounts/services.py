"""Accounts: authentication with lockout (PGSSI-S), audited."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.models import User
from caducee.core.audit import audit_record
from caducee.core.models import AuditEvent


class LoginError(Exception):
    pass


def user_authenticate(*, request: HttpRequest, username: str, password: str) -> User:
    """Check a password, counting failures; lock the account after LOGIN_MAX_FAILURES (IAM.90 traced)."""
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
    user = authenticate(request, username=username, password=password)
    if user is None:
        if account:
            with transaction.atomic():
                User.objects.filter(pk=account.pk).update(failed_logins=F("failed_logins") + 1)
                account.refresh_from_db(fields=["failed_logins"])
                if account.failed_logins >= settings.LOGIN_MAX_FAILURES:
                    lock = now + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
                    User.objects.filter(pk=account.pk).update(locked_until=lock, failed_logins=0)
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
    User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
    audit_record(actor=user, action="auth.login", object_type="user", object_id=user.pk, request=request)
    return user
