"""Documents received from outside (MSSanté, an imported file…): read the CDA header, store the CDA as a Document.

Generic on purpose: this module knows nothing of how the document came (`documents/` never imports `mss/`).

- `read_cda_header(data)` parses with the hardened parser (`validation.parse_untrusted`: no DTD, no entity, size
  bounded) and returns what filing needs: ClinicalDocument/id, setId, versionNumber, code, title, the replaced
  document (relatedDocument RPLC), the PDF of an N1 document, and the patient as the document describes them (INS
  matricule + OID from patientRole/id, birth name, first given name, birth date, sex).
- `received_store(...)` stores it as a Document in state RECEIVED: deduplicated by uniqueId (SC.MSS/CDA.01), a newer
  version of the same setId replaces the current one through `Document.replaces`, the older one kept as history
  (SC.MSS/CDA.02–03).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from lxml import etree

from caducee.core.audit import audit_record
from caducee.core.oids import INS_OIDS
from caducee.core.text import normalize_trait
from caducee.documents.models import Document
from caducee.documents.validation import UnsafeXml, parse_untrusted
from caducee.patients.models import Patient

NS = {"h": "urn:hl7-org:v3"}
MODEL_RECEIVED = "externe"  # Document.model of a document produced elsewhere
# CDA administrativeGenderCode (HL7 AdministrativeGender) → Identity.sex.
_SEX = {"M": "M", "F": "F", "UN": "I", "U": "I"}
# J07 type codes filed among letters or lab results; anything else goes to "Documents divers".
_LETTER_CODES = frozenset({"11488-4", "96349-6", "34133-9", "11490-0", "18842-5", "89601-9", "28616-1"})
_LAB_CODES = frozenset({"11502-2"})
_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?")


class ReceivedCdaError(ValueError):
    """Not a CDA document we can file; the message (French) says why."""


@dataclass(frozen=True)
class PatientTraits:
    """The patient as a received document describes them (the INS and its traits, R1/R5)."""

    ins_matricule: str = ""
    ins_oid: str = ""
    birth_name: str = ""
    first_given_name: str = ""
    given_names: str = ""
    birth_date: str = ""  # YYYY-MM-DD (00 for an unknown month or day)
    sex: str = ""  # M | F | I

    def as_dict(self) -> dict[str, str]:
        return dict(vars(self))


@dataclass(frozen=True)
class CdaHeader:
    unique_id_root: str
    unique_id_ext: str
    set_id_root: str
    set_id_ext: str
    version: int
    type_code: str
    type_code_system: str
    type_label: str
    title: str
    effective_at: dt.datetime | None
    confidentiality: str
    patient: PatientTraits
    author: str = ""
    replaces_unique_id: str = ""  # relatedDocument RPLC / parentDocument / id, "root^extension"
    pdf: bytes | None = field(default=None, repr=False)  # nonXMLBody of an N1 document

    @property
    def unique_id(self) -> str:
        return f"{self.unique_id_root}^{self.unique_id_ext}" if self.unique_id_ext else self.unique_id_root


def _first(root: etree._Element, path: str) -> etree._Element | None:
    found = root.xpath(path, namespaces=NS)
    return found[0] if isinstance(found, list) and found and isinstance(found[0], etree._Element) else None


def _text(node: etree._Element | None) -> str:
    return " ".join("".join(str(t) for t in node.itertext()).split()) if node is not None else ""


def _ts_date(value: str) -> str:
    match = _TS.match(value or "")
    if not match:
        return ""
    year, month, day = match.group(1), match.group(2) or "00", match.group(3) or "00"
    return f"{year}-{month}-{day}"


def _ts_datetime(value: str) -> dt.datetime | None:
    match = _TS.match(value or "")
    if not match or not match.group(3):
        return None
    year, month, day, hour, minute, second = (int(p) if p else 0 for p in match.groups())
    tz = dt.UTC
    offset = re.search(r"([+-])(\d{2})(\d{2})$", value)
    if offset:
        delta = dt.timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3)))
        tz = dt.timezone(delta if offset.group(1) == "+" else -delta)
    try:
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:
        return None


def _patient_traits(root: etree._Element) -> PatientTraits:
    role = _first(root, "h:recordTarget/h:patientRole")
    if role is None:
        return PatientTraits()
    matricule = oid = ""
    ids = role.xpath("h:id", namespaces=NS)
    for node in ids if isinstance(ids, list) else []:
        if isinstance(node, etree._Element) and node.get("root") in INS_OIDS and node.get("extension"):
            matricule, oid = (node.get("extension") or "").strip().upper(), node.get("root") or ""
            break
    patient = _first(role, "h:patient")
    if patient is None:
        return PatientTraits(ins_matricule=matricule, ins_oid=oid)
    name = _first(patient, "h:name")
    birth_name = first_given = given_names = ""
    if name is not None:
        family = _first(name, "h:family[@qualifier='BR']")
        family = family if family is not None else _first(name, "h:family")
        birth_name = _text(family)
        given_br = _first(name, "h:given[@qualifier='BR']")
        found = name.xpath("h:given[not(@qualifier)]", namespaces=NS)
        plain = [g for g in (found if isinstance(found, list) else []) if isinstance(g, etree._Element)]
        given_names = _text(plain[0]) if plain else ""
        first_given = _text(given_br) or (given_names.split()[0] if given_names else "")
        if not first_given:
            any_given = _first(name, "h:given")
            first_given = _text(any_given).split()[0] if _text(any_given) else ""
    gender = _first(patient, "h:administrativeGenderCode")
    birth = _first(patient, "h:birthTime")
    return PatientTraits(
        ins_matricule=matricule,
        ins_oid=oid,
        birth_name=normalize_trait(birth_name),
        first_given_name=normalize_trait(first_given),
        given_names=normalize_trait(given_names or first_given),
        birth_date=_ts_date(birth.get("value", "") if birth is not None else ""),
        sex=_SEX.get((gender.get("code", "") if gender is not None else "").upper(), ""),
    )


def _embedded_pdf(root: etree._Element) -> bytes | None:
    text = _first(root, "h:component/h:nonXMLBody/h:text")
    if text is None or text.get("mediaType") != "application/pdf" or text.get("representation") != "B64":
        return None
    try:
        return base64.b64decode("".join((text.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def read_cda_header(data: bytes) -> CdaHeader:
    """The header of a received CDA R2 document; ReceivedCdaError (French) when it cannot be filed.

    CONF.19 (and the CI-SIS): documents travel in UTF-8; another encoding is refused rather than guessed.
    """
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReceivedCdaError("document CDA refusé : il n'est pas encodé en UTF-8.") from exc
    declared = re.match(rb"\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']", body)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        raise ReceivedCdaError(
            f"document CDA refusé : encodage {declared.group(1).decode('ascii')} déclaré, UTF-8 attendu."
        )
    try:
        root = parse_untrusted(data).getroot()
    except UnsafeXml as exc:
        raise ReceivedCdaError(f"document CDA refusé : {exc}") from exc
    if root.tag != "{urn:hl7-org:v3}ClinicalDocument":
        raise ReceivedCdaError("ce fichier XML n'est pas un document CDA R2 (ClinicalDocument attendu).")
    doc_id = _first(root, "h:id")
    if doc_id is None or not doc_id.get("root"):
        raise ReceivedCdaError("document CDA sans identifiant (ClinicalDocument/id@root).")
    set_id = _first(root, "h:setId")
    version = _first(root, "h:versionNumber")
    code = _first(root, "h:code")
    effective = _first(root, "h:effectiveTime")
    confidentiality = _first(root, "h:confidentialityCode")
    parent = _first(root, "h:relatedDocument[@typeCode='RPLC']/h:parentDocument/h:id")
    author = _first(root, "h:author/h:assignedAuthor/h:assignedPerson/h:name")
    try:
        version_number = int((version.get("value") if version is not None else "1") or "1")
    except ValueError:
        version_number = 1
    root_id, ext = doc_id.get("root", ""), doc_id.get("extension", "") or ""
    set_root = (set_id.get("root") if set_id is not None else "") or root_id
    set_ext = (set_id.get("extension") if set_id is not None else "") or ("" if set_id is not None else ext)
    if max(len(root_id), len(set_root)) > 64 or max(len(ext), len(set_ext)) > 40:
        raise ReceivedCdaError("document CDA refusé : identifiant trop long.")
    parent_id = ""
    if parent is not None and parent.get("root"):
        parent_id = parent.get("root", "") + (f"^{parent.get('extension')}" if parent.get("extension") else "")
    return CdaHeader(
        unique_id_root=root_id,
        unique_id_ext=ext,
        set_id_root=set_root,
        set_id_ext=set_ext,
        version=max(version_number, 1),
        type_code=(code.get("code", "") if code is not None else "")[:20],
        type_code_system=(code.get("codeSystem", "") if code is not None else "")[:64],
        type_label=(code.get("displayName", "") if code is not None else "")[:200],
        title=_text(_first(root, "h:title"))[:300],
        effective_at=_ts_datetime(effective.get("value", "") if effective is not None else ""),
        confidentiality=(confidentiality.get("code", "N") if confidentiality is not None else "N"),
        patient=_patient_traits(root),
        author=_text(author)[:200],
        replaces_unique_id=parent_id,
        pdf=_embedded_pdf(root),
    )


class Outcome(StrEnum):
    CREATED = "created"  # stored, first version of its setId
    REPLACED = "replaced"  # stored, replaces the current version (kept as history)
    DUPLICATE = "duplicate"  # this uniqueId is already stored for this patient, same content
    OUTDATED = "outdated"  # an older version than the one stored: not filed over it
    CONFLICT = "conflict"  # uniqueId or setId already used by another patient or another content


@dataclass(frozen=True)
class ReceivedResult:
    outcome: Outcome
    document: Document | None
    reason: str = ""


def _category(type_code: str) -> str:
    if type_code in _LAB_CODES:
        return Document.Category.LAB
    if type_code in _LETTER_CODES:
        return Document.Category.LETTER
    return Document.Category.OTHER


def _same_content(document: Document, cda: bytes) -> bool:
    return bytes(document.cda) == cda


def _existing(header: CdaHeader, patient: Patient, cda: bytes) -> ReceivedResult | None:
    """SC.MSS/CDA.01: the same uniqueId is never stored twice."""
    found = Document.objects.filter(unique_id_root=header.unique_id_root, unique_id_ext=header.unique_id_ext).first()
    if found is None:
        return None
    if found.patient_id != patient.pk or not _same_content(found, cda):
        return ReceivedResult(
            Outcome.CONFLICT, found, "identifiant de document (uniqueId) déjà utilisé par un autre document."
        )
    return ReceivedResult(Outcome.DUPLICATE, found, "document déjà présent dans le dossier (même uniqueId).")


def _current_version(header: CdaHeader) -> Document | None:
    """The stored version of the setId that nothing replaces yet (the head of the history)."""
    return (
        Document.objects.filter(set_id_root=header.set_id_root, set_id_ext=header.set_id_ext, replaced_by__isnull=True)
        .order_by("-version_number", "-id")
        .first()
    )


def received_store(
    *,
    actor: Any,
    patient: Patient,
    cda: bytes,
    header: CdaHeader,
    pdf: bytes | None = None,
    correspondent: str = "",
) -> ReceivedResult:
    """Store a received CDA in `patient`'s chart (state RECEIVED), or say why not (SC.MSS/CDA.01–03).

    `actor` is the user who attached it from the work list, or None for an automatic filing (audited as "système").
    The caller checks permissions: automatic filing has no user.
    """
    # No savepoint of its own when nested (the inbox's intake): one round trip less per document on PostgreSQL.
    with transaction.atomic(savepoint=False):
        known = _existing(header, patient, cda)
        if known is not None:
            return known
        previous = _current_version(header)
        if previous is not None:
            if previous.patient_id != patient.pk:
                return ReceivedResult(
                    Outcome.CONFLICT, previous, "une autre version de ce document appartient à un autre patient."
                )
            if previous.version_number >= header.version:
                return ReceivedResult(
                    Outcome.OUTDATED,
                    previous,
                    f"version {header.version} reçue alors que la version {previous.version_number} "
                    "est déjà dans le dossier.",
                )
        try:
            with transaction.atomic():
                document = Document.objects.create(
                    patient=patient,
                    type_code=header.type_code or "inconnu",
                    type_code_system=header.type_code_system,
                    type_label=header.type_label or header.title or "Document reçu",
                    model=MODEL_RECEIVED,
                    category=_category(header.type_code),
                    state=Document.State.RECEIVED,
                    title=header.title or header.type_label or "Document reçu",
                    correspondent=(correspondent or header.author)[:200],
                    author=None,  # written elsewhere: the author is in the CDA (and `correspondent`)
                    effective_at=header.effective_at or timezone.now(),
                    unique_id_root=header.unique_id_root,
                    unique_id_ext=header.unique_id_ext,
                    set_id_root=header.set_id_root,
                    set_id_ext=header.set_id_ext,
                    version_number=header.version,
                    replaces=previous,
                    confidentiality=header.confidentiality if header.confidentiality in ("N", "R", "V") else "N",
                    cda=cda,
                    pdf=pdf if pdf is not None else header.pdf,
                )
        except IntegrityError:
            # A concurrent intake stored the same uniqueId (or version) first: report what is there now.
            known = _existing(header, patient, cda)
            if known is not None:
                return known
            return ReceivedResult(Outcome.CONFLICT, None, "version de document déjà enregistrée (même setId).")
        audit_record(
            actor=actor,
            action="document.receive",
            object_type="document",
            object_id=document.pk,
            patient_id=patient.pk,
            detail={
                "uniqueId": document.unique_id,
                "version": header.version,
                "remplace": previous.unique_id if previous else "",
            },
        )
    return ReceivedResult(Outcome.REPLACED if previous else Outcome.CREATED, document)
