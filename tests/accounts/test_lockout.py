"""Lockout counted atomically (issue 13 §4, SC.SSI/IAM.92 « blocage après 5 échecs », IAM.90 traces).

Before the fix, "is the account locked?" was read before the password was checked and the failure counted after:
in a burst of concurrent logins every attempt passed the check, 10 wrong passwords out of 20 were evaluated and the
right one sent 7th logged in. Now a slot is taken before any check (`accounts.lockout`); once the limit is reached
nothing is evaluated (no hash), for an account and for an identifier that is none alike, so the answer does not
tell whether the account exists.

The burst tests run threads with their own database connections: on SQLite a file copy of the test database in
WAL mode (as in production); on PostgreSQL the test database itself:
`DATABASE_URL=postgres://postgres@127.0.0.1:5432/caducee_lockout pytest tests/accounts/test_lockout.py`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import get_hasher
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from caducee.accounts import lockout, totp
from caducee.accounts.models import LoginThrottle, Role, User
from caducee.accounts.services import LoginError, user_authenticate
from caducee.core.crypto import seal
from caducee.core.models import AuditEvent

RIGHT = "Un-mot-de-passe-long-2026"
WRONG = "Pas-le-bon-mot-de-passe-1"
T0 = 1_900_000_000.0


@pytest.fixture
def fast_hash(settings: Any) -> None:
    """A cheap hasher (the checks are counted and slowed down on purpose below, not by PBKDF2)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.LOGIN_MAX_FAILURES = 5
    settings.LOGIN_LOCKOUT_MINUTES = 15


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch, fast_hash: None) -> dict[str, Any]:
    """Counts every hash computed (a password checked, or Django's dummy hash for an unknown identifier), and
    makes each one last `delay` seconds so that concurrent attempts overlap."""
    state: dict[str, Any] = {"count": 0, "delay": 0.0, "during": None}
    lock = threading.Lock()
    hasher = type(get_hasher("default"))
    encode = hasher.encode

    def counted(self: Any, password: str, salt: str) -> str:
        with lock:
            state["count"] += 1
        if state["during"] is not None:
            state["during"](password)
        time.sleep(state["delay"])
        return encode(self, password, salt)

    monkeypatch.setattr(hasher, "encode", counted)
    return state


def _user(username: str = "dr.martin", role: str = Role.MEDECIN) -> User:
    return User.objects.create_user(username=username, password=RIGHT, role=role, last_name="MARTIN")


def _post(client: Client, username: str, password: str) -> Any:
    return client.post("/connexion/", {"username": username, "password": password})


def _error(response: Any) -> str:
    return str(response.context["error"])


# --- a burst of concurrent logins (threads, separate connections) ---------------------------------------------------


@contextlib.contextmanager
def _threads_database(tmp_path: Path) -> Iterator[None]:
    """Threads need a shared database: PostgreSQL's test database; for SQLite (in-memory test database, shared
    cache with table locks) a file copy in WAL mode, as in production (as tests/core/test_outbox does)."""
    if connection.vendor != "sqlite":
        yield
        return
    path = tmp_path / "threads.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    settings = connections.settings["default"]
    name = settings["NAME"]
    settings["NAME"] = str(path)
    try:
        yield
    finally:
        settings["NAME"] = name


def _in_thread(fn: Callable[[], Any]) -> Any:
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # re-raised below
            box.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def _burst(passwords: list[str], *, spacing: float, username: str = "dr.martin") -> list[int]:
    """Each password posted from its own thread (own client, own connection), `spacing` seconds apart."""
    statuses: list[Any] = [None] * len(passwords)
    barrier = threading.Barrier(len(passwords))

    def attempt(index: int) -> None:
        try:
            client = Client()
            barrier.wait(30)
            time.sleep(index * spacing)
            statuses[index] = _post(client, username, passwords[index]).status_code
        except BaseException as exc:  # reported by the assertions
            statuses[index] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(passwords))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses


@pytest.mark.parametrize("spacing", [0.005, 0.0], ids=["a-few-ms-apart", "simultaneous"])
@pytest.mark.django_db(transaction=True)
def test_a_burst_of_logins_checks_five_passwords_and_lets_no_right_one_in(
    hashes: dict[str, Any], tmp_path: Path, spacing: float
) -> None:
    """Issue 13 §4 acceptance: six wrong passwords, the right one, three wrong ones, concurrently; then the right
    one again: neither right one logs in, five passwords are checked, one lockout traced (IAM.92, IAM.90).

    Fails before the fix: the ten were checked and the right one logged in (the check and the count were apart).
    Simultaneous too: whatever order the server takes them in, a right password checked while the others reach the
    limit is refused.
    """
    user = _user()
    hashes["count"], hashes["delay"] = (
        0,
        0.3,
    )  # a check lasts long enough for the whole burst to arrive meanwhile (PBKDF2 does)
    with _threads_database(tmp_path):
        statuses = _burst([WRONG] * 6 + [RIGHT] + [WRONG] * 3, spacing=spacing)
        assert statuses == [401] * 10
        assert _in_thread(lambda: _post(Client(), "dr.martin", RIGHT).status_code) == 401
        assert hashes["count"] == 5  # LOGIN_MAX_FAILURES, and none once locked
        events = _in_thread(
            lambda: list(AuditEvent.objects.filter(action__startswith="auth.").values_list("action", "outcome"))
        )
        locked_until = _in_thread(lambda: User.objects.get(pk=user.pk).locked_until)
    assert ("auth.login", "ok") not in events
    assert events.count(("auth.lockout", "refused")) == 1
    assert len(events) == 12  # eleven refused logins and the lockout
    assert locked_until is not None and locked_until > timezone.now() + timedelta(minutes=14)


@pytest.mark.django_db(transaction=True)
def test_a_burst_on_an_unknown_identifier_is_answered_like_one_on_an_account(
    hashes: dict[str, Any], tmp_path: Path
) -> None:
    """Issue 13 §4: the lockout does not tell whether an account exists — an unknown identifier is counted and
    locked the same way, with the same number of hashes (Django's dummy hash before the limit, none after)."""
    _user()
    hashes["count"], hashes["delay"] = 0, 0.2
    with _threads_database(tmp_path):
        known = _burst([WRONG] * 8, spacing=0.002)
        known_hashes, hashes["count"] = hashes["count"], 0
        unknown = _burst([WRONG] * 8, spacing=0.002, username="dr.inconnu")
        throttles = _in_thread(lambda: list(LoginThrottle.objects.values_list("key", "failed_logins")))
    assert known == unknown == [401] * 8
    assert known_hashes == hashes["count"] == 5
    # The identifier typed is not kept in the counter (it may be a password typed in the wrong field).
    assert len(throttles) == 1 and "inconnu" not in throttles[0][0] and throttles[0][1] == 5


# --- the rules, one connection --------------------------------------------------------------------------------------


@pytest.fixture
def martin(db: None, fast_hash: None) -> User:
    return _user()


def test_once_locked_no_password_is_checked_and_the_answer_is_the_same_for_an_unknown_identifier(
    client: Client, martin: User, hashes: dict[str, Any]
) -> None:
    """IAM.92: after LOGIN_MAX_FAILURES nothing is hashed (before: the password was still checked, and an unknown
    identifier was never locked — « Compte verrouillé » told that the account existed)."""
    answers: dict[str, list[tuple[int, str, int]]] = {}
    for username in ("dr.martin", "dr.inconnu"):
        answers[username] = []
        for password in [WRONG] * 5 + [RIGHT, WRONG]:
            before = hashes["count"]
            response = _post(client, username, password)
            answers[username].append((response.status_code, _error(response), hashes["count"] - before))
    assert answers["dr.martin"] == answers["dr.inconnu"]
    statuses, messages, hashed = zip(*answers["dr.martin"], strict=True)
    assert statuses == (401,) * 7
    assert hashed == (1, 1, 1, 1, 1, 0, 0)
    assert messages[0] == "Identifiant ou mot de passe incorrect."
    assert messages[4].startswith("Identifiant ou mot de passe incorrect. Identifiant verrouillé")
    assert messages[5] == messages[6] == lockout.locked_message()
    assert "15 minutes" in messages[5] and "Compte" not in messages[5]
    assert AuditEvent.objects.filter(action="auth.lockout").count() == 2
    assert not AuditEvent.objects.filter(detail__icontains=WRONG).exists()


def test_an_identifier_no_database_can_hold_is_answered_without_an_error(
    db: None, hashes: dict[str, Any], rf: Any
) -> None:
    """A NUL or another control character, or 200 characters: no query on it (PostgreSQL refuses NUL in text), the
    same answer and the same hash as any unknown identifier, traced with the characters replaced. (The service is
    called directly: the forms' input cleaning may already strip control characters; a caller may not.)"""
    request = rf.post("/connexion/")
    for username in ("dr.\x00martin", "a\x1bb", "x" * 200):
        for _ in range(5):
            before = hashes["count"]
            with pytest.raises(LoginError, match=r"^Identifiant ou mot de passe incorrect"):
                user_authenticate(request=request, username=username, password=WRONG)
            assert hashes["count"] == before + 1
        with pytest.raises(LoginError) as refused:
            user_authenticate(request=request, username=username, password=WRONG)
        assert str(refused.value) == lockout.locked_message()
        assert hashes["count"] == before + 1
    traced = set(AuditEvent.objects.filter(action="auth.login").values_list("detail__username", flat=True))
    assert traced == {"dr.\ufffdmartin", "a\ufffdb", "x" * 150}


def test_a_right_password_checked_while_other_attempts_reach_the_limit_is_refused(
    martin: User, hashes: dict[str, Any], rf: Any
) -> None:
    """A burst whatever the order: the right password took a slot, and while it was being checked the other
    attempts took the last ones (or were refused): the account is locked, the right password refused too."""
    request = rf.post("/connexion/")

    def concurrent_wrongs(password: str) -> None:
        if password == RIGHT:
            hashes["during"] = None
            for _ in range(4):
                assert lockout.attempt_start(user=martin) is not None  # slots 2 to 5
            assert lockout.attempt_start(user=martin) is None  # the 6th is refused

    hashes["during"] = concurrent_wrongs
    with pytest.raises(LoginError, match="verrouillé"):
        user_authenticate(request=request, username="dr.martin", password=RIGHT)
    martin.refresh_from_db()
    assert martin.locked_until is not None and martin.failed_logins == 5


def test_the_right_password_on_the_last_slot_is_refused_if_an_attempt_came_meanwhile(
    martin: User, hashes: dict[str, Any], rf: Any
) -> None:
    """Four failures, then the right password takes the last slot; an attempt refused for the limit while it is
    checked means a burst: refused, and that slot's failure is the lockout (traced once)."""
    request = rf.post("/connexion/")
    for _ in range(4):
        with pytest.raises(LoginError):
            user_authenticate(request=request, username="dr.martin", password=WRONG)
    hashes["during"] = lambda password: password == RIGHT and lockout.attempt_start(user=martin)
    with pytest.raises(LoginError, match="verrouillé"):
        user_authenticate(request=request, username="dr.martin", password=RIGHT)
    assert AuditEvent.objects.filter(action="auth.lockout").count() == 1


def test_the_right_password_on_the_fifth_try_still_logs_in_when_nothing_else_happens(
    client: Client, martin: User, hashes: dict[str, Any]
) -> None:
    """Not over-refusing: a doctor who mistypes four times, then types it right, is in; the count starts again."""
    for _ in range(4):
        _post(client, "dr.martin", WRONG)
    response = _post(client, "dr.martin", RIGHT)
    assert response.status_code == 302
    martin.refresh_from_db()
    assert (martin.failed_logins, martin.locked_until) == (0, None)


def test_failures_are_forgotten_and_the_lock_ends_after_the_lockout_time(
    client: Client, martin: User, hashes: dict[str, Any]
) -> None:
    """LOGIN_LOCKOUT_MINUTES after the last failure the count starts again; a lock ends after as long — for an
    unknown identifier as for an account (its row at rest is purged)."""
    for _ in range(3):
        _post(client, "dr.martin", WRONG)
        _post(client, "dr.inconnu", WRONG)
    past = timezone.now() - timedelta(minutes=16)
    User.objects.filter(pk=martin.pk).update(failed_login_at=past)
    LoginThrottle.objects.update(failed_login_at=past)
    for _ in range(4):
        assert _error(_post(client, "dr.martin", WRONG)) == "Identifiant ou mot de passe incorrect."
    assert _error(_post(client, "dr.martin", WRONG)).endswith(lockout.locked_message())
    assert _error(_post(client, "dr.martin", RIGHT)) == lockout.locked_message()
    User.objects.filter(pk=martin.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert _post(client, "dr.martin", RIGHT).status_code == 302
    # The unknown identifier's row at rest was purged when another one was first counted.
    _post(client, "dr.autre", WRONG)
    assert LoginThrottle.objects.count() == 1


def test_a_lock_left_by_a_lowered_limit_ends(client: Client, martin: User, hashes: dict[str, Any]) -> None:
    """A counter above a limit lowered since (no lock on it): refused, and locked so that it ends."""
    User.objects.filter(pk=martin.pk).update(failed_logins=7, failed_login_at=timezone.now())
    assert _error(_post(client, "dr.martin", RIGHT)) == lockout.locked_message()
    martin.refresh_from_db()
    assert martin.locked_until is not None


# --- the other places a secret is checked ---------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(totp, "clock", lambda: T0)


def _with_totp(user: User) -> str:
    secret = totp.new_secret()
    User.objects.filter(pk=user.pk).update(totp_secret=seal(secret), totp_enabled_at=timezone.now())
    user.refresh_from_db()
    return secret


def test_wrong_passwords_to_switch_totp_off_count_and_are_not_checked_once_locked(
    client: Client, martin: User, hashes: dict[str, Any]
) -> None:
    """Issue 13 §4: « désactiver la double authentification » asks the password: counted like a login's (before:
    not counted at all, a stolen session could guess it without limit); traced."""
    _with_totp(martin)
    client.force_login(martin)
    for _ in range(5):
        client.post("/compte/securite/totp/desactiver/", {"password": WRONG})
    before = hashes["count"]
    response = client.post("/compte/securite/totp/desactiver/", {"password": RIGHT}, follow=True)
    assert hashes["count"] == before  # not checked
    assert "verrouillé" in response.content.decode()
    martin.refresh_from_db()
    assert martin.totp_enabled_at is not None and martin.locked_until is not None
    reasons = list(
        AuditEvent.objects.filter(action="auth.totp_disable").order_by("id").values_list("detail__reason", flat=True)
    )
    assert reasons == ["bad_password"] * 5 + ["locked"]
    assert AuditEvent.objects.filter(action="auth.lockout").count() == 1


def test_the_right_password_switches_totp_off_and_clears_the_count(
    client: Client, martin: User, fast_hash: None
) -> None:
    _with_totp(martin)
    client.force_login(martin)
    client.post("/compte/securite/totp/desactiver/", {"password": WRONG})
    client.post("/compte/securite/totp/desactiver/", {"password": RIGHT})
    martin.refresh_from_db()
    assert martin.totp_enabled_at is None and martin.failed_logins == 0


def test_wrong_codes_at_enrolment_count_toward_the_lockout(
    client: Client, martin: User, fast_hash: None, clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13 §4: codes typed at TOTP enrolment are counted (before: unlimited); once locked the code is not
    even compared; a right code gives its slot back without clearing the count."""
    client.force_login(martin)
    client.get("/compte/securite/totp/")
    for _ in range(4):
        assert client.post("/compte/securite/totp/", {"code": "000000"}).status_code == 400
    martin.refresh_from_db()
    assert martin.failed_logins == 4
    compared: list[str] = []
    original = totp.matching_step
    monkeypatch.setattr(
        totp, "matching_step", lambda secret, code, **kw: compared.append(code) or original(secret, code, **kw)
    )
    response = client.post("/compte/securite/totp/", {"code": "000001"})
    assert "verrouillé" in response.content.decode() and compared == ["000001"]
    response = client.post("/compte/securite/totp/", {"code": totp.totp(totp.secret_bytes(_secret(martin)), T0)})
    assert response.status_code == 400 and "verrouillé" in response.content.decode()
    assert compared == ["000001"]  # the right code was not compared: locked
    martin.refresh_from_db()
    assert martin.totp_enabled_at is None
    reasons = list(
        AuditEvent.objects.filter(action="auth.totp_enable").order_by("id").values_list("detail__reason", flat=True)
    )
    assert reasons == ["bad_code"] * 5 + ["locked"]


def _secret(user: User) -> str:
    from caducee.core.crypto import unseal

    user.refresh_from_db()
    return unseal(user.totp_secret)


def test_a_right_enrolment_code_gives_its_slot_back(client: Client, martin: User, fast_hash: None, clock: None) -> None:
    client.force_login(martin)
    client.get("/compte/securite/totp/")
    client.post("/compte/securite/totp/", {"code": "000000"})
    response = client.post("/compte/securite/totp/", {"code": totp.totp(totp.secret_bytes(_secret(martin)), T0)})
    assert response.status_code == 302
    martin.refresh_from_db()
    assert martin.totp_enabled_at is not None and martin.failed_logins == 1


def test_a_login_code_is_not_compared_once_locked(
    client: Client, martin: User, fast_hash: None, clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code step takes its slot first too: locked, the code (even the right one) is not compared."""
    secret = _with_totp(martin)
    assert _post(client, "dr.martin", RIGHT).url == "/connexion/code/"
    for _ in range(4):
        lockout.attempt_fail(attempt=lockout.attempt_start(user=martin))  # type: ignore[arg-type]
    compared: list[str] = []
    original = totp.matching_step
    monkeypatch.setattr(totp, "matching_step", lambda s, code, **kw: compared.append(code) or original(s, code, **kw))
    client.post("/connexion/code/", {"code": "000000"})  # the 5th failure: locked
    assert compared == ["000000"]
    assert _post(client, "dr.martin", RIGHT).status_code == 401
    with pytest.raises(totp.TotpLocked):
        totp.totp_verify(user=martin, code=totp.totp(totp.secret_bytes(secret), T0))
    assert compared == ["000000"]


def test_a_right_password_of_a_totp_user_neither_counts_nor_clears(
    client: Client, martin: User, fast_hash: None
) -> None:
    """The password step of a TOTP user gives its slot back: the failures before stay counted (the code decides)."""
    _with_totp(martin)
    _post(client, "dr.martin", WRONG)
    _post(client, "dr.martin", WRONG)
    assert _post(client, "dr.martin", RIGHT).url == "/connexion/code/"
    martin.refresh_from_db()
    assert martin.failed_logins == 2 and martin.locked_until is None


def test_a_wrong_current_password_is_not_checked_once_locked(
    client: Client, martin: User, hashes: dict[str, Any]
) -> None:
    """« Changer le mot de passe »: counted before (issue 6), and now not even checked once locked."""
    client.force_login(martin)
    data = {"old_password": WRONG, "new_password": "Nouveau-Secret-2027", "confirmation": "Nouveau-Secret-2027"}
    for _ in range(5):
        client.post("/compte/securite/", data)
    before = hashes["count"]
    response = client.post("/compte/securite/", {**data, "old_password": RIGHT}, follow=True)
    assert hashes["count"] == before
    assert "verrouillé" in response.content.decode()
    martin.refresh_from_db()
    assert martin.check_password(RIGHT)
