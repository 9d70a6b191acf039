"""Delivery (DSN) and read (MDN) receipts: matched to the messages we sent, and MDNs returned when asked.

Incoming (`report_apply`, SC.MSS/UX.30/35):
* a DSN (RFC 3464: `multipart/report; report-type=delivery-status`) has one block per recipient with `Action`
  (delivered, failed, delayed, relayed, expanded), `Status` and `Diagnostic-Code`: delivered → "remis", failed →
  "erreur" with the reason shown to the user, delayed → state kept, reason noted;
* an MDN (RFC 8098: `report-type=disposition-notification`) has `Disposition: <mode>; <type>[/error]` and for the
  MSSanté integration profile an `Error: code^libellé` (ig_hl7v2_courriel_mss struct-msg-mdn.md): displayed → "lu",
  processed → "intégré", dispatched / deleted → at least "remis", an error → "erreur" with the code and label;
* the original message is found by `Original-Message-ID` (MDN), the `Original-Envelope-Id` we set (ENVID, DSN),
  the Message-ID in the returned headers (`text/rfc822-headers` or `message/rfc822`), or In-Reply-To/References;
  the recipient by `Original-Recipient`, else `Final-Recipient`.
A recipient's state only moves forward (queued < envoyé < remis < intégré < lu), except to "erreur"; the message's
state is "erreur" when any recipient is in error, else the least advanced of its recipients.

Outgoing (`mdn_send`, SC.MSS/UX.34; struct-msg-mdn.md): only for a received message (never for a report) whose
sender asked (`Disposition-Notification-To`) and whose request names the sender itself (RFC 8098 §2.1: no automatic
MDN when Disposition-Notification-To differs from the return path — a loop or a forgery). The MDN goes through the
outbox (channel "mss", action "mdn", one per received message and disposition type): durable, retried, never twice.
Its subject is the original's, prefixed `[KO Intégration système !][code] ` on error.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import logging
import re
from collections.abc import Iterable
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, HeaderParser
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from caducee.core.outbox import delivery_enqueue
from caducee.mss.compose import new_message_id, software_nil
from caducee.mss.models import InboundMessage, Mailbox, MailboxKind, OutboundMessage, OutboundRecipient

logger = logging.getLogger(__name__)

State = OutboundMessage.State
# "intégré" (the receiving software filed the document, automatic MDN "processed") comes before "lu" (a person opened
# it, MDN "displayed"): with automatic filing (SC.MSS/UX.07) the integration happens at synchronisation, before anyone
# reads, and the read is the last news the sender can get (issue 5 acceptance: remis, then lu).
ORDER: dict[str, int] = {State.QUEUED: 0, State.SENT: 1, State.DELIVERED: 2, State.INTEGRATED: 3, State.READ: 4}
MDN_ERROR_PREFIX = "[KO Intégration système !]"
MAX_RETURNED_HEADERS = 64 * 1024
_ID_RE = re.compile(r"<([^<>\s]+)>")


# --- states -----------------------------------------------------------------------------------------------------


def recipient_update(*, recipient: OutboundRecipient, state: str, reason: str = "") -> bool:
    """Move a recipient to `state` if it is a step forward (or an error); returns whether it changed."""
    current = recipient.state
    if state == State.ERROR or current == State.ERROR or ORDER.get(state, 0) > ORDER.get(current, 0):
        if state == current and reason == recipient.state_reason:
            return False
        recipient.state = state
        recipient.state_reason = reason
        recipient.updated_at = timezone.now()
        recipient.save(update_fields=["state", "state_reason", "updated_at"])
        return True
    if reason and state == current and reason != recipient.state_reason:
        recipient.state_reason = reason
        recipient.save(update_fields=["state_reason"])
    return False


def message_state_refresh(*, message: OutboundMessage) -> str:
    """The message's state from its recipients': error if any, else the least advanced (see the module docstring)."""
    rows = list(message.recipients.order_by("id").values_list("address", "state", "state_reason"))
    errors = [(address, reason) for address, state, reason in rows if state == State.ERROR]
    state: str
    reason: str
    if errors:
        state = State.ERROR
        reason = " ; ".join(f"{address} : {reason or 'erreur'}" for address, reason in errors)
    elif rows:
        state = min((r[1] for r in rows), key=lambda s: ORDER.get(s, 0))
        reason = ""
    else:
        state, reason = message.state, message.state_reason
    if (state, reason) != (message.state, message.state_reason):
        message.state, message.state_reason, message.updated_at = state, reason, timezone.now()
        message.save(update_fields=["state", "state_reason", "updated_at"])
    return state


# --- parsing ----------------------------------------------------------------------------------------------------


def _address(field: str | None) -> str:
    """`rfc822; someone@example.org` → `someone@example.org`."""
    value = str(field or "").strip()
    if ";" in value:
        value = value.split(";", 1)[1]
    return value.strip().strip("<>").strip()


def _ids(value: object) -> list[str]:
    text = str(value or "")
    found = _ID_RE.findall(text)
    if found:
        return found
    bare = text.strip()
    return [bare] if bare and " " not in bare else []


def xtext_decode(value: str) -> str:
    """RFC 3461 xtext (`+XX` hexadecimal escapes), as used in ENVID / Original-Envelope-Id."""
    return re.sub(r"\+([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value or "")


def xtext_encode(value: str) -> str:
    return "".join(ch if 33 <= ord(ch) <= 126 and ch not in "+=" else f"+{ord(ch):02X}" for ch in value)


def _returned_headers(report: Message) -> Message | None:
    for part in report.walk():
        kind = part.get_content_type()
        if kind == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return BytesHeaderParser(policy=email.policy.default).parsebytes(payload)
            return HeaderParser(policy=email.policy.default).parsestr(str(part.get_payload()))
        if kind == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
    return None


def _status_blocks(report: Message, kind: str) -> list[Message]:
    for part in report.walk():
        if part.get_content_type() == kind:
            payload = part.get_payload()
            if isinstance(payload, list):
                return [p for p in payload if isinstance(p, Message)]
            text = payload if isinstance(payload, str) else ""
            return [HeaderParser(policy=email.policy.default).parsestr(b) for b in re.split(r"\r?\n\r?\n", text) if b]
    return []


def _find_message(candidates: Iterable[str]) -> OutboundMessage | None:
    ids = [c.strip().strip("<>") for c in candidates if c and c.strip()]
    if not ids:
        return None
    return OutboundMessage.objects.filter(message_id__in=ids).order_by("id").first()


def _recipient(message: OutboundMessage, *addresses: str) -> OutboundRecipient | None:
    for address in addresses:
        if address:
            found = message.recipients.filter(address__iexact=address).first()
            if found is not None:
                return found
    rows = list(message.recipients.all()[:2])
    return rows[0] if len(rows) == 1 else None  # a single recipient: the report can only be about it


def is_report(msg: Message) -> str:
    """ "dsn", "mdn" or "" for an ordinary message."""
    if msg.get_content_type() != "multipart/report":
        return ""
    kind = str(msg.get_param("report-type", "") or "").lower()
    if kind == "delivery-status":
        return "dsn"
    if kind == "disposition-notification":
        return "mdn"
    types = {p.get_content_type() for p in msg.walk()}
    if "message/delivery-status" in types:
        return "dsn"
    if "message/disposition-notification" in types:
        return "mdn"
    return ""


def report_apply(*, msg: Message) -> bool:
    """Apply a DSN or an MDN to the message it is about (see the module docstring); False for anything else."""
    kind = is_report(msg)
    if not kind:
        return False
    headers = _returned_headers(msg)
    returned_id = _ids(headers.get("Message-ID")) if headers is not None else []
    with transaction.atomic():
        if kind == "dsn":
            _apply_dsn(msg, returned_id)
        else:
            _apply_mdn(msg, returned_id)
    return True


def _apply_dsn(msg: Message, returned_id: list[str]) -> None:
    blocks = _status_blocks(msg, "message/delivery-status")
    envelope = blocks[0] if blocks else Message()
    candidates = [xtext_decode(str(envelope.get("Original-Envelope-Id", "")).strip()), *returned_id]
    candidates += _ids(msg.get("In-Reply-To")) + _ids(msg.get("References"))
    message = _find_message(candidates)
    if message is None:
        logger.info("DSN sans message d'origine connu (%s)", msg.get("Message-ID", ""))
        return
    for block in blocks[1:] or blocks[:1]:
        action = str(block.get("Action", "")).strip().lower()
        if not action:
            continue
        recipient = _recipient(
            message, _address(block.get("Original-Recipient")), _address(block.get("Final-Recipient"))
        )
        if recipient is None:
            continue
        status = str(block.get("Status", "")).strip()
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
        if diagnostic.lower().startswith("smtp;"):
            diagnostic = diagnostic[5:].strip()
        detail = ", ".join(p for p in (diagnostic, f"statut {status}" if status else "") if p)
        if action == "delivered":
            recipient_update(recipient=recipient, state=State.DELIVERED)
        elif action == "failed":
            recipient_update(
                recipient=recipient,
                state=State.ERROR,
                reason=f"Non remis : {detail or 'refusé par le serveur du destinataire'}",
            )
        elif action == "delayed":
            recipient_update(
                recipient=recipient,
                state=recipient.state,
                reason=f"Remise retardée : {detail or 'nouvel essai en cours'}",
            )
        # relayed / expanded: handed to a system that sends no receipts; nothing more will come.
    message_state_refresh(message=message)


def _apply_mdn(msg: Message, returned_id: list[str]) -> None:
    blocks = _status_blocks(msg, "message/disposition-notification")
    fields = blocks[0] if blocks else Message()
    candidates = _ids(fields.get("Original-Message-ID")) + returned_id
    candidates += _ids(msg.get("In-Reply-To")) + _ids(msg.get("References"))
    message = _find_message(candidates)
    if message is None:
        logger.info("MDN sans message d'origine connu (%s)", msg.get("Message-ID", ""))
        return
    sender = email.utils.parseaddr(str(msg.get("From", "")))[1]
    recipient = _recipient(
        message, _address(fields.get("Original-Recipient")), _address(fields.get("Final-Recipient")), sender
    )
    if recipient is None:
        return
    disposition = " ".join(str(fields.get("Disposition", "")).split())
    state, reason = disposition_state(disposition, str(fields.get("Error", "") or ""))
    recipient_update(recipient=recipient, state=state, reason=reason)
    message_state_refresh(message=message)


def disposition_state(disposition: str, error_field: str = "") -> tuple[str, str]:
    """(recipient state, reason) for an RFC 8098 Disposition (and the MSSanté `Error:` field)."""
    value = disposition.split(";", 1)[1] if ";" in disposition else disposition
    kind, _, modifiers = value.strip().partition("/")
    kind = kind.strip().lower()
    error = error_field.strip()
    match = re.search(r"error\s*:\s*(.+)$", modifiers, re.IGNORECASE)
    if match:
        error = error or match.group(1).strip()
    if error or "error" in modifiers.lower():
        return State.ERROR, f"Non intégré par le destinataire : {error or 'erreur sans précision'}"
    if kind == "displayed":
        return State.READ, ""
    if kind == "processed":
        return State.INTEGRATED, ""
    if kind == "deleted":
        return State.DELIVERED, "Supprimé par le destinataire."
    return State.DELIVERED, ""


# --- returning an MDN -------------------------------------------------------------------------------------------


def mdn_allowed(inbound: InboundMessage) -> bool:
    """RFC 8098 §2.1 / struct-msg-mdn.md: asked, by the sender itself, about a message (not a report)."""
    if inbound.kind != InboundMessage.Kind.MESSAGE or not inbound.mdn_to or not inbound.sender:
        return False
    asked = email.utils.parseaddr(inbound.mdn_to)[1].lower()
    return bool(asked) and asked == email.utils.parseaddr(inbound.sender)[1].lower()


def mdn_send(*, inbound: InboundMessage, disposition: str = "processed", error: str = "") -> None:
    """Queue the MDN of a received message (see the module docstring); nothing when it may not be sent.

    `disposition`: displayed (read by the user), processed (integrated automatically), dispatched, deleted.
    `error`: `code^libellé` (ig_hl7v2_courriel_mss error-codes.md, e.g. `902^Identifiant patient inconnu`)."""
    if disposition not in ("displayed", "processed", "dispatched", "deleted"):
        raise ValueError(f"disposition inconnue : {disposition}")
    if not mdn_allowed(inbound):
        return
    from caducee.mss.services import ACTION_MDN, CHANNEL

    mailbox = inbound.mailbox or Mailbox.objects.filter(kind=MailboxKind.ORG, is_active=True).order_by("id").first()
    if mailbox is None:
        return
    key = f"mdn:{inbound.pk}:{disposition}"
    with transaction.atomic(savepoint=False):  # nested in the intake: no savepoint round trip
        delivery_enqueue(
            channel=CHANNEL,
            document=None,
            action=ACTION_MDN,
            unique_id=key,
            payload={
                "inbound": inbound.pk,
                "mailbox": mailbox.pk,
                "disposition": disposition,
                "error": error,
                "message_id": new_message_id(mailbox.address),  # fixed now: a resend carries the same id
                "date": timezone.now().isoformat(),
            },
        )
        InboundMessage.objects.filter(pk=inbound.pk).update(mdn_sent=True)
        inbound.mdn_sent = True


def _original_headers(inbound: InboundMessage) -> str:
    """The original's header block (text/rfc822-headers, 7-bit): the stored raw message's own header lines when there
    is one, else the headers we know, RFC 2047-encoded."""
    if inbound.raw_path:
        try:
            from caducee.mss.store import open_stored

            with open_stored(inbound.raw_path) as handle:
                head = handle.read(MAX_RETURNED_HEADERS)
            end = min((i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0), default=-1)
            if end > 0:
                text = head[:end].decode("ascii", "replace").replace("\r\n", "\n")
                return text + "\n"
        except (OSError, ValueError):
            pass
    known = EmailMessage(policy=email.policy.default)
    if inbound.message_id:
        known["Message-ID"] = f"<{inbound.message_id}>"
    if inbound.sender:
        known["From"] = email.utils.formataddr((inbound.sender_name, inbound.sender))
    if inbound.subject:
        known["Subject"] = inbound.subject
    return "".join(known.policy.fold(name, value) for name, value in known.items())


def build_mdn(
    inbound: InboundMessage,
    mailbox: Mailbox,
    *,
    disposition: str,
    error: str = "",
    message_id: str,
    date: dt.datetime,
) -> EmailMessage:
    """The RFC 8098 MDN of `inbound` (multipart/report; report-type=disposition-notification)."""
    policy = email.policy.default
    subject = inbound.subject or "Accusé de traitement"
    code = error.split("^", 1)[0].strip() if error else ""
    if error:
        subject = f"{MDN_ERROR_PREFIX}[{code}] {subject}"
    report = EmailMessage(policy=policy)
    report["From"] = email.utils.formataddr((mailbox.display_name, mailbox.address))
    report["To"] = inbound.mdn_to
    report["Date"] = email.utils.format_datetime(date.astimezone(dt.UTC))
    report["Message-ID"] = f"<{message_id}>"
    if inbound.message_id:
        report["In-Reply-To"] = f"<{inbound.message_id}>"
        report["References"] = f"<{inbound.message_id}>"
    report["Subject"] = subject
    report["X-MSS-NIL"] = software_nil()
    report["Auto-Submitted"] = "auto-replied"

    human = EmailMessage(policy=policy)
    if error:
        label = error.split("^", 2)[1] if "^" in error else error
        text = (
            "Le message ci-dessous n'a pas pu être intégré automatiquement dans le dossier du patient "
            f"pour la raison suivante : {label}.\nErreur retournée : {error}\n"
        )
    elif disposition == "displayed":
        text = "Le message ci-dessous a été affiché par son destinataire.\n"
    else:
        text = "Le message ci-dessous a été traité (intégré) par le logiciel du destinataire.\n"
    human.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    del human["MIME-Version"]

    fields = EmailMessage(policy=policy)
    fields["Reporting-UA"] = f"{settings.SOFTWARE_NAME}; {settings.SOFTWARE_VERSION}"
    fields["Original-Recipient"] = f"rfc822;{mailbox.address}"
    fields["Final-Recipient"] = f"rfc822;{mailbox.address}"
    if inbound.message_id:
        fields["Original-Message-ID"] = f"<{inbound.message_id}>"
    fields["Disposition"] = f"automatic-action/MDN-sent-automatically; {disposition}" + ("/error" if error else "")
    if error:
        fields["Error"] = error
    notification = EmailMessage(policy=policy)
    notification.set_type("message/disposition-notification")
    notification.set_payload([fields])
    del notification["MIME-Version"]

    returned = EmailMessage(policy=policy)
    returned.set_type("text/rfc822-headers")
    returned.set_payload(_original_headers(inbound))
    del returned["MIME-Version"]

    report.set_type("multipart/report")
    report.set_param("report-type", "disposition-notification")
    report.set_payload([human, notification, returned])
    return report


def mdn_submit(*, payload: dict[str, Any]) -> dict[str, Any]:
    """Submit a queued MDN (called by the outbox handler); MssError from the transport."""
    from caducee.mss.transport import smtp_send

    inbound = InboundMessage.objects.get(pk=payload["inbound"])
    mailbox = Mailbox.objects.get(pk=payload["mailbox"])
    report = build_mdn(
        inbound,
        mailbox,
        disposition=str(payload.get("disposition", "processed")),
        error=str(payload.get("error", "")),
        message_id=str(payload["message_id"]),
        date=dt.datetime.fromisoformat(str(payload["date"])),
    )
    recipient = email.utils.parseaddr(inbound.mdn_to)[1]
    # No DSN about an MDN (RFC 3461 NOTIFY=NEVER). The envelope sender stays the mailbox: RFC 8098 §3 would like it
    # null, but an operator's submission service authenticates and checks the sender.
    refused = smtp_send(mailbox, report, [recipient], mail_options=["RET=HDRS"], rcpt_options=["NOTIFY=NEVER"])
    return {"message_id": payload["message_id"], "refused": sorted(refused)}
