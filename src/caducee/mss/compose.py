"""The MSSanté message: subject, headers, body and attachments (issue 5 §2; notes §2.3; SC.MSS.10–16, CONF.14–21).

One patient per message (ECO.2.1.1). The stored documents travel in one `IHE_XDM.zip` (`caducee.mss.xdm.build_xdm`,
with the DMP's XDS metadata computed from the stored CDA bytes by
`caducee.documents.xds.xds_metadata`) and each with its
PDF. A CDA without INS (the identity was not QUAL when it was produced, R28) cannot carry XDS metadata (patientId is
the INS): that document travels as its PDF only, and the message says so in its headers (no X-MSS-CODECDA for it).

Headers:
* `Message-ID` on every message (SC.MSS.10), `In-Reply-To` + `References` on a reply or an "Annule et remplace"
  (SC.MSS.11; AMBU.MSS/va1.02: `[Annule et remplace] ` before the subject);
* Subject `XDM/1.0/DDM+<libellé> <NOM> <prénom> <JJ/MM/AAAA>` when an XDM is attached (ECO.2.1.3); the screens show
  it without `XDM/1.0/DDM+` (`display_subject`, SC.MSS/UX.28);
* `X-MSS-CODECDA` (CONF.15: the `code` of each CDA in the XDM, comma-separated), `X-MSS-INS: O|N` (CONF.14: O only
  when every CDA in the XDM holds the qualified INS with its traits, and the identity is QUAL now), both only with
  an XDM; `X-MSS-NIL` on every message (CONF.16); `X-MSS-MES: FIN` ends a patient conversation (CONF.21);
* `Return-Receipt-To` (DSN, SC.MSS.16) and `Disposition-Notification-To` (MDN, SC.MSS/UX.33) on every message;
* From with the display name of SC.MSS.15 (`NOM Prénom – entité` for a personal mailbox, the entity for an
  organisational or applicative one); an APP mailbox adds `Reply-To` and the "generated automatically" notice
  (SC.MSS.13).
UTF-8 everywhere (CONF.19); body `multipart/alternative` with a text/plain and an identical text/html (SC.MSS.12).
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import html
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from typing import TYPE_CHECKING

from django.conf import settings

from caducee.core.errors import SandboxDataError
from caducee.core.oids import INS_OIDS
from caducee.documents import xds_codes as codes
from caducee.documents.models import Document
from caducee.documents.validation import UnsafeXml, parse_untrusted
from caducee.documents.xds import SubmissionInfo, XdsDocumentEntry, XdsMetadataError, xds_metadata
from caducee.identity.ins import transmissible_ins
from caducee.mss.models import Mailbox, MailboxKind, OutboundMessage
from caducee.mss.xdm import build_xdm

if TYPE_CHECKING:
    from caducee.identity.models import Identity

XDM_PREFIX = "XDM/1.0/DDM+"
REPLACES_PREFIX = "[Annule et remplace] "
XDM_FILENAME = "IHE_XDM.zip"
PATIENT_DOMAIN = "patient.mssante.fr"
APP_NOTICE = (
    "Ce message a été généré automatiquement par le logiciel {software}. Pour joindre l'émetteur, écrivez à {reply_to}."
)
_H = {"h": "urn:hl7-org:v3"}
HEADER_POLICY = email.policy.default.clone(max_line_length=998)
_PREFIX_RE = re.compile(re.escape(XDM_PREFIX) + r"\s*")


class ComposeError(ValueError):
    """The message cannot be built; the message (French) says why."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str


@dataclass(frozen=True)
class DocumentParts:
    """What the stored documents of one message become: the XDM entries and the attachments."""

    entries: tuple[XdsDocumentEntry, ...]  # the CDAs that travel in the IHE_XDM.zip
    pdfs: tuple[Attachment, ...]
    cda_codes: tuple[str, ...]
    qualified_ins: bool  # X-MSS-INS: O


# --- subject ----------------------------------------------------------------------------------------------------


def display_subject(subject: str) -> str:
    """The subject as the screens show it: without `XDM/1.0/DDM+` (SC.MSS/UX.28), other prefixes kept."""
    return _PREFIX_RE.sub("", subject or "", count=1).strip()


def birth_date_fr(value: str) -> str:
    """`AAAA-MM-JJ` (or `JJ/MM/AAAA`) → `JJ/MM/AAAA`."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value or ""):
        return f"{value[8:10]}/{value[5:7]}/{value[0:4]}"
    return value or ""


def patient_label(identity: Identity) -> str:
    """`NOM Prénom JJ/MM/AAAA`: birth name, first given name, birth date (the traits of the INS)."""
    given = identity.first_given_name.strip()
    given = given[:1].upper() + given[1:].lower() if given else ""
    return " ".join(p for p in (identity.birth_name.strip().upper(), given, birth_date_fr(identity.birth_date)) if p)


def document_subject(identity: Identity, documents: Sequence[Document]) -> str:
    """`XDM/1.0/DDM+<libellé> <NOM> <prénom> <date de naissance>` (ECO.2.1.3); libellé = the documents' titles."""
    titles: list[str] = []
    for document in documents:
        if document.title and document.title not in titles:
            titles.append(document.title)
    label = ", ".join(titles) or "Document"
    return f"{XDM_PREFIX}{label} {patient_label(identity)}"[:450]


# --- addresses --------------------------------------------------------------------------------------------------


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower() if "@" in address else "localhost"


def new_message_id(sender_address: str) -> str:
    """A Message-ID (without <>) in the sender's domain (RFC 5322 §3.6.4)."""
    return f"{uuid.uuid4().hex}@{domain_of(sender_address)}"


def is_patient_address(address: str) -> bool:
    return domain_of(address) == PATIENT_DOMAIN


def sender_display_name(*, family_name: str, given_name: str, entity: str) -> str:
    """SC.MSS.15 Intitulé_BAL: `NOM Prénom – entité` for a personal mailbox (name mandatory), the entity alone for
    an organisational or applicative one (empty names)."""
    person = " ".join(p for p in (family_name.strip().upper(), given_name.strip()) if p)
    if person and entity:
        return f"{person} – {entity}"
    return person or entity


# --- documents --------------------------------------------------------------------------------------------------


def _pdf_name(document: Document, identity: Identity | None) -> str:
    """`AAAAMMJJ_<titre>_<NOM>_<PRENOM>.pdf` (the MDN example's pattern), only safe characters."""
    parts = [f"{document.effective_at:%Y%m%d}", document.title]
    if identity is not None:
        parts += [identity.birth_name, identity.first_given_name]
    text = unicodedata.normalize("NFKD", "_".join(p for p in parts if p))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[^A-Za-z0-9_.' -]+", "_", text).strip(" ._")[:120]
    return f"{text or 'document'}.pdf"


def _cda_root(document: Document) -> object:
    try:
        return parse_untrusted(bytes(document.cda)).getroot()
    except UnsafeXml as exc:
        raise ComposeError(f"« {document.title} » : document CDA illisible ({exc}).") from exc


def _cda_ins(root: object) -> tuple[str, bool]:
    """(matricule of the INS the CDA carries or "", whether the INS traits are all there)."""
    ids = root.xpath("h:recordTarget/h:patientRole/h:id", namespaces=_H)  # type: ignore[attr-defined]
    ins = [i for i in ids if i.get("root") in INS_OIDS and i.get("extension")]
    if not ins:
        return "", False
    patient = root.xpath("h:recordTarget/h:patientRole/h:patient", namespaces=_H)  # type: ignore[attr-defined]
    if not patient:
        return ins[0].get("extension"), False
    p = patient[0]
    traits = (
        p.xpath("h:name/h:family/text()", namespaces=_H),
        p.xpath("h:name/h:given/text()", namespaces=_H),
        p.xpath("h:birthTime/@value", namespaces=_H),
        p.xpath("h:administrativeGenderCode/@code", namespaces=_H),
    )
    return ins[0].get("extension"), all(any(str(v).strip() for v in trait) for trait in traits)


def document_parts(
    documents: Sequence[Document], identity: Identity | None, *, submission: SubmissionInfo
) -> DocumentParts:
    """Check and prepare the documents of one message (see the module docstring); ComposeError otherwise.

    R28 at send time: a CDA carrying an INS goes only while the identity is QUAL; if it is not any more, the
    document cannot be sent (its header holds the INS): it must be produced again.
    """
    entries: list[XdsDocumentEntry] = []
    pdfs: list[Attachment] = []
    all_qualified = True
    patients = {d.patient_id for d in documents}
    if len(patients) > 1:
        raise ComposeError("Un message MSSanté ne concerne qu'un seul patient : envoyez un message par patient.")
    try:
        transmissible = transmissible_ins(identity) if identity is not None else None
    except SandboxDataError:  # R28: a test identity on a real service
        transmissible = None
    for document in documents:
        root = _cda_root(document)
        matricule, traits = _cda_ins(root)
        pdf = bytes(document.pdf) if document.pdf is not None else None
        if matricule:
            if transmissible is None or transmissible.matricule != matricule:
                raise ComposeError(
                    f"« {document.title} » porte un INS alors que l'identité du patient n'est plus qualifiée : "
                    "régénérez le document avant de l'envoyer."
                )
            try:
                entry = xds_metadata(
                    bytes(document.cda),
                    pdf=pdf if document.model == "n1" else None,
                    submission=submission,
                    entry_id=f"Document{len(entries) + 1:02d}",
                )
            except XdsMetadataError as exc:
                raise ComposeError(f"« {document.title} » : {exc}") from exc
            entries.append(entry)
            all_qualified = all_qualified and traits
        elif pdf is None:
            raise ComposeError(
                f"« {document.title} » n'a ni INS qualifiée (archive IHE_XDM impossible) ni PDF : rien à envoyer."
            )
        if pdf is not None:
            pdfs.append(Attachment(_pdf_name(document, identity), pdf, "application", "pdf"))
    return DocumentParts(
        entries=tuple(entries),
        pdfs=tuple(pdfs),
        cda_codes=tuple(e.type_code.code for e in entries),
        qualified_ins=bool(entries) and all_qualified,
    )


def submission_for(*, unique_id: str, source_id: str, moment: dt.datetime, title: str) -> SubmissionInfo:
    return SubmissionInfo(
        unique_id=unique_id,
        source_id=source_id,
        submission_time=moment,
        content_type=codes.CONTENT_TYPE_CONSULTATION,
        title=title[:200],
    )


# --- the message ------------------------------------------------------------------------------------------------


def html_of(text: str) -> str:
    """The text/html twin of a text/plain body: the same words, escaped, paragraphs and line breaks kept."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()) if p.strip()]
    body = "".join("<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>\n" for p in paragraphs)
    return f'<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8"></head><body>\n{body}</body></html>\n'


def software_nil() -> str:
    """X-MSS-NIL (CONF.16): the Ségur referencing number; the software name and version until it is known."""
    return settings.MSS_NIL or f"{settings.SOFTWARE_NAME}-{settings.SOFTWARE_VERSION}"


def compose_message(
    *,
    sender_address: str,
    sender_name: str,
    recipients: Sequence[tuple[str, str]],
    subject: str,
    body: str,
    message_id: str,
    date: dt.datetime,
    parts: DocumentParts | None = None,
    submission: SubmissionInfo | None = None,
    in_reply_to: str = "",
    references: str = "",
    end_conversation: bool = False,
    reply_to: str = "",
    application_mailbox: bool = False,
) -> EmailMessage:
    """The RFC 5322 message (see the module docstring). `recipients`: (address, display name)."""
    message = EmailMessage(policy=email.policy.default)
    message["From"] = Address(display_name=sender_name, addr_spec=sender_address)
    message["To"] = [Address(display_name=name, addr_spec=address) for address, name in recipients]
    message["Date"] = email.utils.format_datetime(date.astimezone(dt.UTC))
    message["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to.strip('<>')}>"
        message["References"] = " ".join(f"<{r.strip('<>')}>" for r in references.split() or [in_reply_to])
    message["Subject"] = subject
    message["Return-Receipt-To"] = sender_address  # DSN (SC.MSS.16)
    message["Disposition-Notification-To"] = sender_address  # MDN (SC.MSS/UX.33)
    message["X-MSS-NIL"] = software_nil()
    if parts is not None and parts.entries:
        message["X-MSS-CODECDA"] = ",".join(parts.cda_codes)
        message["X-MSS-INS"] = "O" if parts.qualified_ins else "N"
    if end_conversation:
        message["X-MSS-MES"] = "FIN"
    text = body.strip()
    if application_mailbox:
        text += "\n\n" + APP_NOTICE.format(software=settings.SOFTWARE_NAME, reply_to=reply_to or sender_address)
        if reply_to:
            message["Reply-To"] = reply_to
    text += "\n"
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html_of(text), subtype="html", charset="utf-8", cte="quoted-printable")
    if parts is not None and (parts.entries or parts.pdfs):
        message.make_mixed()
        if parts.entries:
            if submission is None:
                raise ComposeError("Lot de soumission XDM manquant.")
            archive = build_xdm(
                parts.entries,
                submission,
                sender=sender_name or sender_address,
                software=f"{settings.SOFTWARE_NAME} {settings.SOFTWARE_VERSION}",
                now=submission.submission_time,
            )
            message.add_attachment(archive, maintype="application", subtype="zip", filename=XDM_FILENAME)
        for pdf in parts.pdfs:
            message.add_attachment(pdf.content, maintype=pdf.maintype, subtype=pdf.subtype, filename=pdf.filename)
    # Bodies were encoded in 76-character lines; headers are folded only beyond RFC 5322's 998 (the default 78 folds
    # a long subject right after "Subject:", and some readers then see " XDM/1.0/DDM+…" with a leading space).
    message.policy = HEADER_POLICY
    return message


# --- from the database ------------------------------------------------------------------------------------------


def mailbox_display_name(mailbox: Mailbox, practice_name: str) -> str:
    """SC.MSS.15 for a mailbox: its owner `NOM Prénom – cabinet` (PER), else its own name or the practice's."""
    owner = mailbox.owner if mailbox.kind == MailboxKind.PER else None
    if owner is not None and (owner.last_name or owner.first_name):
        return sender_display_name(family_name=owner.last_name, given_name=owner.first_name, entity=practice_name)
    return mailbox.display_name or practice_name or mailbox.address


def reply_to_for(message: OutboundMessage) -> str:
    """SC.MSS.13: the PER mailbox of the author, else the practice's ORG mailbox, to answer an APP mailbox's mail."""
    personal = Mailbox.objects.filter(owner_id=message.author_id, kind=MailboxKind.PER, is_active=True).first()
    if personal is None:
        personal = Mailbox.objects.filter(kind=MailboxKind.ORG, is_active=True).first()
    return personal.address if personal is not None else ""


def outbound_submission(message: OutboundMessage, documents: Sequence[Document]) -> SubmissionInfo:
    """The XDM submission set of a message: practice root + ".4." + message id, dated at the message's creation —
    the same at every attempt, so a resend carries the same archive."""
    from caducee.accounts.models import Practice
    from caducee.documents.cda.header import practice_oid_root

    root = practice_oid_root(Practice.objects.first())
    title = documents[0].title if documents else message.subject
    return submission_for(unique_id=f"{root}.4.{message.pk}", source_id=root, moment=message.created_at, title=title)


def outbound_email(message: OutboundMessage) -> EmailMessage:
    """The mail of a stored OutboundMessage, rebuilt identically at each attempt (same Message-ID, date, archive)."""
    from caducee.accounts.models import Practice

    practice = Practice.objects.first()
    mailbox = message.mailbox
    identity = message.patient.identity if message.patient is not None else None
    documents = list(message.documents.order_by("id"))
    submission = outbound_submission(message, documents)
    parts = document_parts(documents, identity, submission=submission) if documents else None
    application = mailbox.kind == MailboxKind.APP
    return compose_message(
        sender_address=mailbox.address,
        sender_name=mailbox_display_name(mailbox, practice.name if practice else ""),
        recipients=[(r.address, r.display_name) for r in message.recipients.all()],
        subject=message.subject,
        body=message.body_text,
        message_id=message.message_id,
        date=message.created_at,
        parts=parts,
        submission=submission,
        in_reply_to=message.in_reply_to,
        references=message.references,
        end_conversation=message.ends_conversation,
        reply_to=reply_to_for(message) if application else "",
        application_mailbox=application,
    )
