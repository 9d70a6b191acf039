"""IMAP synchronisation against the real MSS sandbox operator (STARTTLS, XOAUTH2 tokens over mutual TLS): messages
taken in by UID and filed, never duplicated on a replay, UIDVALIDITY changes, slices streamed to disk, hostile
messages quarantined without stopping the synchronisation, operator failures recorded (issue 5 §4, §8)."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.core.management import call_command

from caducee.mss import sync
from caducee.mss.models import InboundMessage, Mailbox, MailboxKind, ReceivedDocument
from caducee.mss.store import store_path
from caducee.mss.sync import sync_all, sync_mailbox
from tests.documents.cda_records import qualify
from tests.mss import hostile
from tests.sandbox.mss_fixtures import imap_session, smtp_session

pytestmark = pytest.mark.django_db(transaction=True)

SENDER = "anne.leroy@test.mssante.fr"
RECEIVER = "claire.martin@test.mssante.fr"


@pytest.fixture
def mailbox(doctor) -> Mailbox:  # type: ignore[no-untyped-def]
    return Mailbox.objects.create(address=RECEIVER, kind=MailboxKind.PER, owner=doctor, display_name="MARTIN Claire")


def _deliver(mss_operator, pki, raw: bytes, *, to: str = RECEIVER, count: int = 1) -> None:  # type: ignore[no-untyped-def]
    """Submit as the outside doctor, then wait until the operator put it in the receiver's INBOX."""
    client = smtp_session(mss_operator, pki, SENDER)
    try:
        before = _inbox_size(mss_operator, pki, to)
        client.sendmail(SENDER, [to], raw)
    finally:
        client.quit()
    deadline = time.monotonic() + 10
    while _inbox_size(mss_operator, pki, to) < before + count:
        assert time.monotonic() < deadline, "message never delivered by the sandbox"
        time.sleep(0.05)


def _inbox_size(mss_operator, pki, address: str) -> int:  # type: ignore[no-untyped-def]
    client = imap_session(mss_operator, pki, address)
    try:
        return int(client.select_folder("INBOX")[b"EXISTS"])
    finally:
        client.logout()


def test_a_vsm_is_taken_in_by_uid_and_filed(mss_operator, mss_pki, mailbox, practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = qualify(make_patient())
    raw = hostile.mail(
        sender=SENDER,
        to=RECEIVER,
        attachments=[
            ("IHE_XDM.zip", hostile.xdm_of(hostile.vsm_cda(practice, doctor, patient)), "application/zip"),
            ("synthese.pdf", hostile.PDF, "application/pdf"),
        ],
    )
    _deliver(mss_operator, mss_pki, raw)
    result = sync_mailbox(mailbox)
    assert result.error == "" and result.fetched == 1
    mailbox.refresh_from_db()
    assert mailbox.last_uid == result.last_uid > 0 and mailbox.uid_validity == result.uid_validity
    assert mailbox.last_error == "" and mailbox.last_sync_at is not None
    inbound = InboundMessage.objects.get()
    assert (inbound.mailbox, inbound.uid, inbound.uid_validity) == (mailbox, mailbox.last_uid, mailbox.uid_validity)
    (received,) = inbound.documents.all()
    assert received.state == ReceivedDocument.State.FILED and received.patient == patient
    assert bytes(received.document.pdf) == hostile.PDF
    # What was stored is what the server holds (BODY.PEEK[]: left unread on the server).
    client = imap_session(mss_operator, mss_pki, RECEIVER)
    try:
        client.select_folder("INBOX")
        held = client.fetch([mailbox.last_uid], ["BODY.PEEK[]", "FLAGS"])[mailbox.last_uid]
    finally:
        client.logout()
    assert store_path(inbound.raw_path).read_bytes() == held[b"BODY[]"]
    assert b"\\Seen" not in held[b"FLAGS"]
    # Nothing new: nothing taken; a replay from an older UID (crash before last_uid moved) duplicates nothing.
    assert sync_mailbox(mailbox).fetched == 0
    Mailbox.objects.filter(pk=mailbox.pk).update(last_uid=0)
    mailbox.refresh_from_db()
    sync_mailbox(mailbox)
    assert InboundMessage.objects.count() == 1 and ReceivedDocument.objects.count() == 1


def test_uidvalidity_change_restarts_from_the_first_uid(mss_operator, mss_pki, mailbox) -> None:  # type: ignore[no-untyped-def]
    _deliver(mss_operator, mss_pki, hostile.mail(sender=SENDER, to=RECEIVER, body="premier"))
    first = sync_mailbox(mailbox)
    Mailbox.objects.filter(pk=mailbox.pk).update(uid_validity=first.uid_validity - 1, last_uid=first.last_uid)
    mailbox.refresh_from_db()
    again = sync_mailbox(mailbox)
    assert again.reset and again.fetched == 1 and again.uid_validity == first.uid_validity
    mailbox.refresh_from_db()
    assert mailbox.uid_validity == first.uid_validity and mailbox.last_uid == first.last_uid
    # The message read again under the new numbering is recognised by its Message-ID: no second inbox row.
    assert InboundMessage.objects.count() == 1


def test_large_message_is_fetched_in_slices(mss_operator, mss_pki, mailbox, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sync, "SLICE_BYTES", 4096)
    raw = hostile.mail(
        sender=SENDER, to=RECEIVER, attachments=[("annexe.pdf", b"%PDF-" + bytes(range(256)) * 200, "application/pdf")]
    )
    _deliver(mss_operator, mss_pki, raw)
    assert sync_mailbox(mailbox).fetched == 1
    inbound = InboundMessage.objects.get()
    assert inbound.size > 10 * 4096
    client = imap_session(mss_operator, mss_pki, RECEIVER)
    try:
        client.select_folder("INBOX")
        held = client.fetch([inbound.uid], ["BODY.PEEK[]"])[inbound.uid][b"BODY[]"]
    finally:
        client.logout()
    assert store_path(inbound.raw_path).read_bytes() == held


def test_hostile_message_is_quarantined_and_the_next_one_still_taken(
    mss_operator,
    mss_pki,
    mailbox,
    practice,
    doctor,
    make_patient,
) -> None:  # type: ignore[no-untyped-def]
    patient = qualify(make_patient())
    valid = hostile.xdm_of(hostile.vsm_cda(practice, doctor, patient))
    _deliver(
        mss_operator,
        mss_pki,
        hostile.mail(
            sender=SENDER, to=RECEIVER, attachments=[("IHE_XDM.zip", hostile.bomb_zip(valid), "application/zip")]
        ),
    )
    _deliver(mss_operator, mss_pki, hostile.MALFORMED_MIME.replace(b"y@demo.mssante.fr", RECEIVER.encode()))
    _deliver(
        mss_operator,
        mss_pki,
        hostile.mail(sender=SENDER, to=RECEIVER, attachments=[("IHE_XDM.zip", valid, "application/zip")]),
    )
    out = StringIO()
    call_command("mss", "sync", stdout=out)
    assert out.getvalue().strip().startswith(f"{RECEIVER} : 3 message(s) reçu(s)")
    states = [(m.error != "", [d.state for d in m.documents.all()]) for m in InboundMessage.objects.order_by("uid")]
    assert states == [(False, ["quarantined"]), (True, []), (False, ["filed"])]


def test_operator_failure_is_recorded_and_other_mailboxes_go_on(mss_operator, mss_pki, mailbox, doctor) -> None:  # type: ignore[no-untyped-def]
    _deliver(mss_operator, mss_pki, hostile.mail(sender=SENDER, to=RECEIVER))
    broken = Mailbox.objects.create(address="cassee@ailleurs.example", kind=MailboxKind.ORG)
    results = {r.mailbox: r for r in sync_all()}
    broken.refresh_from_db()
    assert results[broken.address].error and broken.last_error == results[broken.address].error
    assert results[RECEIVER].fetched == 1 and results[RECEIVER].error == ""
    mss_operator.stop()
    failed = sync_mailbox(mailbox)
    mailbox.refresh_from_db()
    assert failed.error and mailbox.last_error == failed.error and "MSSanté" in failed.error


def test_a_vsm_from_doctor_a_is_filed_in_doctor_b_inbox_and_a_sees_it_delivered(
    mss_operator,
    mss_pki,
    practice,
    doctor,
    make_patient,
) -> None:  # type: ignore[no-untyped-def]
    """Issue 5 acceptance, first bullet, in one practice: A's VSM → outbox → SMTP → B's INBOX → sync → B's chart;
    the DSN and the automatic-integration MDN come back to A's INBOX and move A's message forward."""
    from caducee.accounts.models import Role, User
    from caducee.core.outbox import run_worker
    from caducee.documents.production import vsm_create
    from caducee.mss.models import OutboundMessage
    from caducee.mss.services import mss_send

    other = User.objects.create_user(
        username="bernard",
        password="Un-mot-de-passe-long-2026",
        role=Role.MEDECIN,
        last_name="BERNARD",
        rpps="89970023456",
        profession_code="10",
    )
    box_a = Mailbox.objects.create(address="claire.martin@demo.mssante.fr", owner=doctor, display_name="MARTIN")
    box_b = Mailbox.objects.create(address="hugo.bernard@demo.mssante.fr", owner=other, display_name="BERNARD")
    patient = qualify(make_patient())
    vsm = vsm_create(actor=doctor, patient=patient)
    sent = mss_send(actor=doctor, patient=patient, documents=[vsm], recipients=[box_b.address], mailbox=box_a)
    run_worker(until_idle=True)
    deadline = time.monotonic() + 10
    while not InboundMessage.objects.filter(mailbox=box_b).exists():
        assert time.monotonic() < deadline, "never received by B"
        sync_all()
        time.sleep(0.1)
    received = ReceivedDocument.objects.get(message__mailbox=box_b)
    assert received.state == ReceivedDocument.State.FILED and received.patient == patient
    assert received.document == vsm  # the practice's own document: not stored twice
    run_worker(until_idle=True)  # B's MDN "processed"
    deadline = time.monotonic() + 10
    while True:
        sync_all()
        sent.refresh_from_db()
        if sent.state == OutboundMessage.State.INTEGRATED or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    reports = set(InboundMessage.objects.filter(mailbox=box_a).values_list("kind", flat=True))
    assert reports == {"dsn", "mdn"}
    assert sent.state == OutboundMessage.State.INTEGRATED, sent.state


def test_the_loop_survives_a_failing_pass(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    passes: list[int] = []

    def failing() -> None:
        passes.append(1)
        raise RuntimeError("base de données indisponible")

    monkeypatch.setattr(sync, "sync_all", failing)
    sync.sync_forever(interval=0, stop=lambda: len(passes) >= 3)
    assert len(passes) == 3


def test_rescore_command(practice) -> None:  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command("mss", "rescore", stdout=out)
    assert out.getvalue().strip() == "Liste de travail recalculée : 0 document(s) rattaché(s) automatiquement."
