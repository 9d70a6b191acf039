"""What the operator does with a message, whatever brought it (SMTP submission or the patient web page).

- `submit`: deliver to every recipient's INBOX (mailboxes created on first use), `lent.*` after a delay,
  `inconnu.*` and malformed patient addresses refused with a DSN failure 5.1.1; a DSN (RFC 3464) goes to the
  envelope sender for failed recipients (unless NOTIFY=NEVER) and for delivered ones when RCPT NOTIFY=SUCCESS
  or the message carries `Return-Receipt-To` (SC.MSS.16).
- The patient side (Mon espace santé): read a message (MDN `displayed` when `Disposition-Notification-To`
  asks, RFC 8098, once), reply with In-Reply-To/References (SC.MSS.10/11) unless the thread carries
  `X-MSS-MES: FIN` (SC.MSS/CONF.21: only the professional starts, and may end, a conversation).
"""

from __future__ import annotations

import email.utils
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP

from caducee.sandbox.mss import addresses
from caducee.sandbox.mss.dsn import (
    RecipientStatus,
    build_dsn,
    build_mdn,
    header_value,
    parse_headers,
    received_header,
)
from caducee.sandbox.mss.store import MssStore, NewMessage, StoredMessage

logger = logging.getLogger("caducee.sandbox.mss")

SEEN = "\\Seen"
ANSWERED = "\\Answered"
MDN_SENT = "$MDNSent"
_MSGID = re.compile(r"<[^<>\s]+>")
FIN_REFUSAL = (
    "Votre professionnel de santé a mis fin aux échanges sur cette conversation : "
    "vous ne pouvez plus y répondre. Contactez directement votre professionnel si nécessaire."
)


class ReplyRefused(Exception):
    """The patient may not answer (French message for the page)."""


@dataclass(frozen=True)
class EnvelopeRecipient:
    address: str
    notify: frozenset[str] = frozenset()  # RFC 3461 NOTIFY values, upper case; empty = not given
    original_recipient: str = ""  # ORCPT


@dataclass
class Envelope:
    sender: str  # "" = null reverse-path (no DSN back)
    recipients: list[EnvelopeRecipient] = field(default_factory=list)
    envelope_id: str = ""
    helo: str = ""
    peer: str = ""
    via: str = "ESMTPSA"


def message_meta(raw: bytes) -> NewMessage:
    """The fields the store indexes, read from the headers (never raises on hostile headers)."""
    headers = parse_headers(raw)
    refs = tuple(_MSGID.findall(header_value(headers, "References")))
    in_reply_to = (_MSGID.findall(header_value(headers, "In-Reply-To")) or [""])[0]
    sender = email.utils.parseaddr(header_value(headers, "From"))[1]
    return NewMessage(
        raw=raw,
        message_id=(_MSGID.findall(header_value(headers, "Message-ID")) or [""])[0],
        in_reply_to=in_reply_to,
        refs=refs,
        sender=sender,
        subject=header_value(headers, "Subject")[:500],
        fin=header_value(headers, "X-MSS-MES") == "FIN",  # exactly three capitals (CONF.21)
    )


class MssService:
    def __init__(
        self,
        store: MssStore,
        *,
        slow_delay: float = 5.0,
        on_delivered: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.slow_delay = slow_delay
        self.on_delivered = on_delivered or (lambda address: None)
        self._timers: list[threading.Timer] = []
        self._timers_lock = threading.Lock()
        self.stopped = False

    # -- delivery ---------------------------------------------------------------------------------------

    def submit(self, envelope: Envelope, raw: bytes) -> list[RecipientStatus]:
        """Deliver `raw` to the envelope's recipients; return their statuses (delayed ones as `delayed`)."""
        headers = parse_headers(raw)
        receipt_asked = bool(header_value(headers, "Return-Receipt-To"))
        statuses: list[RecipientStatus] = []
        report: list[RecipientStatus] = []
        for rcpt in envelope.recipients:
            address = addresses.normalize(rcpt.address)
            reason = addresses.unknown_reason(address)
            if reason:
                status = RecipientStatus(address, "failed", "5.1.1", reason, rcpt.original_recipient)
                statuses.append(status)
                if "NEVER" not in rcpt.notify and (not rcpt.notify or "FAILURE" in rcpt.notify):
                    report.append(status)
                continue
            wants_success = "SUCCESS" in rcpt.notify or (receipt_asked and "NEVER" not in rcpt.notify)
            if addresses.is_slow(address):
                statuses.append(RecipientStatus(address, "delayed", "4.4.7", "", rcpt.original_recipient))
                self._later(envelope, rcpt, raw, wants_success)
                continue
            self._store(envelope, address, raw)
            status = RecipientStatus(address, "delivered", "2.0.0", "", rcpt.original_recipient)
            statuses.append(status)
            if wants_success:
                report.append(status)
        if report:
            self._report(envelope, raw, report)
        return statuses

    def _store(self, envelope: Envelope, address: str, raw: bytes) -> int:
        trace = f"Return-Path: <{envelope.sender}>\r\n".encode("ascii", "replace") + received_header(
            recipient=address, helo=envelope.helo, peer=envelope.peer, via=envelope.via
        )
        meta = message_meta(raw)
        uid = self.store.append(
            address,
            NewMessage(
                raw=trace + raw,
                message_id=meta.message_id,
                in_reply_to=meta.in_reply_to,
                refs=meta.refs,
                sender=meta.sender or envelope.sender,
                subject=meta.subject,
                fin=meta.fin,
            ),
        )
        self.on_delivered(address)
        return uid

    def _report(self, envelope: Envelope, raw: bytes, statuses: list[RecipientStatus]) -> None:
        sender = addresses.normalize(envelope.sender)
        if not sender or not addresses.in_trust_space(sender) or addresses.unknown_reason(sender):
            return  # null reverse-path (a report itself) or nowhere to put it
        dsn = build_dsn(raw, sender=sender, statuses=statuses, envelope_id=envelope.envelope_id)
        self._store(Envelope(sender="", via="DSN"), sender, dsn)

    def _later(self, envelope: Envelope, rcpt: EnvelopeRecipient, raw: bytes, wants_success: bool) -> None:
        def deliver() -> None:
            if self.stopped:
                return
            try:
                address = addresses.normalize(rcpt.address)
                self._store(envelope, address, raw)
                if wants_success:
                    status = RecipientStatus(address, "delivered", "2.0.0", "", rcpt.original_recipient)
                    self._report(envelope, raw, [status])
            except Exception:  # a store closed meanwhile (operator stopped): nothing to deliver to
                logger.debug("Bac à sable MSS : remise différée abandonnée.", exc_info=True)

        timer = threading.Timer(self.slow_delay, deliver)
        timer.daemon = True
        with self._timers_lock:
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def stop(self) -> None:
        self.stopped = True
        with self._timers_lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()

    # -- patient side (Mon espace santé) ----------------------------------------------------------------

    def read(self, address: str, uid: int) -> StoredMessage | None:
        """The patient displays a message: \\Seen, and an MDN `displayed` if asked and not sent yet."""
        message = self.store.message(address, uid)
        if message is None:
            return None
        flags = set(message.flags) | {SEEN}
        raw = self.store.raw(address, uid)
        notify_to = email.utils.parseaddr(header_value(parse_headers(raw), "Disposition-Notification-To"))[1]
        if notify_to and MDN_SENT not in flags and addresses.in_trust_space(notify_to):
            mdn = build_mdn(raw, final_recipient=addresses.normalize(address), to=notify_to)
            self.submit(Envelope(sender="", recipients=[EnvelopeRecipient(notify_to)], via="HTTPS"), mdn)
            flags.add(MDN_SENT)
        if flags != set(message.flags):
            self.store.set_flags(address, uid, tuple(sorted(flags)))
        return self.store.message(address, uid)

    def thread_of(self, address: str, uid: int) -> list[StoredMessage]:
        """The messages of `address` linked to message `uid` by Message-ID / In-Reply-To / References."""
        messages = self.store.messages(address)
        ids: set[str] = set()
        start = next((m for m in messages if m.uid == uid), None)
        if start is None:
            return []
        ids |= _links(start)
        thread = {start.uid: start}
        changed = True
        while changed:
            changed = False
            for message in messages:
                if message.uid not in thread and _links(message) & ids:
                    thread[message.uid] = message
                    ids |= _links(message)
                    changed = True
        return sorted(thread.values(), key=lambda m: m.uid)

    def reply_refusal(self, address: str, uid: int) -> str:
        """Why the patient may not reply to message `uid` ("" when allowed).

        Refused when a message of the thread carries `X-MSS-MES: FIN`, or when the professional's latest
        message to this patient does (the conversation with that professional was ended)."""
        message = self.store.message(address, uid)
        if message is None:
            return "Message introuvable."
        if any(m.fin for m in self.thread_of(address, uid)):
            return FIN_REFUSAL
        from_same = [m for m in self.store.messages(address) if m.sender and m.sender == message.sender]
        if from_same and from_same[-1].fin:
            return FIN_REFUSAL
        return ""

    def reply(self, address: str, uid: int, body: str) -> str:
        """The patient answers message `uid`; returns the reply's Message-ID. ReplyRefused when not allowed."""
        address = addresses.normalize(address)
        refusal = self.reply_refusal(address, uid)
        if refusal:
            raise ReplyRefused(refusal)
        if not body.strip():
            raise ReplyRefused("Le message est vide.")
        raw = self.store.raw(address, uid)
        original = parse_headers(raw)
        to = email.utils.parseaddr(header_value(original, "Reply-To") or header_value(original, "From"))[1]
        if not to or not addresses.in_trust_space(to):
            raise ReplyRefused("Ce message n'accepte pas de réponse (expéditeur hors MSSanté).")
        original_id = (_MSGID.findall(header_value(original, "Message-ID")) or [""])[0]
        references = _MSGID.findall(header_value(original, "References"))
        reply = EmailMessage(policy=SMTP)
        subject = header_value(original, "Subject")
        reply["Subject"] = subject if subject.lower().startswith("re:") else f"RE: {subject}"
        reply["From"] = address
        reply["To"] = to
        reply["Date"] = email.utils.formatdate(usegmt=True)
        message_id = email.utils.make_msgid(domain=addresses.PATIENT_DOMAIN)
        reply["Message-ID"] = message_id
        if original_id:
            reply["In-Reply-To"] = original_id
            reply["References"] = " ".join([*references, original_id])
        reply.set_content(body[:100_000])
        self.submit(
            Envelope(sender=address, recipients=[EnvelopeRecipient(to)], via="HTTPS"), reply.as_bytes(policy=SMTP)
        )
        message = self.store.message(address, uid)
        if message is not None and ANSWERED not in message.flags:
            self.store.set_flags(address, uid, tuple(sorted({*message.flags, ANSWERED})))
        return message_id


def _links(message: StoredMessage) -> set[str]:
    return {i for i in (message.message_id, message.in_reply_to, *message.refs) if i}
