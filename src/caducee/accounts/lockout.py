"""Lockout after repeated failures (PGSSI-S: SC.SSI/IAM.92 « blocage après 5 échecs », SC.SSI/IE.36), counted
atomically whatever the concurrency (issue 13 §4).

Every check of a secret — the login password (and the one that links a Pro Santé Connect account), the TOTP code
at login and at enrolment, the current password asked to change it or to switch TOTP off — first *takes a slot*
(`attempt_start`): under a lock of the counter's row, one is added while the counter is below LOGIN_MAX_FAILURES
and the account is not locked. No slot, no check: the secret is not even evaluated (no PBKDF2 run), so a burst of
concurrent attempts gets LOGIN_MAX_FAILURES checks at most — never "is it locked? then count" (check-then-act).
The slot that takes the counter to the limit locks the account at once (`locked_until`), so an attempt that dies
halfway still leaves a lock that ends. The attempt then ends one of three ways:

- `attempt_fail`: the slot stays counted (it was a failure); the failure of the last slot is the lockout, traced
  `auth.lockout` (SC.SSI/IAM.90);
- `attempt_succeed`: the counter goes back to zero — unless the limit was reached while this attempt was being
  checked (another attempt took the last slot, or one was refused for the limit): then the right secret is refused
  too. In a burst, a right password among wrong ones never gets in, whatever order the server took them in;
- `attempt_release`: neither (a right password when a TOTP code must follow, a right code at enrolment): the slot
  is given back, on the same condition.

Failures are forgotten LOGIN_LOCKOUT_MINUTES after the last one, and a lock ends after as long. An identifier that
is no account is counted the same way (`LoginThrottle`), so neither the lockout message nor the time of the answer
tells whether an account exists: before the limit one hash is computed (Django's dummy hash for an unknown
identifier), after it none.

The row lock: `select_for_update` on PostgreSQL; on SQLite every transaction is IMMEDIATE (settings), so the
read and the write of the counter are one writer's, across processes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac

from caducee.accounts.models import LoginThrottle, User
from caducee.core.audit import audit_record
from caducee.core.models import AuditEvent

_THROTTLE_SALT = "caducee.accounts.lockout.unknown-identifier"
USERNAME_MAX = 150  # AbstractUser.username


def locked_message() -> str:
    """The refusal once the limit is reached; the same for an account and for an identifier that is none."""
    return (
        f"Identifiant verrouillé après plusieurs échecs, pour {settings.LOGIN_LOCKOUT_MINUTES} minutes au plus : "
        "réessayez plus tard."
    )


def plausible_username(username: str) -> bool:
    """Whether `username` could name an account: not empty, not longer than the column, no control character
    (PostgreSQL refuses NUL in text: such an identifier is answered without a query on it)."""
    return 0 < len(username) <= USERNAME_MAX and not any(unicodedata.category(c) in ("Cc", "Cs") for c in username)


def username_for_trace(username: str) -> str:
    """The identifier typed, as traced (IAM.90): control characters replaced, cut at the column's length."""
    return "".join("\ufffd" if unicodedata.category(c) in ("Cc", "Cs") else c for c in username[:USERNAME_MAX])


_COUNTER = ("failed_logins", "failed_login_at", "locked_until", "login_refused_at")


@dataclass(frozen=True)
class Attempt:
    """A slot taken on one counter: an account's (`User`) or an unknown identifier's (`LoginThrottle`)."""

    model: type[User] | type[LoginThrottle]
    pk: int
    username: str
    user: User | None
    started: datetime  # when the slot was taken
    lock: datetime | None  # the lock this slot set (it took the counter to the limit), else None

    def rows(self) -> QuerySet[Any]:
        return self.model._default_manager.filter(pk=self.pk)

    def undisturbed(self, counter: dict[str, Any], now: datetime) -> bool:
        """Whether the limit was not reached by others while this attempt was being checked: no lock but this
        slot's own, no attempt refused since the slot was taken."""
        locked, refused = counter["locked_until"], counter["login_refused_at"]
        return (locked is None or locked <= now or locked == self.lock) and (refused is None or refused < self.started)


@contextmanager
def _counter(rows: QuerySet[Any]) -> Iterator[dict[str, Any] | None]:
    """The counter's row, locked until the block ends (None: no such row)."""
    with transaction.atomic():
        yield rows.select_for_update().values(*_COUNTER).first()


def attempt_start(*, user: User | None, username: str = "") -> Attempt | None:
    """Takes a slot to check a secret of `user` (None: `username` is no account). None when the limit is reached:
    the caller refuses without checking anything (IAM.92)."""
    maximum = settings.LOGIN_MAX_FAILURES
    window = timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    for _ in range(3):  # an unknown identifier's row may be purged between its lookup and its lock: once more
        model: type[User] | type[LoginThrottle] = User if user is not None else LoginThrottle
        pk = user.pk if user is not None else _throttle_row(username, now=timezone.now())
        rows = model._default_manager.filter(pk=pk)
        with _counter(rows) as counter:
            if counter is None:
                continue
            now = timezone.now()  # once the row is ours: the times written follow the order of the lock
            failures, locked = counter["failed_logins"], counter["locked_until"]
            last = counter["failed_login_at"]
            if (locked is not None and locked <= now) or (locked is None and last is not None and last <= now - window):
                failures, locked = 0, None  # the lock ended, or the failures are older than the window
            if locked is not None or failures >= maximum:
                # Refused: nothing is checked. (At the limit without a lock — the limit was lowered since: lock it,
                # so that it ends.) The time of the refusal stops any slot then in flight from succeeding.
                rows.update(locked_until=locked or now + window, login_refused_at=now)
                return None
            lock = now + window if failures + 1 >= maximum else None
            rows.update(failed_logins=failures + 1, failed_login_at=now, locked_until=lock)
            return Attempt(
                model=model,
                pk=pk,
                username=username or (user.username if user is not None else ""),
                user=user,
                started=now,
                lock=lock,
            )
    return None


def attempt_fail(*, attempt: Attempt, request: HttpRequest | None = None) -> bool:
    """The secret was wrong: the slot stays counted. True when the account is locked now; the failure of the slot
    that reached the limit is the lockout, traced (IAM.90)."""
    locked = attempt.rows().filter(locked_until__gt=timezone.now()).values_list("locked_until", flat=True).first()
    if locked is None:
        return False
    if attempt.lock is not None and locked == attempt.lock:
        audit_record(
            actor=None,
            action="auth.lockout",
            object_type="user",
            object_id=attempt.user.pk if attempt.user else "",
            outcome=AuditEvent.Outcome.REFUSED,
            detail={
                "username": username_for_trace(attempt.username),
                "minutes": settings.LOGIN_LOCKOUT_MINUTES,
            },
            request=request,
        )
    return True


def attempt_succeed(*, attempt: Attempt, also: Q | None = None, **updates: object) -> bool:
    """The secret was right: the counter back to zero (with `updates`, on the row if it matches `also`). False when
    the limit was reached meanwhile (`Attempt.undisturbed`) or `also` did not match: the caller refuses, and ends
    the attempt with `attempt_fail` (its slot stays counted)."""
    rows = attempt.rows()
    with _counter(rows) as counter:
        if counter is None or not attempt.undisturbed(counter, timezone.now()):
            return False
        if also is not None:
            rows = rows.filter(also)
        return bool(rows.update(failed_logins=0, failed_login_at=None, locked_until=None, **updates))


def attempt_release(*, attempt: Attempt) -> bool:
    """Neither a failure nor a full success (a right password before the TOTP code): the slot is given back, and
    the lock it set lifted. False when the limit was reached meanwhile: the caller refuses, with `attempt_fail`."""
    rows = attempt.rows()
    with _counter(rows) as counter:
        if counter is None or not attempt.undisturbed(counter, timezone.now()):
            return False
        changes: dict[str, Any] = {"failed_logins": max(counter["failed_logins"] - 1, 0)}
        if attempt.lock is not None and counter["locked_until"] == attempt.lock:
            changes["locked_until"] = None
        rows.update(**changes)
        return True


def _throttle_row(username: str, *, now: datetime) -> int:
    """The pk of the counter of an identifier that is no account, created on its first failure. Only its HMAC
    is kept. Creating one purges the rows at rest (no lock, no failure within the window): they count as zero."""
    key = salted_hmac(_THROTTLE_SALT, username.encode("utf-8", "surrogatepass"), algorithm="sha256").hexdigest()
    found = LoginThrottle.objects.filter(key=key).values_list("pk", flat=True).first()
    if found is not None:
        return found
    window = timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    LoginThrottle.objects.filter(
        Q(locked_until__isnull=True) | Q(locked_until__lte=now), failed_login_at__lte=now - window
    ).delete()
    row, _ = LoginThrottle.objects.get_or_create(key=key)
    return row.pk
