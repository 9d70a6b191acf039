"""TOTP second factor of local accounts (RFC 6238 over RFC 4226 HOTP), enrolment and verification services.

Issue 6: required for administrators (password logins), offered to every user. SHA-1, 6 digits, 30-second steps,
one step of clock drift accepted either way; a time step is accepted once (`User.totp_last_step`), so a code
seen over a shoulder cannot be replayed. The secret is sealed at rest (`core.crypto`) and shown only while
enrolling. Failed codes count toward the password lockout (SC.SSI/IE.36, IAM.92: blocking after 5 failures).
SC.SSI/IE.35: the user, or an administrator, can switch the device off when it is lost or stolen.
The HOTP/TOTP arithmetic, the constant-time comparison and the otpauth:// URI are `cryptography`'s (PyCA's
`hazmat.primitives.twofactor`, already a dependency); this module keeps the policy: the drift window, the
replay guard, the sealed secret, the lockout and the traces.
"""

from __future__ import annotations

import base64
import secrets
import time
from datetime import timedelta
from typing import Any

import segno
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.hotp import HOTP
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.models import Role, User
from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_record
from caducee.core.crypto import SealError, seal, unseal
from caducee.core.models import AuditEvent

STEP_SECONDS = 30
DIGITS = 6
# HMAC-SHA-1: RFC 6238's default and the one every authenticator app reads (SHA-1 collisions do not weaken HMAC).
DIGEST = "sha1"
DRIFT_STEPS = 1  # RFC 6238 §5.2: accept the previous and next step for clock drift
SECRET_BYTES = 20  # RFC 4226 §4 R6: 160 bits, the length of an HMAC-SHA-1 key


class TotpError(Exception):
    """A code refused or an enrolment that cannot proceed; the message is French, for the user."""


# --- RFC 4226 / RFC 6238 -------------------------------------------------------------------------------------


_DIGESTS: dict[str, type[hashes.SHA1 | hashes.SHA256 | hashes.SHA512]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha512": hashes.SHA512,
}


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, digest: str = DIGEST) -> str:
    """RFC 4226 §5.3: HMAC of the 8-byte counter, dynamic truncation, modulo 10^digits."""
    return HOTP(key, digits, _DIGESTS[digest]()).generate(counter).decode("ascii")


def clock() -> float:
    """The current Unix time (one place for tests to set the clock)."""
    return time.time()


def time_step(unix_time: float, *, step: int = STEP_SECONDS) -> int:
    """RFC 6238 §4.2: T = floor((Current Unix time - T0) / X), T0 = 0."""
    return int(unix_time // step)


def totp(key: bytes, unix_time: float, *, digits: int = DIGITS, digest: str = DIGEST, step: int = STEP_SECONDS) -> str:
    """RFC 6238 §4: the HOTP of the time step."""
    return TOTP(key, digits, _DIGESTS[digest](), step).generate(unix_time).decode("ascii")


def new_secret() -> str:
    """A random 160-bit secret, base32 without padding (what authenticator apps read)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def secret_bytes(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def matching_step(secret: str, code: str, *, unix_time: float | None = None) -> int | None:
    """The time step (now ± DRIFT_STEPS) whose code is `code`, compared in constant time; None if none."""
    code = "".join(code.split())
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    generator = HOTP(secret_bytes(secret), DIGITS, _DIGESTS[DIGEST]())
    now = time_step(clock() if unix_time is None else unix_time)
    found = None
    for candidate in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):  # every step checked: no early exit
        try:
            generator.verify(code.encode("ascii"), candidate)
        except InvalidToken:
            continue
        found = candidate
    return found


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The otpauth:// URI of the Key Uri Format read by authenticator apps (label `issuer:account`, the secret,
    SHA1, 6 digits, 30-second period)."""
    generator = TOTP(secret_bytes(secret), DIGITS, _DIGESTS[DIGEST](), STEP_SECONDS)
    return generator.get_provisioning_uri(account, issuer)


def qr_data_uri(uri: str) -> str:
    """The QR code of `uri` as an SVG data: URI (CSP allows img data:, no inline script or style)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def grouped(secret: str) -> str:
    """The secret in groups of four characters, for typing it by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


# --- services ------------------------------------------------------------------------------------------------


def totp_required(user: Any) -> bool:
    """Issue 6: the second factor is required for administrators (their password logins)."""
    return getattr(user, "role", None) == Role.ADMINISTRATEUR


def totp_enrol_start(*, actor: User) -> str:
    """The pending secret of `actor` (created on first call, kept until confirmed so a reload shows the same QR)."""
    if actor.totp_enabled_at:
        raise TotpError("La double authentification est déjà activée.")
    if actor.totp_secret:
        try:
            return unseal(actor.totp_secret)
        except SealError:
            pass  # SECRET_KEY rotated: start again
    secret = new_secret()
    actor.totp_secret = seal(secret)
    actor.save(update_fields=["totp_secret"])
    return secret


def totp_enrol_confirm(*, actor: User, code: str, request: HttpRequest | None = None) -> None:
    """Switches the second factor on once the user typed a valid code of the pending secret (audited)."""
    if actor.totp_enabled_at:
        raise TotpError("La double authentification est déjà activée.")
    try:
        secret = unseal(actor.totp_secret)
    except SealError:
        secret = ""
    step = matching_step(secret, code) if secret else None
    if step is None:
        audit_record(
            actor=actor,
            action="auth.totp_enable",
            object_type="user",
            object_id=actor.pk,
            outcome=AuditEvent.Outcome.REFUSED,
            detail={"username": actor.username, "reason": "bad_code"},
            request=request,
        )
        raise TotpError("Code incorrect. Vérifiez l'heure de votre téléphone et saisissez le code affiché.")
    now = timezone.now()
    User.objects.filter(pk=actor.pk).update(totp_enabled_at=now, totp_last_step=step)
    actor.totp_enabled_at, actor.totp_last_step = now, step
    audit_record(
        actor=actor,
        action="auth.totp_enable",
        object_type="user",
        object_id=actor.pk,
        detail={"username": actor.username},
        request=request,
    )


def totp_renewal_due(user: Any, *, now: Any = None) -> bool:
    """SC.SSI/IE.34: the secret is renewed every TOTP_RENEWAL_DAYS (0: never), a setting of the practice."""
    days = settings.TOTP_RENEWAL_DAYS
    enabled = getattr(user, "totp_enabled_at", None)
    return bool(days and enabled and enabled < (now or timezone.now()) - timedelta(days=days))


def totp_disable(*, actor: User | None, user: User, request: HttpRequest | None = None, reason: str = "") -> None:
    """SC.SSI/IE.35: the user switches their device off (lost, stolen), or an administrator does it for them.

    `actor` None: the operator on the server (`caducee totp-disable`), for an administrator without another one.
    """
    if actor is not None and actor.pk != user.pk:
        check_permission(actor, Perm.PRACTICE_MANAGE)
    User.objects.filter(pk=user.pk).update(totp_secret="", totp_enabled_at=None, totp_last_step=0)
    user.totp_secret, user.totp_enabled_at, user.totp_last_step = "", None, 0
    audit_record(
        actor=actor,
        action="auth.totp_disable",
        object_type="user",
        object_id=user.pk,
        detail={"username": user.username, **({"reason": reason} if reason else {})},
        request=request,
    )


def totp_verify(*, user: User, code: str, request: HttpRequest | None = None) -> None:
    """The second login step: a valid, not yet used code; a wrong one counts toward the lockout.

    Raises TotpError (the account locked, the code wrong or replayed). The accepted step is written with a
    conditional UPDATE, so two requests racing with the same code cannot both pass.
    """
    now = timezone.now()
    user.refresh_from_db(fields=["locked_until", "failed_logins", "totp_secret", "totp_last_step", "is_active"])
    if user.locked_until and user.locked_until > now:
        _refused(user, "locked", request)
        raise TotpError("Compte verrouillé après plusieurs échecs. Réessayez plus tard.")
    try:
        secret = unseal(user.totp_secret)
    except SealError:
        secret = ""
    step = matching_step(secret, code) if secret and user.is_active else None
    accepted = bool(
        step is not None
        and User.objects.filter(pk=user.pk, totp_last_step__lt=step).update(
            totp_last_step=step, failed_logins=0, locked_until=None
        )
    )
    if not accepted:
        locked = count_failure(user, request=request)
        _refused(user, "bad_code" if step is None else "replayed_code", request)
        if locked:
            raise TotpError("Compte verrouillé après plusieurs échecs. Réessayez plus tard.")
        raise TotpError("Code incorrect.")
    # IAM.90: the login succeeds here, with its second factor.
    audit_record(
        actor=user,
        action="auth.login",
        object_type="user",
        object_id=user.pk,
        detail={"username": user.username, "second_factor": "totp"},
        request=request,
    )


def count_failure(user: User, *, request: HttpRequest | None = None) -> bool:
    """One more failed attempt (password or code) for `user`; locks the account at LOGIN_MAX_FAILURES.

    True when this failure locked the account (then traced as `auth.lockout`, IAM.90).
    """
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(failed_logins=F("failed_logins") + 1)
        user.refresh_from_db(fields=["failed_logins"])
        if user.failed_logins < settings.LOGIN_MAX_FAILURES:
            return False
        lock = timezone.now() + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
        User.objects.filter(pk=user.pk).update(locked_until=lock, failed_logins=0)
    audit_record(
        actor=None,
        action="auth.lockout",
        object_type="user",
        object_id=user.pk,
        outcome=AuditEvent.Outcome.REFUSED,
        detail={"username": user.username, "minutes": settings.LOGIN_LOCKOUT_MINUTES},
        request=request,
    )
    return True


def _refused(user: User, reason: str, request: HttpRequest | None) -> None:
    # IAM.90: the identifier and the result, never the code typed.
    audit_record(
        actor=None,
        action="auth.totp",
        object_type="user",
        object_id=user.pk,
        outcome=AuditEvent.Outcome.REFUSED,
        detail={"username": user.username, "reason": reason},
        request=request,
    )
