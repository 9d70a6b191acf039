"""The inbox's single entry point (§4, §8): a received mail, an `IHE_XDM.zip` or a CDA `.xml`, whatever its route.

`ingest_bytes` is what the IMAP synchronisation and `caducee import` both call. The input's kind is read from its
content, never from its name. The raw input is written to the message store first (`mss.store`, generated names
only) and always kept; then:

- a delivery or read report (DSN, MDN) goes to `receipts.apply_report`, which moves the state of the message we
  sent (SC.MSS/UX.30/35);
- a mail from `<matricule INS>@patient.mssante.fr` is a patient's (MSS Citoyenne, UX.25/31), tied to the QUAL
  identity holding that matricule;
- each CDA (in an XDM attachment, or the file itself) is read with the hardened parser, matched (`matching`), its
  INS checked with INSi when R52 asks (`filing.verify_ins`), then filed into the chart (UX.07) or put in the work
  list with its candidates (UX.09–12), deduplicated by uniqueId (SC.MSS/CDA.01–03);
- hostile or broken input — path traversal, zip bombs, XXE, missing or broken METADATA.XML, wrong hashes,
  non-UTF-8, malformed MIME, messages over `settings.MSS_MAX_MESSAGE_BYTES` — is quarantined with the reason
  (`ReceivedDocument` state quarantined, or `InboundMessage.error`), the message kept. Nothing raises for bad input.

When the sender asked for a read receipt (Disposition-Notification-To), an MDN `processed` is returned after an
automatic integration, its error variant otherwise (ig_hl7v2_courriel_mss struct-msg-mdn.md), after the commit.
"""

from __future__ import annotations

import email.errors
import logging
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.parser import BytesFeedParser
from email.policy import default as default_policy
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import IO, Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction

from caducee.core.text import normalize_trait
from caducee.documents.models import Document
from caducee.documents.received import CdaHeader, ReceivedCdaError, read_cda_header
from caducee.identity.models import Identity, Status
from caducee.mss import receipts, store
from caducee.mss.filing import Decision, InsCheck, Verification, decide, earlier_copy, file_into, mdn_error, verify_ins
from caducee.mss.matching import Candidate, candidates_for
from caducee.mss.models import InboundMessage, Mailbox, ReceivedDocument
from caducee.mss.xdm import XdmError, read_xdm
from caducee.patients.models import Patient

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 50 * 1024 * 1024
MAX_BODY_CHARS = 200_000
PATIENT_DOMAIN = "patient.mssante.fr"
# <matricule INS (13 characters, 2A/2B for Corsica) + key (2 digits)>@patient.mssante.fr (SC.MSS.14).
_PATIENT_ADDRESS = re.compile(r"^([0-9]{5}(?:[0-9]{2}|2[AB])[0-9]{8})@patient\.mssante\.fr$", re.IGNORECASE)
_HEAD = 4096
_CHUNK = 1024 * 1024
# MIME defects that leave the message's structure unknown: its attachments are not trusted.
_STRUCTURE_DEFECTS = (
    email.errors.NoBoundaryInMultipartDefect,
    email.errors.StartBoundaryNotFoundDefect,
    email.errors.CloseBoundaryNotFoundDefect,
    email.errors.MultipartInvariantViolationDefect,
    email.errors.MissingHeaderBodySeparatorDefect,
    email.errors.FirstHeaderLineIsContinuationDefect,
    email.errors.InvalidMultipartContentTransferEncodingDefect,
)
_ENCODING_DEFECTS = (
    email.errors.InvalidBase64CharactersDefect,
    email.errors.InvalidBase64LengthDefect,
    email.errors.InvalidBase64PaddingDefect,
)


def max_message_bytes() -> int:
    return int(getattr(settings, "MSS_MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES))


# --- what an input is -----------------------------------------------------------------------------------------------


def detect_kind(head: bytes) -> str:
    """ "zip", "xml" or "eml", from the first bytes (never from a file name); "" when none of them."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        return "xml"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "xml"  # UTF-16 (refused later as non-UTF-8, but recognised as XML)
    first = text.split(b"\n", 1)[0]
    if re.match(rb"^(From |[!-9;-~]+:)", first):
        return "eml"
    return ""


# --- one planned document -------------------------------------------------------------------------------------------


@dataclass
class _Planned:
    """One CDA (or one attachment that should have held CDAs), before anything is written to the database."""

    filename: str
    reason: str = ""  # set: quarantined
    cda: bytes | None = None
    header: CdaHeader | None = None
    pdf: bytes | None = None
    candidates: list[Candidate] = field(default_factory=list)
    verification: Verification | None = None
    decision: Decision | None = None


def _quarantine(filename: str, reason: str, cda: bytes | None = None) -> _Planned:
    return _Planned(filename=filename[:300], reason=reason, cda=cda)


def _plan_cda(filename: str, data: bytes, pdf: bytes | None = None) -> _Planned:
    try:
        header = read_cda_header(data)
    except ReceivedCdaError as exc:
        return _quarantine(filename, str(exc), data)  # kept (generated name) for whoever inspects the quarantine
    planned = _Planned(filename=filename[:300], cda=data, header=header, pdf=pdf)
    if earlier_copy(header.unique_id) is not None:
        return planned  # a duplicate: neither matched nor checked again
    own = (
        Document.objects.filter(unique_id_root=header.unique_id_root, unique_id_ext=header.unique_id_ext)
        .only("pk", "patient_id", "cda")
        .first()
    )
    if own is not None and bytes(own.cda) == data:
        # This very document (same uniqueId, same bytes) is already in a chart here — one of our own, sent from one
        # mailbox of the practice to another: that chart is the right one, no identity question to ask.
        planned.decision = Decision(own.patient_id, "document de ce cabinet, déjà dans le dossier du patient.")
        return planned
    planned.candidates = candidates_for(header.patient)
    planned.verification = verify_ins(header.patient)
    planned.decision = decide(planned.candidates, planned.verification)
    return planned


def _plan_xdm(filename: str, data: bytes, pdf: bytes | None = None) -> list[_Planned]:
    try:
        archive = read_xdm(data)
    except XdmError as exc:
        return [_quarantine(filename, str(exc))]
    cdas = [d for d in archive.documents if d.mime_type in ("text/xml", "application/xml", "")]
    if not cdas:
        return [_quarantine(filename, "archive XDM sans document CDA.")]
    single_pdf = pdf if len(cdas) == 1 else None
    return [_plan_cda(f"{filename}/{d.file_name}", d.content, single_pdf) for d in cdas]


# --- a mail ---------------------------------------------------------------------------------------------------------


@dataclass
class _Mail:
    message_id: str = ""
    in_reply_to: str = ""
    sender: str = ""
    sender_name: str = ""
    subject: str = ""
    body: str = ""
    mdn_to: str = ""
    kind: str = InboundMessage.Kind.MESSAGE
    error: str = ""
    parsed: Message | None = None
    documents: list[_Planned] = field(default_factory=list)


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
        return " ".join(str(value).split()) if value is not None else ""
    except (ValueError, TypeError, IndexError, LookupError, AttributeError, email.errors.MessageError):
        return ""


def _msgid(value: str) -> str:
    return value.strip().strip("<>").strip()[:250]


def _address(msg: Message, name: str) -> tuple[str, str]:
    raw = _header(msg, name)
    if not raw:
        return "", ""
    pairs = getaddresses([raw])
    display, address = pairs[0] if pairs else parseaddr(raw)
    return address.strip().lower()[:254], display.strip()[:200]


def _parse_mail(source: IO[bytes]) -> Message:
    parser = BytesFeedParser(policy=default_policy)
    while chunk := source.read(_CHUNK):
        parser.feed(chunk)
    return parser.close()


def _defects(msg: Message) -> tuple[list[str], list[str]]:
    structure: list[str] = []
    encoding: list[str] = []
    for part in msg.walk():
        for defect in getattr(part, "defects", []):
            if isinstance(defect, _STRUCTURE_DEFECTS):
                structure.append(type(defect).__name__)
            elif isinstance(defect, _ENCODING_DEFECTS):
                encoding.append(type(defect).__name__)
    return structure, encoding


def _body_text(msg: Message) -> tuple[str, str]:
    """The text of the message (text/plain, else the text/html alternative) and an encoding problem if any."""
    try:
        body = cast(EmailMessage, msg).get_body(preferencelist=("plain", "html"))
    except (AttributeError, KeyError, LookupError, ValueError):
        body = None
    if body is None:
        return "", ""
    payload = body.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return "", ""
    charset = body.get_content_charset() or "utf-8"
    try:
        text = payload.decode(charset)
        problem = ""
    except (LookupError, UnicodeDecodeError):
        text = payload.decode("utf-8", "replace")
        problem = f"texte du message illisible dans l'encodage annoncé ({charset}) : UTF-8 attendu (CONF.19)."
    if body.get_content_subtype() == "html":
        text = re.sub(r"<[^>]+>", " ", text)
    return text[:MAX_BODY_CHARS].strip(), problem


def _report_kind(msg: Message) -> str:
    kind = receipts.is_report(msg)
    return {"dsn": InboundMessage.Kind.DSN, "mdn": InboundMessage.Kind.MDN}.get(kind, InboundMessage.Kind.MESSAGE)


def _attachments(msg: Message) -> list[tuple[str, bytes, str]]:
    """(name for display, decoded bytes, kind) of the parts that can hold documents: zip, xml, pdf by content."""
    found: list[tuple[str, bytes, str]] = []
    for index, part in enumerate(msg.walk()):
        if part.is_multipart() or part.get_content_maintype() == "message":
            continue
        name = ""
        try:
            name = part.get_filename() or ""
        except (ValueError, LookupError, TypeError):
            name = ""
        if part.get_content_maintype() == "text" and not name and part.get_content_subtype() in ("plain", "html"):
            continue  # the message text
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or not payload:
            continue
        if payload.startswith(b"%PDF-"):
            kind = "pdf"
        else:
            kind = detect_kind(payload[:_HEAD])
            if kind == "eml":
                kind = ""
        display = " ".join(name.split())[:200] or f"pièce jointe {index}"
        if kind in ("zip", "xml", "pdf"):
            found.append((display, payload, kind))
    return found


def _patient_of(address: str) -> Patient | None:
    """UX.25/31: the QUAL identity whose matricule INS is the address' local part."""
    match = _PATIENT_ADDRESS.match(address)
    if not match:
        return None
    identity = (
        Identity.objects.filter(ins_matricule=match.group(1).upper(), status=Status.QUAL)
        .select_related("patient")
        .first()
    )
    return getattr(identity, "patient", None) if identity is not None else None


def _read_mail(handle: IO[bytes]) -> _Mail:
    mail = _Mail()
    try:
        msg = _parse_mail(handle)
    except (email.errors.MessageError, ValueError, TypeError, LookupError) as exc:
        mail.error = f"message illisible (MIME mal formé) : {exc}"
        return mail
    mail.parsed = msg
    mail.message_id = _msgid(_header(msg, "Message-ID"))
    mail.in_reply_to = _msgid(_header(msg, "In-Reply-To"))
    mail.sender, mail.sender_name = _address(msg, "From")
    mail.subject = _header(msg, "Subject")[:500]
    mail.mdn_to = _address(msg, "Disposition-Notification-To")[0]
    if not (mail.sender or mail.message_id or mail.subject or msg.get("Content-Type")):
        mail.error = "fichier non reconnu : ni message électronique, ni archive IHE_XDM.zip, ni document CDA."
        return mail
    mail.kind = _report_kind(msg)
    structure, encoding = _defects(msg)
    if structure:
        mail.error = "message refusé : structure MIME mal formée (" + ", ".join(sorted(set(structure))) + ")."
        return mail
    mail.body, problem = _body_text(msg)
    if mail.kind != InboundMessage.Kind.MESSAGE:
        return mail
    attachments = _attachments(msg)
    pdfs = [data for _, data, kind in attachments if kind == "pdf"]
    single_pdf = pdfs[0] if len(pdfs) == 1 else None
    containers = [a for a in attachments if a[2] in ("zip", "xml")]
    for name, data, kind in containers:
        pdf = single_pdf if len(containers) == 1 else None
        if encoding:
            mail.documents.append(_quarantine(name, "pièce jointe mal encodée (base64 invalide)."))
        elif kind == "zip":
            mail.documents.extend(_plan_xdm(name, data, pdf))
        else:
            mail.documents.append(_plan_cda(name, data, pdf))
    if problem:
        mail.error = problem
    return mail


# --- the single entry point -----------------------------------------------------------------------------------------


def _keep_raw(raw: bytes | Path) -> tuple[str, int, str]:
    """Write the input to the store (streamed for a file); (relative path, size, detected kind)."""
    if isinstance(raw, bytes):
        kind = detect_kind(raw[:_HEAD])
        return store.write_bytes("raw", kind or "bin", raw), len(raw), kind
    with open(raw, "rb") as handle:
        kind = detect_kind(handle.read(_HEAD))
    suffix = kind or "bin"
    temp = (store.store_root() / "tmp").resolve()
    if raw.resolve().is_relative_to(temp):
        size = raw.stat().st_size
        return store.adopt(raw, suffix), size, kind
    with open(raw, "rb") as handle:
        relative, size = store.copy_in("raw", suffix, handle)
    return relative, size, kind


def _analyse(relative: str, size: int, kind: str, filename: str) -> _Mail:
    if size > max_message_bytes():
        limit = max_message_bytes()
        return _Mail(error=f"message trop volumineux ({size} octets, maximum {limit}) : conservé sans être analysé.")
    if kind == "eml":
        with store.open_stored(relative) as handle:
            return _read_mail(handle)
    name = " ".join(Path(filename).name.split())[:200] if filename else ""
    data = store.read_bytes(relative)
    if kind == "zip":
        return _Mail(subject=name, documents=_plan_xdm(name or "IHE_XDM.zip", data))
    if kind == "xml":
        return _Mail(subject=name, documents=[_plan_cda(name or "document.xml", data)])
    return _Mail(
        subject=name, error="fichier non reconnu : ni message électronique, ni archive IHE_XDM.zip, ni document CDA."
    )


def _traits_json(planned: _Planned) -> dict[str, Any]:
    traits: dict[str, Any] = planned.header.patient.as_dict() if planned.header else {}
    if planned.verification is not None:
        traits["insi"] = planned.verification.as_json()
    return traits


def _record(inbound: InboundMessage, planned: _Planned) -> ReceivedDocument:
    header = planned.header
    received = ReceivedDocument(
        message=inbound,
        filename=planned.filename,
        state=ReceivedDocument.State.QUARANTINED,
        reason=planned.reason,
        unique_id=header.unique_id[:120] if header else "",
        set_id=(f"{header.set_id_root}^{header.set_id_ext}" if header.set_id_ext else header.set_id_root)[:120]
        if header
        else "",
        version_number=header.version if header else 1,
        type_code=header.type_code if header else "",
        title=header.title if header else "",
        patient_traits=_traits_json(planned),
        candidates=[c.as_json() for c in planned.candidates],
        best_score=planned.candidates[0].score if planned.candidates else 0,
    )
    if header is None or planned.cda is None or planned.reason:
        if planned.cda is not None:
            received.stored_path = store.write_bytes("documents", "xml", planned.cda)
        received.save()
        return received
    earlier = earlier_copy(received.unique_id)
    if earlier is not None:
        received.state = ReceivedDocument.State.DUPLICATE
        received.reason = f"document déjà reçu le {earlier.created_at:%d/%m/%Y} (même uniqueId)."
        received.patient_id, received.document_id = earlier.patient_id, earlier.document_id
        received.save()
        return received
    decision = planned.decision
    if decision is not None and decision.file_into is not None:
        patient = Patient.objects.filter(pk=decision.file_into).first()
        if patient is not None:
            received.save()
            file_into(
                received, patient=patient, cda=planned.cda, header=header, pdf=planned.pdf, reason=decision.reason
            )
            if received.state != ReceivedDocument.State.FILED and not received.stored_path:
                received.stored_path = store.write_document(planned.cda, planned.pdf)
                received.save(update_fields=["stored_path"])
            return received
    received.state = ReceivedDocument.State.WORKLIST
    received.reason = decision.reason if decision else ""
    received.stored_path = store.write_document(planned.cda, planned.pdf)
    received.save()
    return received


def _return_mdn(inbound: InboundMessage) -> None:
    """RFC 8098 / struct-msg-mdn.md: `processed` once integrated automatically, the error variant (code^libellé)
    otherwise. `receipts.send_mdn` queues it in the outbox (same transaction) and checks it was asked, by the
    sender itself."""
    if not inbound.mdn_to or inbound.kind != InboundMessage.Kind.MESSAGE:
        return
    documents = list(inbound.documents.order_by("id"))
    if not documents:
        return
    pending = [d for d in documents if d.state not in (ReceivedDocument.State.FILED, ReceivedDocument.State.DUPLICATE)]
    receipts.send_mdn(inbound, disposition="processed", error=mdn_error(pending[0]) if pending else "")


def ingest_bytes(
    raw: bytes | Path,
    *,
    source: str = InboundMessage.Source.IMAP,
    filename: str = "",
    mailbox: Mailbox | None = None,
    uid_validity: int | None = None,
    uid: int | None = None,
) -> InboundMessage:
    """Take in one mail or file (bytes, or a path streamed into the store) and return its InboundMessage.

    Never raises for bad input: what cannot be read is kept and quarantined with the reason. Idempotent for a mail
    already taken in (same mailbox, UIDVALIDITY and UID): the stored one is returned.
    """
    if mailbox is not None and uid is not None:
        existing = InboundMessage.objects.filter(mailbox=mailbox, uid_validity=uid_validity, uid=uid).first()
        if existing is not None:
            return existing
    relative, size, kind = _keep_raw(raw)
    try:
        mail = _analyse(relative, size, kind, filename)
    except Exception as exc:  # an unforeseen failure on hostile input must not stop the inbox (§8)
        log.exception("MSS intake: analysis failed for %s", relative)
        mail = _Mail(error=f"message conservé mais non analysé (erreur interne : {type(exc).__name__}).")
    patient = _patient_of(mail.sender) if mail.sender else None
    is_report = False
    if mail.kind != InboundMessage.Kind.MESSAGE and mail.parsed is not None:
        is_report = _apply_report(mail.parsed)
    try:
        with transaction.atomic():
            inbound = InboundMessage.objects.create(
                mailbox=mailbox,
                source=source,
                kind=mail.kind,
                uid_validity=uid_validity,
                uid=uid,
                message_id=mail.message_id,
                in_reply_to=mail.in_reply_to,
                sender=mail.sender,
                sender_name=mail.sender_name,
                subject=mail.subject,
                body_text=mail.body,
                from_patient=bool(_PATIENT_ADDRESS.match(mail.sender or "")),
                patient=patient,
                raw_path=relative,
                size=size,
                mdn_to=mail.mdn_to,
                is_read=is_report,
                error=mail.error,
                search_text=normalize_trait(f"{mail.subject} {mail.sender_name} {mail.sender} {mail.body}")[
                    :MAX_BODY_CHARS
                ],
            )
            for planned in mail.documents:
                _record(inbound, planned)
            _return_mdn(inbound)
    except IntegrityError:
        if mailbox is None or uid is None:
            raise
        # Another synchronisation took this UID in first (unique mailbox + UIDVALIDITY + UID).
        return InboundMessage.objects.get(mailbox=mailbox, uid_validity=uid_validity, uid=uid)
    return inbound


def _apply_report(msg: Message) -> bool:
    try:
        return bool(receipts.apply_report(msg))
    except Exception:  # a report we cannot match must not stop the inbox
        log.exception("MSS intake: delivery/read report not applied")
        return False


# --- summaries for `caducee import` ---------------------------------------------------------------------------------

_OUTCOMES = {
    ReceivedDocument.State.FILED: "integrated",
    ReceivedDocument.State.WORKLIST: "worklist",
    ReceivedDocument.State.QUARANTINED: "quarantined",
    ReceivedDocument.State.DUPLICATE: "duplicate",
}
_PRECEDENCE = ("quarantined", "worklist", "integrated", "duplicate")


@dataclass(frozen=True)
class IntakeOutcome:
    """What happened to one input: integrated (into which patient), work list, quarantined (why), duplicate."""

    file: str
    outcome: str
    reason: str = ""
    patient: dict[str, Any] | None = None
    documents: tuple[dict[str, Any], ...] = ()

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"file": self.file, "outcome": self.outcome}
        if self.patient is not None:
            data["patient"] = self.patient
        data["reason"] = self.reason
        if len(self.documents) > 1:
            data["documents"] = list(self.documents)
        return data


def _patient_json(patient: Patient | None) -> dict[str, Any] | None:
    if patient is None:
        return None
    identity = patient.identity
    return {"id": patient.pk, "name": f"{identity.birth_name} {identity.first_given_name}".strip()}


def intake_outcome(inbound: InboundMessage, *, file: str = "") -> IntakeOutcome:
    documents = list(inbound.documents.select_related("patient__identity").order_by("id"))
    if not documents:
        if inbound.kind != InboundMessage.Kind.MESSAGE:
            return IntakeOutcome(file, "integrated", "accusé de réception traité.")
        reason = inbound.error or "aucun document CDA à intégrer dans ce fichier."
        return IntakeOutcome(file, "quarantined", reason)
    details = tuple(
        {
            "document": d.filename,
            "outcome": _OUTCOMES[ReceivedDocument.State(d.state)],
            "reason": d.reason,
            **({"patient": _patient_json(d.patient)} if d.patient_id else {}),
        }
        for d in documents
    )
    outcome = next(o for o in _PRECEDENCE if any(d["outcome"] == o for d in details))
    chosen = next(d for d in documents if _OUTCOMES[ReceivedDocument.State(d.state)] == outcome)
    patient_doc = next((d for d in documents if d.patient_id and d.state != ReceivedDocument.State.QUARANTINED), None)
    patient = _patient_json(patient_doc.patient) if patient_doc and outcome in ("integrated", "duplicate") else None
    return IntakeOutcome(file, outcome, chosen.reason, patient, details)


def ingest_file(path: Path) -> IntakeOutcome:
    """`caducee import`: one file through exactly the same code as a received mail."""
    inbound = ingest_bytes(path, source=InboundMessage.Source.IMPORT, filename=path.name)
    return intake_outcome(inbound, file=str(path))


__all__ = ["InsCheck", "IntakeOutcome", "detect_kind", "ingest_bytes", "ingest_file", "intake_outcome"]
