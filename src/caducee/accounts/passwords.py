"""Password rules of local accounts (PGSSI-S) as Django validators, and the password-change service.

- Everyone (SC.SSI/IE.36, Référentiel d'identification électronique, mot de passe seul facteur): at least 12
  characters (Django's MinimumLengthValidator in settings) drawn from at least 3 of the 4 classes (lowercase,
  uppercase, digits, special characters) — `CharacterClassesValidator`.
- Administrators (SC.SSI/IAM.92): at least 16 characters (the rule asks 15) using all four classes
  (`AdministratorPasswordValidator`), a password at most `ADMIN_PASSWORD_MAX_AGE_DAYS` old (one year: the login
  then leads to the change form, `password_expired`), none of the last ADMIN_PASSWORD_HISTORY passwords nor the one
  in use (`NotReusedPasswordValidator`, `PasswordHistory`; for everyone else: not the one in use),
  blocking after 5 failures (LOGIN_MAX_FAILURES, `accounts.lockout`: the current password asked here counts too).
- SC.SSI/IAM.91: every attempt to change a password is traced (`auth.password_change`, with the identifier and the
  result), and forwarded to the syslog collector like the other `auth.*` events.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.lockout import attempt_fail, attempt_start, attempt_succeed, locked_message
from caducee.accounts.models import PasswordHistory, Role, User
from caducee.core.audit import audit_record
from caducee.core.models import AuditEvent


def character_classes(password: str) -> int:
    """How many of the four classes (lowercase, uppercase, digit, other) the password uses."""
    return sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )


class CharacterClassesValidator:
    """SC.SSI/IE.36 (PGSSI-S, password as the only factor): at least `min_classes` of the four classes."""

    def __init__(self, min_classes: int = 3) -> None:
        self.min_classes = min_classes

    def validate(self, password: str, user: Any = None) -> None:
        if character_classes(password) < self.min_classes:
            raise ValidationError(
                "Le mot de passe doit mélanger au moins %(n)d types de caractères parmi : minuscules, majuscules, "
                "chiffres, caractères spéciaux.",
                code="password_too_simple",
                params={"n": self.min_classes},
            )

    def get_help_text(self) -> str:
        return (
            f"Au moins {self.min_classes} types de caractères parmi : minuscules, majuscules, chiffres, "
            "caractères spéciaux."
        )


class AdministratorPasswordValidator:
    """SC.SSI/IAM.92: an administrator's password has at least `min_length` characters and all four classes."""

    def __init__(self, min_length: int = 16) -> None:
        self.min_length = min_length

    def validate(self, password: str, user: Any = None) -> None:
        if getattr(user, "role", None) != Role.ADMINISTRATEUR:
            return
        if len(password) < self.min_length or character_classes(password) < 4:
            raise ValidationError(
                "Compte administrateur : au moins %(n)d caractères, avec des minuscules, des majuscules, des "
                "chiffres et des caractères spéciaux.",
                code="admin_password_too_weak",
                params={"n": self.min_length},
            )

    def get_help_text(self) -> str:
        return (
            f"Administrateurs : au moins {self.min_length} caractères avec minuscules, majuscules, chiffres et "
            "caractères spéciaux."
        )


class NotReusedPasswordValidator:
    """SC.SSI/IAM.92 « pas de réutilisation de mot de passe »: never the password in use; for an administrator,
    none of the last ADMIN_PASSWORD_HISTORY ones either (`PasswordHistory`, filled by `password_change`)."""

    def validate(self, password: str, user: Any = None) -> None:
        if user is None or not getattr(user, "pk", None):
            return
        if user.has_usable_password() and user.check_password(password):
            raise ValidationError("Le nouveau mot de passe doit être différent de l'actuel.", code="password_reused")
        if getattr(user, "role", None) != Role.ADMINISTRATEUR:
            return
        for _, previous in _history(user)[: settings.ADMIN_PASSWORD_HISTORY]:
            if check_password(password, previous):
                raise ValidationError(
                    "Compte administrateur : ce mot de passe a déjà été utilisé (les %(n)d derniers sont refusés).",
                    code="password_reused",
                    params={"n": settings.ADMIN_PASSWORD_HISTORY},
                )

    def get_help_text(self) -> str:
        return "Différent du mot de passe actuel (et, pour un administrateur, des précédents)."


def _history(user: Any) -> list[tuple[int, str]]:
    """The user's previous password hashes, newest first."""
    rows = PasswordHistory.objects.filter(user_id=user.pk).order_by("-replaced_at", "-id")
    return list(rows.values_list("pk", "password"))


def password_expired(user: Any, *, now: datetime | None = None) -> bool:
    """SC.SSI/IAM.92: an administrator's password expires after ADMIN_PASSWORD_MAX_AGE_DAYS (one year at most)."""
    if getattr(user, "role", None) != Role.ADMINISTRATEUR:
        return False
    changed = user.password_changed_at or user.date_joined
    return bool(changed and changed < (now or timezone.now()) - timedelta(days=settings.ADMIN_PASSWORD_MAX_AGE_DAYS))


class PasswordChangeError(Exception):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(" ".join(messages))
        self.messages = messages


def password_change(
    *, actor: User, old_password: str, new_password: str, confirmation: str, request: HttpRequest | None = None
) -> None:
    """The user changes their own password (SC.SSI/IAM.91: every attempt traced, success or failure).

    A wrong current password counts toward the lockout like a failed login (no guessing through this form): a slot
    is taken before it is checked, and once the limit is reached it is not checked at all (`accounts.lockout`,
    issue 13 §4). The caller keeps the session with `update_session_auth_hash`.
    """
    problems: list[str] = []
    reason = ""
    attempt = attempt_start(user=actor)
    if attempt is None:
        problems, reason = [locked_message()], "locked"
    elif not actor.check_password(old_password):
        locked = attempt_fail(attempt=attempt, request=request)
        problems, reason = (
            ["Mot de passe actuel incorrect."] + ([locked_message()] if locked else []),
            ("bad_current_password"),
        )
    elif not attempt_succeed(attempt=attempt):
        attempt_fail(attempt=attempt, request=request)
        problems, reason = [locked_message()], "locked"
    elif new_password != confirmation:
        problems, reason = ["Les deux saisies du nouveau mot de passe diffèrent."], "confirmation_mismatch"
    else:
        try:
            validate_password(new_password, user=actor)
        except ValidationError as exc:
            problems, reason = list(exc.messages), "policy"
    if problems:
        audit_record(
            actor=actor,
            action="auth.password_change",
            object_type="user",
            object_id=actor.pk,
            outcome=AuditEvent.Outcome.REFUSED,
            detail={"username": actor.username, "reason": reason},
            request=request,
        )
        raise PasswordChangeError(problems)
    with transaction.atomic():
        if actor.role == Role.ADMINISTRATEUR and actor.has_usable_password():
            PasswordHistory.objects.create(user=actor, password=actor.password)
            stale = [pk for pk, _ in _history(actor)[settings.ADMIN_PASSWORD_HISTORY :]]
            PasswordHistory.objects.filter(pk__in=stale).delete()
        actor.set_password(new_password)
        actor.password_changed_at = timezone.now()
        actor.save(update_fields=["password", "password_changed_at"])
    audit_record(
        actor=actor,
        action="auth.password_change",
        object_type="user",
        object_id=actor.pk,
        detail={"username": actor.username},
        request=request,
    )
