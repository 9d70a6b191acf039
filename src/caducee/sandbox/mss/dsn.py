"""Delivery and read reports built by the operator: DSN (RFC 3464) and MDN (RFC 8098).

A DSN is `multipart/report; report-type=delivery-status`: a human-readable French text, the
`message/delivery-status` part (per-message fields: Reporting-MTA, Original-Envelope-Id, Arrival-Date;
per-recipient: Original-Recipient, Final-Recipient, Action, Status, Diagnostic-Code), and the original's
headers as `text/rfc822-headers` (the sender matches the report to its message by Message-ID, SC.MSS/UX.35).
An MDN (`report-type=disposition-notification`) is what the patient page sends when a message asking
`Disposition-Notification-To` is displayed.
The machine-readable parts are 7bit (never base64), so a stock parser reads their fields.
"""

from __future__ import annotations

import email.utils
import unicodedata
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser

REPORTING_MTA = "sandbox.mssante.fr"
MAILER_DAEMON = f"mailer-daemon@{REPORTING_MTA}"


@dataclass(frozen=True)
class RecipientStatus:
    """One recipient's fate: action is delivered | failed | delayed; status an RFC 3463 code."""

    recipient: str
    action: str
    status: str
    diagnostic: str = ""
    original_recipient: str = ""


def parse_headers(raw: bytes) -> EmailMessage:
    """The original's headers, parsed leniently (a malformed message still gets its report)."""
    parsed = BytesParser(policy=policy.default).parsebytes(header_section(raw) + b"\r\n\r\n", headersonly=True)
    assert isinstance(parsed, EmailMessage)
    return parsed


def header_value(message: EmailMessage, name: str) -> str:
    """A header as text, "" when absent or unreadable (hostile input never raises here)."""
    try:
        value = message.get(name)
    except Exception:
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def header_section(raw: bytes) -> bytes:
    """The header block as received (up to the first empty line)."""
    positions = [p for p in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if p >= 0]
    return raw[: min(positions)] if positions else raw[:65536]


def _headers_part(raw: bytes) -> MIMEBase:
    part = MIMEBase("text", "rfc822-headers")
    head = header_section(raw).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n"
    try:
        part.set_payload(head.decode("ascii"))  # 7bit, readable as is
    except UnicodeDecodeError:
        part.set_payload(head.decode("utf-8", "replace"), charset="utf-8")
    return part


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _machine(subtype: str, blocks: list[list[str]]) -> MIMEBase:
    """message/delivery-status holds a list of header blocks (what the email package writes and reads back);
    message/disposition-notification one block as text."""
    part = MIMEBase("message", subtype)
    if subtype == "delivery-status":
        payload: list[Message | str] = []
        for block in blocks:
            fields = Message()
            for line in block:
                name, _, value = _ascii(line).partition(": ")
                fields[name] = value
            payload.append(fields)
        part.set_payload(payload)
    else:
        part.set_payload(_ascii("\r\n\r\n".join("\r\n".join(block) for block in blocks) + "\r\n"))
    return part


def _stamp(report: MIMEMultipart, *, subject: str, sender: str, to: str, domain: str) -> bytes:
    report["Subject"] = subject
    report["From"] = sender
    report["To"] = to
    report["Date"] = email.utils.formatdate(usegmt=True)
    report["Message-ID"] = email.utils.make_msgid(domain=domain)
    report["Auto-Submitted"] = "auto-replied"
    return report.as_bytes(policy=policy.SMTP)


def build_dsn(raw: bytes, *, sender: str, statuses: list[RecipientStatus], envelope_id: str = "") -> bytes:
    """The DSN to put in `sender`'s INBOX for these recipients of the original message `raw`."""
    original = parse_headers(raw)
    failed = any(s.action == "failed" for s in statuses)
    labels = {"delivered": "remis", "failed": "échec", "delayed": "retardé"}
    lines = [
        "Votre message n'a pas pu être remis à tous ses destinataires." if failed else "Votre message a été remis."
    ]
    lines.append("")
    for s in statuses:
        detail = f" — {s.diagnostic}" if s.diagnostic else ""
        lines.append(f"  {s.recipient} : {labels.get(s.action, s.action)} ({s.status}){detail}")
    report = MIMEMultipart("report", policy=policy.SMTP, report_type="delivery-status")
    report.attach(MIMEText("\n".join(lines) + "\n", "plain", "utf-8"))
    per_message = [f"Reporting-MTA: dns; {REPORTING_MTA}"]
    if envelope_id:
        per_message.append(f"Original-Envelope-Id: {envelope_id}")
    per_message.append(f"Arrival-Date: {email.utils.formatdate(usegmt=True)}")
    blocks = [per_message]
    for s in statuses:
        block = [f"Original-Recipient: {s.original_recipient}"] if s.original_recipient else []
        block += [f"Final-Recipient: rfc822; {s.recipient}", f"Action: {s.action}", f"Status: {s.status}"]
        if s.diagnostic:
            block.append(f"Diagnostic-Code: smtp; {' '.join(s.diagnostic.split())}")
        blocks.append(block)
    report.attach(_machine("delivery-status", blocks))
    report.attach(_headers_part(raw))
    title = "Échec de remise" if failed else "Accusé de remise"
    original_subject = header_value(original, "Subject")
    return _stamp(
        report,
        subject=f"{title} : {original_subject}" if original_subject else title,
        sender=f"Operateur MSSante (bac a sable) <{MAILER_DAEMON}>",
        to=sender,
        domain=REPORTING_MTA,
    )


def build_mdn(raw: bytes, *, final_recipient: str, to: str, disposition: str = "displayed") -> bytes:
    """RFC 8098 MDN from `final_recipient` (the reader) to `to` (the Disposition-Notification-To address)."""
    original = parse_headers(raw)
    original_id = header_value(original, "Message-ID")
    original_subject = header_value(original, "Subject")
    report = MIMEMultipart("report", policy=policy.SMTP, report_type="disposition-notification")
    report.attach(
        MIMEText(f"Votre message « {original_subject} » a été affiché par {final_recipient}.\n", "plain", "utf-8")
    )
    fields = [
        f"Reporting-UA: {REPORTING_MTA}; Caducee bac a sable Mon espace sante",
        f"Original-Recipient: rfc822; {final_recipient}",
        f"Final-Recipient: rfc822; {final_recipient}",
    ]
    if original_id:
        fields.append(f"Original-Message-ID: {original_id}")
    fields.append(f"Disposition: manual-action/MDN-sent-manually; {disposition}")
    report.attach(_machine("disposition-notification", [fields]))
    report.attach(_headers_part(raw))
    if original_id:
        report["In-Reply-To"] = original_id
        report["References"] = original_id
    return _stamp(
        report,
        subject=f"Accusé de lecture : {original_subject}" if original_subject else "Accusé de lecture",
        sender=final_recipient,
        to=to,
        domain=final_recipient.rsplit("@", 1)[-1] or REPORTING_MTA,
    )


def received_header(*, recipient: str, helo: str = "", peer: str = "", via: str = "ESMTPSA") -> bytes:
    """The Received: line the operator prepends to every delivered message."""
    source = f"from {_ascii(helo)[:80] or 'unknown'} ([{peer}])" if peer else "from mon-espace-sante"
    return (
        f"Received: {source}\r\n\tby {REPORTING_MTA} with {via}\r\n\tfor <{recipient}>; "
        f"{email.utils.formatdate(usegmt=True)}\r\n"
    ).encode("ascii", "replace")
