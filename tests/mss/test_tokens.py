"""The MSSanté operator-token cache and the owner's PSC session (SC.MSS/CONF.10, CONF.28), across processes.

Each process (web server, worker) has its own cache in memory. The process that ends a PSC session cannot reach the
others' memory, so each cache checks the owner's PSC sessions in the database before reusing a token: a token
obtained before a PSC session ended is not used any more, whichever process ended it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from caducee.accounts.models import PscSession
from caducee.accounts.psc.selectors import psc_session_mark
from caducee.accounts.psc.services import psc_end_session
from caducee.core.crypto import seal
from caducee.mss import tokens
from caducee.mss.models import Mailbox, MailboxKind
from tests.mss.conftest import DOCTOR_BOX

pytestmark = pytest.mark.django_db

ENDPOINT: Any = object()  # the operator's endpoint, unused: its token requests are answered by `operator`


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The operator's token endpoint: a new token at each request ("op-1", "op-2"…); the list of those issued."""
    issued: list[str] = []

    def request_token(address: str, endpoint: Any) -> Any:
        issued.append(f"op-{len(issued) + 1}")
        return tokens._Token(value=issued[-1], expires_at=tokens.time.monotonic() + 3600)

    monkeypatch.setattr(tokens, "_request_token", request_token)
    return issued


def _psc_login(user: Any) -> PscSession:
    """A live PSC session, as the web server's callback writes it (access token valid for ten minutes)."""
    now = timezone.now()
    return PscSession.objects.create(
        user=user,
        national_id="810000000001",
        access_token=seal("psc-access"),
        access_expires_at=now + timedelta(minutes=10),
        refresh_token=seal("psc-refresh"),
        refresh_expires_at=now + timedelta(hours=1),
    )


def test_a_psc_session_ended_in_another_process_drops_the_cached_token(
    doctor_mailbox: Mailbox, operator: list[str]
) -> None:
    worker, web = tokens.TokenCache(), tokens.TokenCache()  # two processes: two memories
    assert tokens.access_token(doctor_mailbox, endpoint=ENDPOINT, cache=worker) == "op-1"
    assert tokens.access_token(doctor_mailbox, endpoint=ENDPOINT, cache=worker) == "op-1"  # cached
    session = _psc_login(doctor_mailbox.owner)
    # While the owner's PSC session lives, their own PSC token authenticates the mailbox (CONF.07), in every process.
    assert tokens.access_token(doctor_mailbox, cache=worker) == "psc-access"
    assert tokens.access_token(doctor_mailbox, cache=web) == "psc-access"
    psc_end_session(session=session, reason="déconnexion")  # in the web process: the worker's cache is not told
    assert DOCTOR_BOX in worker  # the worker still holds op-1 …
    # … and does not use it: the database says a PSC session of the owner ended since op-1 was obtained.
    assert tokens.access_token(doctor_mailbox, endpoint=ENDPOINT, cache=worker) == "op-2"
    assert operator == ["op-1", "op-2"]
    # Nothing changed since op-2: it is reused, not asked for again.
    assert tokens.access_token(doctor_mailbox, endpoint=ENDPOINT, cache=worker) == "op-2"
    assert operator == ["op-1", "op-2"]


def test_a_psc_session_ending_by_a_refused_refresh_in_the_worker_is_seen_by_the_web_process(
    doctor_mailbox: Mailbox, operator: list[str]
) -> None:
    worker, web = tokens.TokenCache(), tokens.TokenCache()
    assert tokens.access_token(doctor_mailbox, endpoint=ENDPOINT, cache=web) == "op-1"
    session = _psc_login(doctor_mailbox.owner)
    PscSession.objects.filter(pk=session.pk).update(ended_at=timezone.now(), ended_reason="rafraîchissement refusé")
    assert tokens.access_token(doctor_mailbox, endpoint=ENDPOINT, cache=web) == "op-2"
    assert tokens.access_token(doctor_mailbox, endpoint=ENDPOINT, cache=worker) == "op-3"
    assert tokens.access_token(doctor_mailbox, endpoint=ENDPOINT, cache=web) == "op-2"


def test_a_mailbox_without_owner_does_not_look_at_psc(
    doctor: Any, operator: list[str], django_assert_num_queries: Any
) -> None:
    org = Mailbox.objects.create(address="secretariat@test.mssante.fr", kind=MailboxKind.ORG)
    cache = tokens.TokenCache()
    assert tokens.access_token(org, endpoint=ENDPOINT, cache=cache) == "op-1"
    with django_assert_num_queries(0):
        assert tokens.access_token(org, endpoint=ENDPOINT, cache=cache) == "op-1"


def test_the_mark_changes_when_a_session_starts_or_ends(doctor: Any) -> None:
    assert psc_session_mark(doctor.pk) == (0, 0)
    session = _psc_login(doctor)
    started = psc_session_mark(doctor.pk)
    assert started == (session.pk, 0)
    psc_end_session(session=session, reason="déconnexion")
    assert psc_session_mark(doctor.pk) == (session.pk, 1) != started
