"""The inbox's single entry point (§4, §8): a received mail, an `IHE_XDM.zip` or a CDA `.xml`, whatever its route.

`ingest_bytes` is what the IMAP synchronisation and `caducee import` both call. The input's kind is read from its
content, never from its name. The raw input is written to the message store first (`mss.store`, generated names
only) and always kept; then:

- a delivery or read report (DSN, MDN) goes to `receipts.report_apply`, which moves the state of the message we
  sent (SC.MSS/UX.30/35);
- a mail from `<matricule INS>@patient.mssante.fr` is a patient's (MSS Citoyenne, UX.25/31), tied to the QUAL
  identity holding that matricule;
- each CDA (in an XDM attachment, or the file itself) is read with the hardened parser, matched (`matching`), its
  INS checked with INSi when R52 asks (`filing.ins_verify`), then filed into the chart (UX.07) or put in the work
  list with its candidates (UX.09–12), deduplicated by uniqueId (SC.MSS/CDA.01–03);
- hostile or broken input — path traversal, zip bombs, XXE, missing or broken METADATA.XML, wrong hashes,
  non-UTF-8, malformed MIME, messages over `settings.MSS_MAX_MESSAGE_BYTES` — is quarantined with the reason
  (`ReceivedDocument` state quarantined, or `InboundMessage.error`), the message kept. Nothing raises for bad input.
  What is quarantined is kept `settings.MSS_QUARANTINE_DAYS` (90 days by default), then its files are deleted and
  the rows stay (`mss.retention`, issue 13 §4).

When the sender asked for a read receipt (Disposition-Notification-To), an MDN `processed` is returned after an
automatic integration, its error variant (code^libellé) otherwise (ig_hl7v2_courriel_mss struct-msg-mdn.md), queued in
the outbox in the same transaction as the message.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from caducee.core.text import normalize_trait
from caducee.documents.models import Document
from caducee.documents.received import CdaHeader, ReceivedCdaError, read_cda_header
from caducee.identity.models import Identity, Status
from caducee.mss import receipts, store
from caducee.mss.filing import Decision, Verification, decide, ins_verify, mdn_error, received_file
from caducee.mss.matching import Candidate, candidate_identities, candidates_for
from caducee.mss.mime import (
    HEAD,
    MAX_BODY_CHARS,
    address,
    attachments,
    body_text,
    detect_kind,
    header,
    msgid,
    parse_mail,
    scan_mail,
)
from caducee.mss.models import InboundMessage, Mailbox, ReceivedDocument
from caducee.mss.selectors import earlier_copy
from caducee.mss.worklist import scoring_mark
from caducee.mss.xdm import XdmError, read_xdm
from caducee.patients.models import Patient

log = logging.getLogger(__name__)

# <matricule INS (13 characters, 2A/2B for Corsica) + key (2 digits)>@patient.mssante.fr (SC.MSS.14).
_PATIENT_ADDRESS = re.compile(r"^([0-9]{5}(?:[0-9]{2}|2[AB])[0-9]{8})@patient\.mssante\.fr$", re.IGNORECASE)


def max_message_bytes() -> int:
    return int(settings.MSS_MAX_MESSAGE_BYTES)


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
    scored_at: datetime | None = None  # identity changes up to then are in `candidates` (mss.worklist, UX.15)
    verification: Verification | None = None
    decision: Decision | None = None
    earlier: ReceivedDocument | None = None  # the same document received before (SC.MSS/CDA.01)


def _quarantine(filename: str, reason: str, cda: bytes | None = None) -> _Planned:
    return _Planned(filename=filename[:300], reason=reason, cda=cda)


def _plan_cda(filename: str, data: bytes, pdf: bytes | None = None) -> _Planned:
    try:
        header = read_cda_header(data)
    except ReceivedCdaError as exc:
        return _quarantine(filename, str(exc), data)  # kept (generated name) for whoever inspects the quarantine
    planned = _Planned(filename=filename[:300], cda=data, header=header, pdf=pdf)
    planned.earlier = earlier_copy(header.unique_id)
    if planned.earlier is not None:
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
    planned.scored_at = scoring_mark()  # before the identities are read
    identities = candidate_identities(header.patient)
    planned.candidates = candidates_for(header.patient, identities=identities)
    planned.verification = ins_verify(traits=header.patient, identities=identities)
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


def _report_kind(msg: Message) -> str:
    kind = receipts.is_report(msg)
    return {"dsn": InboundMessage.Kind.DSN, "mdn": InboundMessage.Kind.MDN}.get(kind, InboundMessage.Kind.MESSAGE)


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


_NOT_RECOGNISED = "fichier non reconnu : ni message électronique, ni archive IHE_XDM.zip, ni document CDA."


def _read_mail(relative: str) -> _Mail:
    mail = _Mail()
    with store.open_stored(relative) as handle:
        scan = scan_mail(handle)
        if scan is None:
            mail.error = "message illisible : en-têtes mal formés ou absents (MIME mal formé)."
            return mail
        top = scan.top
        mail.message_id = msgid(header(top, "Message-ID"))
        mail.in_reply_to = msgid(header(top, "In-Reply-To"))
        mail.sender, mail.sender_name = address(top, "From")
        mail.subject = header(top, "Subject")[:500]
        mail.mdn_to = address(top, "Disposition-Notification-To")[0]
        if not (mail.sender or mail.message_id or mail.subject or top.get("Content-Type")):
            mail.error = _NOT_RECOGNISED
            return mail
        if scan.defects:
            mail.error = "message refusé : structure MIME mal formée (" + ", ".join(sorted(set(scan.defects))) + ")."
            return mail
        mail.body, problem = body_text(handle, scan)
        if top.get_content_type() == "multipart/report":
            handle.seek(0)
            mail.parsed = parse_mail(handle, default_policy)  # small by nature; receipts reads it whole
            mail.kind = _report_kind(mail.parsed)
            if mail.kind != InboundMessage.Kind.MESSAGE:
                return mail
        found = attachments(handle, scan)
    try:
        pdfs = [a for a in found if a.kind == "pdf"]
        containers = [a for a in found if a.kind in ("zip", "xml")]
        pdf = pdfs[0].read() if len(pdfs) == 1 and len(containers) == 1 else None
        for attachment in containers:
            if not attachment.well_encoded:
                mail.documents.append(_quarantine(attachment.name, "pièce jointe mal encodée (base64 invalide)."))
                continue
            data = attachment.read()
            if attachment.kind == "zip":
                mail.documents.extend(_plan_xdm(attachment.name, data, pdf))
            else:
                mail.documents.append(_plan_cda(attachment.name, data, pdf))
            del data
    finally:
        for attachment in found:
            attachment.discard()
    if problem:
        mail.error = problem
    return mail


# --- the single entry point -----------------------------------------------------------------------------------------


def _keep_raw(raw: bytes | Path) -> tuple[str, int, str]:
    """Write the input to the store (streamed for a file); (relative path, size, detected kind)."""
    if isinstance(raw, bytes):
        kind = detect_kind(raw[:HEAD])
        return store.write_bytes("raw", kind or "bin", raw), len(raw), kind
    with open(raw, "rb") as handle:
        kind = detect_kind(handle.read(HEAD))
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
        return _read_mail(relative)
    name = " ".join(Path(filename).name.split())[:200] if filename else ""
    data = store.read_bytes(relative)
    if kind == "zip":
        return _Mail(subject=name, documents=_plan_xdm(name or "IHE_XDM.zip", data))
    if kind == "xml":
        return _Mail(subject=name, documents=[_plan_cda(name or "document.xml", data)])
    return _Mail(subject=name, error=_NOT_RECOGNISED)


def _traits_json(planned: _Planned) -> dict[str, Any]:
    traits: dict[str, Any] = planned.header.patient.as_dict() if planned.header else {}
    if planned.verification is not None:
        traits["insi"] = planned.verification.as_json()
    return traits


def _same_content(earlier: ReceivedDocument, cda: bytes) -> bool:
    """The earlier copy holds these very bytes (in the chart, or waiting in the store)."""
    if earlier.document_id is not None:
        return bytes(Document.objects.values_list("cda", flat=True).get(pk=earlier.document_id)) == cda
    if earlier.stored_path:
        try:
            return store.read_bytes(earlier.stored_path) == cda
        except OSError:
            return False
    return False


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
        scored_at=planned.scored_at,
    )
    if header is None or planned.cda is None or planned.reason:
        if planned.cda is not None:
            received.stored_path = store.write_bytes("documents", "xml", planned.cda)
        received.save()
        return received
    earlier = planned.earlier
    if earlier is not None and not _same_content(earlier, planned.cda):
        received.reason = "identifiant de document (uniqueId) déjà reçu avec un autre contenu : document refusé."
        received.stored_path = store.write_bytes("documents", "xml", planned.cda)
        received.save()
        return received
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
            received_file(  # saves `received` (one INSERT)
                received=received,
                patient=patient,
                cda=planned.cda,
                header=header,
                pdf=planned.pdf,
                reason=decision.reason,
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


def _return_mdn(inbound: InboundMessage, documents: list[ReceivedDocument]) -> None:
    """RFC 8098 / struct-msg-mdn.md: `processed` once integrated automatically, the error variant (code^libellé)
    otherwise. `receipts.mdn_send` queues it in the outbox (same transaction) and checks it was asked, by the
    sender itself."""
    if not inbound.mdn_to or inbound.kind != InboundMessage.Kind.MESSAGE:
        return
    if not documents:
        return
    pending = [d for d in documents if d.state not in (ReceivedDocument.State.FILED, ReceivedDocument.State.DUPLICATE)]
    receipts.mdn_send(inbound=inbound, disposition="processed", error=mdn_error(pending[0]) if pending else "")


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
    if mailbox is not None and uid is not None and mail.message_id:
        # After a UIDVALIDITY change the server numbers its messages again: one already taken in (same mailbox,
        # same Message-ID, under the former UIDVALIDITY) is not a new message.
        prior = (
            InboundMessage.objects.filter(mailbox=mailbox, message_id=mail.message_id)
            .exclude(uid_validity=uid_validity)
            .first()
        )
        if prior is not None:
            store.store_path(relative).unlink(missing_ok=True)
            return prior
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
            recorded = [_record(inbound, planned) for planned in mail.documents]
            _return_mdn(inbound, recorded)
    except IntegrityError:
        if mailbox is None or uid is None:
            raise
        # Another synchronisation took this UID in first (unique mailbox + UIDVALIDITY + UID).
        return InboundMessage.objects.get(mailbox=mailbox, uid_validity=uid_validity, uid=uid)
    return inbound


def _apply_report(msg: Message) -> bool:
    try:
        return bool(receipts.report_apply(msg=msg))
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


__all__ = ["IntakeOutcome", "ingest_bytes", "ingest_file", "intake_outcome"]
