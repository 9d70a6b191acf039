"""TOTP second factor of local accounts (RFC 6238 over RFC 4226 HOTP), enrolment and verification services.

Issue 6: required for administrators (password logins), offered to every user. SHA-1, 6 digits, 30-second steps,
one step of clock drift accepted either way; a time step is accepted once (`User.totp_last_step`), so a code
seen over a shoulder cannot be replayed. The secret is sealed at rest (`core.crypto`) and shown only while
enrolling. Codes count toward the password lockout (SC.SSI/IE.36, IAM.92: blocking after 5 failures), at login
and at enrolment, and so does the password asked to switch the device off; each takes its slot before it is
checked (`accounts.lockout`), so concurrent attempts are never more than the limit.
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
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.lockout import (
    attempt_fail,
    attempt_release,
    attempt_start,
    attempt_succeed,
    locked_message,
)
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


class TotpLocked(TotpError):
    """Refused because the account is locked (IAM.92): nothing was checked."""


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
    """Switches the second factor on once the user typed a valid code of the pending secret (audited).

    A wrong code counts toward the lockout (issue 13 §4); a right one gives its slot back without clearing the
    count (it proves the phone holds the secret shown, not who the user is).
    """
    if actor.totp_enabled_at:
        raise TotpError("La double authentification est déjà activée.")
    attempt = attempt_start(user=actor)
    if attempt is None:
        _enrol_refused(actor, "locked", request)
        raise TotpLocked(locked_message())
    try:
        secret = unseal(actor.totp_secret)
    except SealError:
        secret = ""
    step = matching_step(secret, code) if secret else None
    if step is None:
        locked = attempt_fail(attempt=attempt, request=request)
        _enrol_refused(actor, "bad_code", request)
        message = "Code incorrect. Vérifiez l'heure de votre téléphone et saisissez le code affiché."
        if locked:
            raise TotpLocked(f"{message} {locked_message()}")
        raise TotpError(message)
    if not attempt_release(attempt=attempt):
        attempt_fail(attempt=attempt, request=request)
        _enrol_refused(actor, "locked", request)
        raise TotpLocked(locked_message())
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


def _enrol_refused(actor: User, reason: str, request: HttpRequest | None) -> None:
    audit_record(
        actor=actor,
        action="auth.totp_enable",
        object_type="user",
        object_id=actor.pk,
        outcome=AuditEvent.Outcome.REFUSED,
        detail={"username": actor.username, "reason": reason},
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


def totp_disable_own(*, actor: User, password: str, request: HttpRequest | None = None) -> None:
    """SC.SSI/IE.35: the user switches their own device off, confirming with their password.

    The password counts toward the lockout like a login's (issue 13 §4): a slot is taken before it is checked, a
    wrong one stays counted, and once the limit is reached it is not even checked. Raises TotpError.
    """
    attempt = attempt_start(user=actor)
    if attempt is None:
        _disable_refused(actor, "locked", request)
        raise TotpLocked(locked_message())
    if not actor.check_password(password):
        locked = attempt_fail(attempt=attempt, request=request)
        _disable_refused(actor, "bad_password", request)
        message = "Mot de passe incorrect : la double authentification reste active."
        if locked:
            raise TotpLocked(f"{message} {locked_message()}")
        raise TotpError(message)
    if not attempt_succeed(attempt=attempt):
        attempt_fail(attempt=attempt, request=request)
        _disable_refused(actor, "locked", request)
        raise TotpLocked(locked_message())
    totp_disable(actor=actor, user=actor, request=request)


def _disable_refused(actor: User, reason: str, request: HttpRequest | None) -> None:
    audit_record(
        actor=actor,
        action="auth.totp_disable",
        object_type="user",
        object_id=actor.pk,
        outcome=AuditEvent.Outcome.REFUSED,
        detail={"username": actor.username, "reason": reason},
        request=request,
    )


def totp_verify(*, user: User, code: str, request: HttpRequest | None = None) -> None:
    """The second login step: a valid, not yet used code; a wrong one counts toward the lockout.

    Raises TotpError (TotpLocked when the account is locked: the code was not checked). A slot is taken before
    the code is checked (`accounts.lockout`, issue 13 §4); the accepted step is written with a conditional UPDATE
    that also clears the counter, so two requests racing with the same code cannot both pass, and a right code
    checked while other attempts locked the account is refused.
    """
    user.refresh_from_db(fields=["totp_secret", "totp_last_step", "is_active"])
    attempt = attempt_start(user=user)
    if attempt is None:
        _refused(user, "locked", request)
        raise TotpLocked(locked_message())
    try:
        secret = unseal(user.totp_secret)
    except SealError:
        secret = ""
    step = matching_step(secret, code) if secret and user.is_active else None
    accepted = step is not None and attempt_succeed(
        attempt=attempt, also=Q(totp_last_step__lt=step), totp_last_step=step
    )
    if not accepted:
        locked = attempt_fail(attempt=attempt, request=request)
        _refused(user, "bad_code" if step is None else "replayed_code", request)
        if locked:
            raise TotpLocked(locked_message())
        raise TotpError("Code incorrect.")
    user.totp_last_step = step or 0
    # IAM.90: the login succeeds here, with its second factor.
    audit_record(
        actor=user,
        action="auth.login",
        object_type="user",
        object_id=user.pk,
        detail={"username": user.username, "second_factor": "totp"},
        request=request,
    )


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
