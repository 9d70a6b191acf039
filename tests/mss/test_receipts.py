"""DSN (RFC 3464) and MDN (RFC 8098) matched to the sent message and moving its recipients' states; MDNs returned
only when asked by the sender itself, and readable by the same code that applies them (round trip)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import Message
from typing import Any

import pytest

from caducee.core.models import Delivery
from caducee.mss.models import InboundMessage, Mailbox, MailboxKind, OutboundMessage
from caducee.mss.receipts import build_mdn, disposition_state, mdn_send, report_apply, xtext_encode
from tests.mss.conftest import COLLEAGUE_BOX, DOCTOR_BOX

S = OutboundMessage.State
OTHER_BOX = "anne.leroy@test.mssante.fr"


def _parse(raw: str) -> Message:
    return email.message_from_bytes(raw.replace("\n", "\r\n").encode(), policy=email.policy.default)


def dsn(original_id: str, blocks: list[dict[str, str]], *, envid: bool = True, headers: bool = True) -> Message:
    """A DSN as an MTA writes it (RFC 3464 §2)."""
    per_message = "Reporting-MTA: dns; mx.test.mssante.fr\n"
    if envid:
        per_message += f"Original-Envelope-Id: {xtext_encode(original_id)}\n"
    recipients = "".join("\n" + "".join(f"{k}: {v}\n" for k, v in block.items()) for block in blocks)
    returned = (
        f"\n--B\nContent-Type: text/rfc822-headers\n\nMessage-ID: <{original_id}>\nSubject: x\n" if headers else ""
    )
    return _parse(
        "From: MAILER-DAEMON@test.mssante.fr\nTo: " + DOCTOR_BOX + "\nSubject: Avis de remise\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nAvis.\n"
        f"--B\nContent-Type: message/delivery-status\n\n{per_message}{recipients}"
        f"{returned}\n--B--\n"
    )


def mdn(original_id: str, disposition: str, *, final: str = COLLEAGUE_BOX, error: str = "") -> Message:
    fields = f"Final-Recipient: rfc822; {final}\nOriginal-Message-ID: <{original_id}>\nDisposition: {disposition}\n"
    if error:
        fields += f"Error: {error}\n"
    return _parse(
        f"From: {final}\nTo: {DOCTOR_BOX}\nSubject: Lu\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nLu.\n"
        f"--B\nContent-Type: message/disposition-notification\n\n{fields}\n--B--\n"
    )


@pytest.fixture
def sent(doctor: Any, doctor_mailbox: Any) -> OutboundMessage:
    message = OutboundMessage.objects.create(
        mailbox=doctor_mailbox, author=doctor, message_id="abc123@test.mssante.fr", subject="s", state=S.SENT
    )
    for address in (COLLEAGUE_BOX, OTHER_BOX):
        message.recipients.create(address=address, state=S.SENT)
    return message


def _states(message: OutboundMessage) -> tuple[str, dict[str, tuple[str, str]]]:
    message.refresh_from_db()
    return message.state, {r.address: (r.state, r.state_reason) for r in message.recipients.all()}


@pytest.mark.django_db
def test_delivered_dsn_moves_recipients_to_remis(sent: OutboundMessage) -> None:
    report = dsn(
        sent.message_id, [{"Final-Recipient": f"rfc822; {COLLEAGUE_BOX}", "Action": "delivered", "Status": "2.0.0"}]
    )
    assert report_apply(msg=report) is True
    state, recipients = _states(sent)
    assert recipients[COLLEAGUE_BOX] == (S.DELIVERED, "") and recipients[OTHER_BOX][0] == S.SENT
    assert state == S.SENT  # the least advanced of the recipients
    assert report_apply(msg=dsn(sent.message_id, [{"Final-Recipient": f"rfc822;{OTHER_BOX}", "Action": "delivered"}]))
    assert _states(sent)[0] == S.DELIVERED


@pytest.mark.django_db
def test_failed_dsn_is_an_error_with_the_reason(sent: OutboundMessage) -> None:
    report = dsn(
        sent.message_id,
        [
            {
                "Final-Recipient": f"rfc822; {OTHER_BOX}",
                "Action": "failed",
                "Status": "5.1.1",
                "Diagnostic-Code": "smtp; 550 5.1.1 Utilisateur inconnu",
            }
        ],
        envid=False,  # matched by the returned headers
    )
    assert report_apply(msg=report)
    state, recipients = _states(sent)
    assert recipients[OTHER_BOX] == (S.ERROR, "Non remis : 550 5.1.1 Utilisateur inconnu, statut 5.1.1")
    assert state == S.ERROR
    sent.refresh_from_db()
    assert sent.state_reason == f"{OTHER_BOX} : Non remis : 550 5.1.1 Utilisateur inconnu, statut 5.1.1"


@pytest.mark.django_db
def test_delayed_dsn_keeps_the_state_and_notes_why(sent: OutboundMessage) -> None:
    block = {"Final-Recipient": f"rfc822; {COLLEAGUE_BOX}", "Action": "delayed", "Status": "4.4.1"}
    assert report_apply(msg=dsn(sent.message_id, [block], headers=False))
    assert _states(sent)[1][COLLEAGUE_BOX] == (S.SENT, "Remise retardée : statut 4.4.1")


@pytest.mark.django_db
def test_mdn_integrated_then_read_and_never_backwards(sent: OutboundMessage) -> None:
    """Automatic filing at synchronisation ("processed" → intégré), then the colleague opens it ("displayed" → lu)."""
    assert report_apply(msg=mdn(sent.message_id, "automatic-action/MDN-sent-automatically; processed"))
    assert _states(sent)[1][COLLEAGUE_BOX][0] == S.INTEGRATED
    assert report_apply(msg=mdn(sent.message_id, "manual-action/MDN-sent-manually; displayed"))
    assert _states(sent)[1][COLLEAGUE_BOX][0] == S.READ
    # A late DSN "delivered" or a late "processed" does not move a read message back.
    report_apply(msg=dsn(sent.message_id, [{"Final-Recipient": f"rfc822; {COLLEAGUE_BOX}", "Action": "delivered"}]))
    report_apply(msg=mdn(sent.message_id, "automatic-action/MDN-sent-automatically; processed"))
    assert _states(sent)[1][COLLEAGUE_BOX][0] == S.READ


@pytest.mark.django_db
def test_mdn_integration_error_carries_code_and_label(sent: OutboundMessage) -> None:
    # struct-msg-mdn.md writes the error inside the Disposition; the Error field is the RFC 8098 form.
    assert report_apply(
        msg=mdn(
            sent.message_id,
            "automatic-action/MDN-sent-automatically; processed/Error: 902^Identifiant patient inconnu",
            final=OTHER_BOX,
        )
    )
    state, recipients = _states(sent)
    assert recipients[OTHER_BOX] == (S.ERROR, "Non intégré par le destinataire : 902^Identifiant patient inconnu")
    assert state == S.ERROR


def test_disposition_state_table() -> None:
    assert disposition_state("automatic-action/MDN-sent-automatically; processed") == (S.INTEGRATED, "")
    assert disposition_state("manual-action/MDN-sent-manually; displayed") == (S.READ, "")
    assert disposition_state("manual-action/MDN-sent-manually; deleted")[0] == S.DELIVERED
    assert disposition_state("automatic-action/MDN-sent-automatically; processed/error", "903^INS absent") == (
        S.ERROR,
        "Non intégré par le destinataire : 903^INS absent",
    )


@pytest.mark.django_db
def test_an_ordinary_message_or_an_unknown_report_is_not_applied(sent: OutboundMessage) -> None:
    plain = _parse(f"From: {COLLEAGUE_BOX}\nSubject: bonjour\nMessage-ID: <zz@x>\n\nBonjour\n")
    assert report_apply(msg=plain) is False
    assert report_apply(msg=mdn("inconnu@ailleurs.fr", "automatic-action/MDN-sent-automatically; processed")) is True
    assert _states(sent)[1][COLLEAGUE_BOX][0] == S.SENT


@pytest.mark.django_db
def test_an_mdn_is_returned_only_when_the_sender_asked_for_it(doctor_mailbox: Any) -> None:
    asked = InboundMessage.objects.create(
        mailbox=doctor_mailbox, message_id="m1@x.mssante.fr", sender=COLLEAGUE_BOX, mdn_to=COLLEAGUE_BOX, subject="s"
    )
    other = InboundMessage.objects.create(
        mailbox=doctor_mailbox, message_id="m2@x.mssante.fr", sender=COLLEAGUE_BOX, mdn_to="ailleurs@x.fr"
    )
    silent = InboundMessage.objects.create(mailbox=doctor_mailbox, message_id="m3@x.mssante.fr", sender=COLLEAGUE_BOX)
    report = InboundMessage.objects.create(
        mailbox=doctor_mailbox, kind=InboundMessage.Kind.MDN, sender=COLLEAGUE_BOX, mdn_to=COLLEAGUE_BOX
    )
    for inbound in (asked, other, silent, report):
        mdn_send(inbound=inbound, disposition="processed")
    mdn_send(inbound=asked, disposition="processed")  # twice: one delivery
    mdn_send(inbound=asked, disposition="displayed")
    deliveries = Delivery.objects.filter(channel="mss", action="mdn").order_by("id")
    assert [d.document_unique_id for d in deliveries] == [f"mdn:{asked.pk}:processed", f"mdn:{asked.pk}:displayed"]
    assert list(InboundMessage.objects.filter(mdn_sent=True)) == [asked]


@pytest.mark.django_db
def test_our_mdn_is_understood_by_the_sender_side(doctor: Any, doctor_mailbox: Any) -> None:
    """Round trip: the MDN built for a received message, applied on the side that sent it."""
    colleague_box = Mailbox.objects.create(address=COLLEAGUE_BOX, kind=MailboxKind.PER, display_name="BERNARD Hugo")
    original = OutboundMessage.objects.create(
        mailbox=doctor_mailbox, author=doctor, message_id="orig@test.mssante.fr", subject="XDM/1.0/DDM+Lettre élevée"
    )
    original.recipients.create(address=COLLEAGUE_BOX, state=S.DELIVERED)
    received = InboundMessage(
        mailbox=colleague_box,
        message_id="orig@test.mssante.fr",
        sender=DOCTOR_BOX,
        mdn_to=DOCTOR_BOX,
        subject="XDM/1.0/DDM+Lettre élevée",
    )
    when = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
    ok = build_mdn(received, colleague_box, disposition="processed", message_id="mdn1@test.mssante.fr", date=when)
    wire = email.message_from_bytes(ok.as_bytes(), policy=email.policy.default)
    assert wire.get_content_type() == "multipart/report"
    assert wire.get_param("report-type") == "disposition-notification"
    assert wire["X-MSS-NIL"] and wire["Subject"] == "XDM/1.0/DDM+Lettre élevée"
    assert report_apply(msg=wire)
    assert _states(original)[1][COLLEAGUE_BOX][0] == S.INTEGRATED

    ko = build_mdn(
        received,
        colleague_box,
        disposition="processed",
        error="902^Identifiant patient inconnu",
        message_id="mdn2@test.mssante.fr",
        date=when,
    )
    wire = email.message_from_bytes(ko.as_bytes(), policy=email.policy.default)
    assert wire["Subject"] == "[KO Intégration système !][902] XDM/1.0/DDM+Lettre élevée"
    assert "Identifiant patient inconnu" in ko.as_string()
    assert report_apply(msg=wire)
    assert _states(original)[1][COLLEAGUE_BOX] == (
        S.ERROR,
        "Non intégré par le destinataire : 902^Identifiant patient inconnu",
    )
