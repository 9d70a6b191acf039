"""End to end against the sandbox operator (real sockets, STARTTLS, XOAUTH2 with tokens from its endpoint):
a VSM sent from dr A to dr B through the outbox, fetched from B's INBOX by IMAP, the DSN back in A's INBOX moving
A's recipient to "remis", B's MDN moving it to "lu"; refusals at RCPT, the resend after a crash, authentication
failures, APP mailboxes."""

from __future__ import annotations

import email
import email.policy
import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from caducee.core.models import Delivery
from caducee.core.outbox import run_worker
from caducee.mss import tokens
from caducee.mss.handler import send_mss_delivery
from caducee.mss.models import InboundMessage, Mailbox, MailboxKind, OutboundMessage
from caducee.mss.receipts import mdn_send, report_apply
from caducee.mss.services import mss_send
from caducee.mss.transport import MssAuthError, imap_session, smtp_session
from caducee.mss.xdm import read_xdm
from caducee.sandbox.mss import MssSandbox
from tests.mss.conftest import COLLEAGUE_BOX, DOCTOR_BOX

S = OutboundMessage.State


@pytest.fixture
def colleague_mailbox(db: None) -> Mailbox:
    from caducee.accounts.models import Role, User

    colleague = User.objects.create_user(username="bernard", role=Role.MEDECIN, first_name="Hugo", last_name="Bernard")
    return Mailbox.objects.create(address=COLLEAGUE_BOX, kind=MailboxKind.PER, owner=colleague)


@pytest.fixture
def vsm(practice: Any, doctor: Any, qual_patient: Any) -> Any:
    from caducee.documents.production import vsm_create
    from tests.documents.cda_records import rich_record

    doctor.first_name, doctor.specialty_code = "Claire", "SM54"
    doctor.save()
    rich_record(qual_patient)
    return vsm_create(actor=doctor, patient=qual_patient)


def _inbox(mailbox: Mailbox) -> list[EmailMessage]:
    """Every message of the mailbox's INBOX, fetched through the product's IMAP session."""
    with imap_session(mailbox) as client:
        client.select_folder("INBOX")
        uids = client.search(["ALL"])
        fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
    messages = []
    for uid in sorted(fetched):
        parsed = email.message_from_bytes(fetched[uid][b"BODY[]"], policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages


def _worker() -> None:
    run_worker(until_idle=True, sleep=0.05)


@pytest.mark.django_db(transaction=True)
def test_a_vsm_from_dr_a_reaches_dr_b_and_comes_back_remis(
    mss_operator: MssSandbox,
    doctor: Any,
    doctor_mailbox: Mailbox,
    colleague_mailbox: Mailbox,
    qual_patient: Any,
    vsm: Any,
) -> None:
    message = mss_send(actor=doctor, patient=qual_patient, documents=[vsm], recipients=[COLLEAGUE_BOX])
    _worker()
    message.refresh_from_db()
    assert message.delivery is not None
    message.delivery.refresh_from_db()
    assert message.delivery.state == Delivery.State.SENT, message.delivery.last_error
    assert message.state == S.SENT and message.sent_at is not None
    assert message.delivery.result == {"message_id": message.message_id, "accepted": [COLLEAGUE_BOX], "refused": {}}

    (received,) = [m for m in _inbox(colleague_mailbox) if m["Message-ID"] == f"<{message.message_id}>"]
    assert received["Subject"] == "XDM/1.0/DDM+Volet de synthèse médicale ADRTROIS Dominique 26/02/1997"
    assert received["X-MSS-CODECDA"] == "SYNTH" and received["X-MSS-INS"] == "O" and received["X-MSS-NIL"]
    assert received["Disposition-Notification-To"] == DOCTOR_BOX and received["Return-Receipt-To"] == DOCTOR_BOX
    names = [part.get_filename() for part in received.iter_attachments()]
    assert names[0] == "IHE_XDM.zip" and str(names[1]).endswith(".pdf")
    zipped = next(received.iter_attachments()).get_payload(decode=True)
    assert isinstance(zipped, bytes)
    (document,) = read_xdm(zipped).documents
    assert document.content == bytes(vsm.cda) and document.unique_id == vsm.unique_id

    # The operator's DSN lands in A's INBOX; applying it moves B to "remis" (SC.MSS/UX.35).
    reports = [m for m in _inbox(doctor_mailbox) if m.get_content_type() == "multipart/report"]
    assert reports, "no DSN in the sender's mailbox"
    assert all(report_apply(msg=report) for report in reports)
    message.refresh_from_db()
    recipient = message.recipients.get()
    assert (recipient.state, message.state) == (S.DELIVERED, S.DELIVERED)

    # B reads it: B's software returns the MDN asked for (through its outbox), A applies it: "lu" (UX.33/34/35).
    shown = InboundMessage.objects.create(
        mailbox=colleague_mailbox,
        message_id=message.message_id,
        sender=DOCTOR_BOX,
        mdn_to=str(received["Disposition-Notification-To"]),
        subject=str(received["Subject"]),
    )
    mdn_send(inbound=shown, disposition="displayed")
    _worker()
    mdns = [m for m in _inbox(doctor_mailbox) if m.get_param("report-type") == "disposition-notification"]
    assert len(mdns) == 1 and mdns[0]["Subject"] == received["Subject"]
    assert report_apply(msg=mdns[0])
    message.refresh_from_db()
    assert (message.recipients.get().state, message.state) == (S.READ, S.READ)

    log = mss_operator.auth_log()
    assert {(e["protocol"].lower(), e["mechanism"].upper(), e["user"], e["ok"]) for e in log} >= {
        ("smtp", "XOAUTH2", DOCTOR_BOX, True),
        ("imap", "XOAUTH2", COLLEAGUE_BOX, True),
    }
    assert not any(e.get("token") for e in log)


@pytest.mark.django_db(transaction=True)
def test_a_resend_after_a_crash_carries_the_same_message_id(
    mss_operator: MssSandbox,
    doctor: Any,
    doctor_mailbox: Mailbox,
    colleague_mailbox: Mailbox,
    qual_patient: Any,
    letter: Any,
) -> None:
    message = mss_send(actor=doctor, patient=qual_patient, documents=[letter], recipients=[COLLEAGUE_BOX])
    assert message.delivery is not None
    send_mss_delivery(message.delivery, message.delivery.idempotency_key)
    # The worker died before recording the outcome: the recipient is sent again, the same message.
    message.recipients.update(state=S.QUEUED)
    send_mss_delivery(message.delivery, message.delivery.idempotency_key)
    ids = [m["Message-ID"] for m in _inbox(colleague_mailbox)]
    assert ids == [f"<{message.message_id}>", f"<{message.message_id}>"]
    # Once recorded, a third call sends nothing.
    assert send_mss_delivery(message.delivery, "")["accepted"] == []
    assert len(_inbox(colleague_mailbox)) == 2


@pytest.mark.django_db(transaction=True)
def test_an_unknown_recipient_is_an_error_with_the_servers_text(
    mss_operator: MssSandbox, doctor: Any, doctor_mailbox: Mailbox, qual_patient: Any, letter: Any
) -> None:
    unknown = "inconnu.dupont@test.mssante.fr"
    message = mss_send(actor=doctor, patient=qual_patient, documents=[letter], recipients=[COLLEAGUE_BOX, unknown])
    _worker()
    message.refresh_from_db()
    states = {r.address: (r.state, r.state_reason) for r in message.recipients.all()}
    assert states[COLLEAGUE_BOX][0] == S.SENT
    if states[unknown][0] == S.SENT:  # the operator accepted at RCPT and will send a failure DSN instead
        for report in _inbox(doctor_mailbox):
            report_apply(msg=report)
        message.refresh_from_db()
        states = {r.address: (r.state, r.state_reason) for r in message.recipients.all()}
    assert states[unknown][0] == S.ERROR and states[unknown][1]
    assert message.state == S.ERROR and unknown in message.state_reason


@pytest.mark.django_db(transaction=True)
def test_a_refusal_at_rcpt_of_every_recipient_is_permanent(
    mss_operator: MssSandbox, doctor: Any, doctor_mailbox: Mailbox, qual_patient: Any, letter: Any
) -> None:
    outside = "dr.dupont@exemple.fr"  # outside the MSSanté trust space: 550 5.7.1 at RCPT
    message = mss_send(actor=doctor, patient=qual_patient, documents=[letter], recipients=[outside])
    _worker()
    assert message.delivery is not None
    message.delivery.refresh_from_db()
    message.refresh_from_db()
    assert message.delivery.state == Delivery.State.REJECTED
    assert "refusé par le serveur MSSanté (550 5.7.1" in message.delivery.last_error
    recipient = message.recipients.get()
    assert recipient.state == S.ERROR and recipient.state_reason.startswith("Destinataire refusé par le serveur")
    assert message.state == S.ERROR and outside in message.state_reason


@pytest.mark.django_db(transaction=True)
def test_a_refused_token_closes_the_session_and_is_forgotten(
    mss_operator: MssSandbox, doctor_mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CONF.10: a token the server refuses is dropped; a fresh one is asked once; if refused again, MssAuthError."""
    expired = mss_operator.issue_token(DOCTOR_BOX, lifetime=-60)
    calls: list[str] = []

    def stale(address: str, endpoint: Any) -> Any:
        calls.append(address)
        return tokens._Token(value=expired, expires_at=float("inf"))

    monkeypatch.setattr(tokens, "_request_token", stale)
    with pytest.raises(MssAuthError, match="refuse l'authentification"):
        with smtp_session(doctor_mailbox):
            pass
    assert calls == [DOCTOR_BOX, DOCTOR_BOX] and len(tokens._cache) == 0
    monkeypatch.undo()
    with smtp_session(doctor_mailbox) as smtp:  # a real token from the endpoint: accepted
        assert smtp.rset()[0] == 250
    assert DOCTOR_BOX in tokens._cache


@pytest.mark.django_db(transaction=True)
def test_an_application_mailbox_uses_its_certificate_and_plain(mss_operator: MssSandbox, doctor: Any) -> None:
    app = Mailbox.objects.create(address="logiciel.cabinet@test.mssante.fr", kind=MailboxKind.APP)
    with smtp_session(app) as smtp:
        assert smtp.rset()[0] == 250
    with imap_session(app) as client:
        assert client.select_folder("INBOX")[b"UIDVALIDITY"]
    assert {(e["protocol"].lower(), e["mechanism"].upper(), e["ok"]) for e in mss_operator.auth_log()} >= {
        ("smtp", "PLAIN", True),
        ("imap", "PLAIN", True),
    }
    assert len(tokens._cache) == 0  # no token for an APP mailbox


@pytest.mark.django_db(transaction=True)
def test_an_imap_session_closed_by_the_server_is_reopened(mss_operator: MssSandbox, doctor_mailbox: Mailbox) -> None:
    """CONF.11: the operator drops the connection; `imap_call` reopens a session and runs the action again."""
    from twisted.internet import reactor
    from twisted.internet.threads import blockingCallFromThread

    from caducee.mss.transport import imap_call

    attempts: list[int] = []

    def drop_all() -> None:
        for factory in mss_operator._factories:
            for session in list(factory.sessions):
                session.transport.abortConnection()

    def action(client: Any) -> list[int]:
        attempts.append(1)
        if len(attempts) == 1:
            blockingCallFromThread(reactor, drop_all)
        client.select_folder("INBOX")
        return list(client.search(["ALL"]))

    assert imap_call(doctor_mailbox, action) == []
    assert len(attempts) == 2


@pytest.mark.django_db(transaction=True)
def test_tokens_are_cached_in_memory_refreshed_before_expiry_and_never_stored(
    mss_operator: MssSandbox,
    doctor: Any,
    doctor_mailbox: Mailbox,
    colleague_mailbox: Mailbox,
    qual_patient: Any,
    letter: Any,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    import requests

    from caducee.core.models import AuditEvent

    posts: list[str] = []
    real_post = requests.post

    def counting_post(url: str, **kwargs: Any) -> Any:
        posts.append(kwargs["data"]["login_hint"])
        return real_post(url, **kwargs)

    monkeypatch.setattr(tokens.requests, "post", counting_post)
    first = tokens.access_token(doctor_mailbox)
    assert tokens.access_token(doctor_mailbox) == first and posts == [DOCTOR_BOX]  # cached
    # 100 s later the sandbox's 120 s token is within the 30 s margin: a new one is asked for.
    later = tokens.time.monotonic() + 100
    monkeypatch.setattr(tokens.time, "monotonic", lambda: later)
    tokens.access_token(doctor_mailbox)
    assert posts == [DOCTOR_BOX, DOCTOR_BOX]
    monkeypatch.undo()

    mss_send(actor=doctor, patient=qual_patient, documents=[letter], recipients=[COLLEAGUE_BOX])
    _worker()
    token = tokens.access_token(doctor_mailbox)
    stored = json.dumps(
        [list(AuditEvent.objects.values()), list(Delivery.objects.values()), list(OutboundMessage.objects.values())],
        default=str,
    )
    assert token not in stored and "Bearer" not in stored  # SC.MSS/CONF.28
    data_dir = Path(settings.DATA_DIR)
    written = [p for p in data_dir.rglob("*") if p.is_file() and "sandbox" not in p.relative_to(data_dir).parts]
    assert not any(token.encode() in p.read_bytes() for p in written)
