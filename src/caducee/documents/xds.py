"""XDS.b metadata derived from a stored CDA header, and the ITI-41 ProvideAndRegisterDocumentSet-b body.

Everything comes from the CDA header (mapping.md §"Mapping XDS"), never from the models: the document sent to the
DMP is exactly the stored one, and its metadata can be recomputed from it at any time (outbox resend, audit).

The request is built with the document content inline (base64 text of `xdsb:Document`): this is the XOP logical
infoset, valid against the XSD. The MTOM serializer (later slice) replaces that text with
`<xop:Include href="cid:{entry.content_id}"/>` and ships `entry.content` as the MIME part with
`Content-ID: <{entry.content_id}>` (ITI TF-2b §3.41.4.1.3, example DRIM-M_DATA publication.xml).

Not set here: `repositoryUniqueId` (assigned by the repository in ITI-41, ITI TF-3 §4.2.3.2.18), the XAdES
signature document of the lot (IHE DSG, later slice), eventCodeList and referenceIdList (optional).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from lxml import etree

from caducee.core.oids import INS_OIDS, OID_PS_NATIONAL_ID, OID_STRUCTURE_ID
from caducee.documents import xds_codes as codes
from caducee.documents.render import pdf_of_root
from caducee.documents.validation import parse_untrusted
from caducee.documents.xds_codes import XdsCode

NS_XDSB = "urn:ihe:iti:xds-b:2007"
NS_LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
NS_RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NSMAP = {"xdsb": NS_XDSB, "lcm": NS_LCM, "rim": NS_RIM}
_H = {"h": "urn:hl7-org:v3"}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class XdsMetadataError(ValueError):
    """The CDA cannot be sent to the DMP; the message is shown to the user (French)."""


@dataclass(frozen=True)
class SubmissionInfo:
    """What the sending system adds to the documents: the submission set (lot de soumission)."""

    unique_id: str  # OID, allocated by the sender under its own root
    source_id: str  # the sending system's OID
    submission_time: dt.datetime
    content_type: XdsCode = codes.CONTENT_TYPE_CONSULTATION
    title: str = ""


@dataclass(frozen=True)
class XdsAuthor:
    person: str  # XCN
    institution: str = ""  # XON
    role: str = ""  # CE code^display^system
    specialty: str = ""


@dataclass(frozen=True)
class XdsDocumentEntry:
    entry_id: str  # local symbolic id in the request (ebRIM id; the registry assigns the entryUUID)
    unique_id: str
    patient_id: str  # CX of the INS
    source_patient_id: str
    source_patient_info: tuple[str, ...]
    title: str
    class_code: XdsCode
    type_code: XdsCode
    format_code: XdsCode
    confidentiality: tuple[XdsCode, ...]
    facility_type: XdsCode
    practice_setting: XdsCode
    author: XdsAuthor
    legal_authenticator: str
    creation_time: str
    service_start_time: str
    service_stop_time: str
    language_code: str
    hash: str  # SHA-1 hex of content
    size: int
    content: bytes = field(repr=False)
    mime_type: str = "text/xml"

    @property
    def content_id(self) -> str:
        """The MIME Content-ID of the MTOM part carrying `content` (without angle brackets)."""
        return f"{self.entry_id}@caducee"


# --- HL7 v2 data types -------------------------------------------------------------------------------------------


def hl7_escape(value: str) -> str:
    """HL7 v2 escaping of a component value (\\ first, then the delimiters ^ & ~ |)."""
    for char, esc in (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        value = value.replace(char, esc)
    return value


def ins_cx(matricule: str, oid: str, kind: str = "NH") -> str:
    return f"{hl7_escape(matricule)}^^^&{oid}&ISO^{kind}"


def xds_time(hl7_ts: str) -> str:
    """A CDA TS (YYYYMMDD[HHMM[SS]][±ZZZZ]) as an XDS DTM in UTC, at the precision given."""
    value, sign, offset = hl7_ts, "", ""
    for s in "+-":
        if s in hl7_ts:
            value, offset = hl7_ts.split(s, 1)
            sign = s
    if not value.isdigit() or len(value) < 4:
        raise XdsMetadataError(f"date CDA illisible : « {hl7_ts} ».")
    if not sign or len(value) < 12:
        return value
    fmt = "%Y%m%d%H%M%S" if len(value) >= 14 else "%Y%m%d%H%M"
    moment = dt.datetime.strptime(value[:14], fmt)
    delta = dt.timedelta(hours=int(offset[:2]), minutes=int(offset[2:4] or 0))
    moment = moment - delta if sign == "+" else moment + delta
    return moment.strftime(fmt)


# --- CDA header reading --------------------------------------------------------------------------------------------


def _first(node: etree._Element, path: str) -> etree._Element | None:
    found = node.xpath(path, namespaces=_H)
    return found[0] if isinstance(found, list) and found else None  # type: ignore[return-value]


def _all(node: etree._Element, path: str) -> list[etree._Element]:
    found = node.xpath(path, namespaces=_H)
    return [f for f in found if isinstance(f, etree._Element)] if isinstance(found, list) else []


def _attr(node: etree._Element, path: str, name: str) -> str:
    found = _first(node, path)
    return (found.get(name) or "") if found is not None else ""


def _text(node: etree._Element, path: str) -> str:
    found = _first(node, path)
    return "".join(str(t) for t in found.itertext()).strip() if found is not None else ""


def _code(node: etree._Element | None, what: str) -> XdsCode:
    if node is None or not node.get("code") or not node.get("codeSystem"):
        raise XdsMetadataError(f"le document CDA n'a pas de {what} codé : impossible de l'envoyer au DMP.")
    return XdsCode(node.get("code", ""), node.get("codeSystem", ""), node.get("displayName") or node.get("code") or "")


def _xcn(entity: etree._Element | None, what: str) -> str:
    if entity is None:
        raise XdsMetadataError(f"le document CDA n'a pas de {what}.")
    ident = _first(entity, f"h:id[@root='{OID_PS_NATIONAL_ID}']")
    if ident is None or not ident.get("extension"):
        raise XdsMetadataError(f"le {what} du document n'a pas d'identifiant national (RPPS/ADELI).")
    family = hl7_escape(_text(entity, "h:assignedPerson/h:name/h:family"))
    given = hl7_escape(_text(entity, "h:assignedPerson/h:name/h:given"))
    return f"{hl7_escape(ident.get('extension', ''))}^{family}^{given}^^^^^^&{OID_PS_NATIONAL_ID}&ISO^D^^^IDNPS"


def _xon(organization: etree._Element | None) -> str:
    if organization is None:
        return ""
    name = hl7_escape(_text(organization, "h:name"))
    ident = _first(organization, f"h:id[@root='{OID_STRUCTURE_ID}']")
    if ident is None or not ident.get("extension"):
        return name
    return f"{name}^^^^^&{OID_STRUCTURE_ID}&ISO^IDNST^^^{hl7_escape(ident.get('extension', ''))}"


def _ce(node: etree._Element | None) -> str:
    if node is None or not node.get("code"):
        return ""
    parts = (node.get("code", ""), node.get("displayName", ""), node.get("codeSystem", ""))
    return "^".join(hl7_escape(p) for p in parts)


def _format_code(root: etree._Element) -> XdsCode:
    templates = set(root.xpath("h:templateId/@root", namespaces=_H))  # type: ignore[arg-type]
    for template, code in codes.FORMAT_OF_TEMPLATE:
        if template in templates:
            return code
    raise XdsMetadataError("modèle de document CDA non reconnu (ni N1, ni VSM, ni IPS-FR) : formatCode inconnu.")


def _check_pdf(root: etree._Element, pdf: bytes) -> None:
    if pdf_of_root(root) != pdf:
        raise XdsMetadataError("le PDF fourni n'est pas celui du document CDA N1.")


def xds_metadata(
    cda: bytes,
    *,
    pdf: bytes | None = None,
    submission: SubmissionInfo,
    visibility: Sequence[str] = (),
    entry_id: str = "Document01",
) -> XdsDocumentEntry:
    """The DocumentEntry of a stored CDA (bytes exactly as sent), per mapping.md.

    `pdf`, for an N1 document, is checked against the PDF embedded in the CDA (the one shown to the user).
    `visibility` adds TRE_A07 confidentiality codes (MASQUE_PS, INVISIBLE_PATIENT…) after the CDA's own.
    """
    del submission  # the document entry needs nothing from the lot today; kept for the signature's stability
    root = parse_untrusted(cda).getroot()
    if root.tag != "{urn:hl7-org:v3}ClinicalDocument":
        raise XdsMetadataError("ce n'est pas un document CDA R2.")

    doc_id = _first(root, "h:id")
    if doc_id is None or not doc_id.get("root"):
        raise XdsMetadataError("le document CDA n'a pas d'identifiant (id@root).")
    unique_id = doc_id.get("root", "") + (f"^{doc_id.get('extension')}" if doc_id.get("extension") else "")

    ins = [i for i in _all(root, "h:recordTarget/h:patientRole/h:id") if i.get("root") in INS_OIDS]
    if not ins or not ins[0].get("extension"):
        raise XdsMetadataError(
            "le document ne porte pas l'INS du patient : le DMP n'est alimenté que pour une identité qualifiée "
            "(statut QUAL). Qualifiez l'identité puis régénérez le document."
        )
    matricule, ins_oid = ins[0].get("extension", ""), ins[0].get("root", "")
    patient = _first(root, "h:recordTarget/h:patientRole/h:patient")
    info = [f"PID-3|{ins_cx(matricule, ins_oid)}"]
    if patient is not None:
        family = _text(patient, "h:name/h:family[@qualifier='BR']") or _text(patient, "h:name/h:family")
        given = _text(patient, "h:name/h:given")
        info.append(f"PID-5|{hl7_escape(family)}^{hl7_escape(given)}^^^^^L")
        if birth := _attr(patient, "h:birthTime", "value"):
            info.append(f"PID-7|{birth[:8]}")
        if sex := _attr(patient, "h:administrativeGenderCode", "code"):
            info.append(f"PID-8|{sex}")

    type_code = _code(_first(root, "h:code"), "type de document (code)")
    class_code = codes.CLASS_OF_TYPE.get((type_code.scheme, type_code.code))
    if class_code is None:
        raise XdsMetadataError(f"type de document « {type_code.display} » sans classe DMP connue (ASS_X04).")

    conf = _code(_first(root, "h:confidentialityCode"), "code de confidentialité")
    if conf.code not in codes.CONFIDENTIALITY:
        raise XdsMetadataError(f"code de confidentialité « {conf.code} » hors JDV_J58.")
    confidentiality = [XdsCode(conf.code, codes.HL7_CONFIDENTIALITY, codes.CONFIDENTIALITY[conf.code])]
    for flag in visibility:
        if flag not in codes.VISIBILITY:
            raise XdsMetadataError(f"visibilité « {flag} » inconnue du DMP.")
        confidentiality.append(XdsCode(flag, codes.VISIBILITY_SYSTEM, codes.VISIBILITY[flag]))

    format_code = _format_code(root)
    if pdf is not None:
        if format_code != codes.FORMAT_N1_PDF:
            raise XdsMetadataError("un PDF n'accompagne qu'un document CDA N1.")
        _check_pdf(root, pdf)

    assigned = _first(root, "h:author/h:assignedAuthor")
    author = XdsAuthor(
        person=_xcn(assigned, "auteur"),
        institution=_xon(_first(root, "h:author/h:assignedAuthor/h:representedOrganization")),
        role=_ce(_first(root, "h:author/h:functionCode")),
        specialty=_ce(_first(root, "h:author/h:assignedAuthor/h:code")),
    )
    facility = _code(
        _first(root, "h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code"),
        "type de structure (healthCareFacility/code)",
    )
    setting_node = _first(
        root,
        "h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity/h:representedOrganization/"
        "h:standardIndustryClassCode",
    )
    if setting_node is None:
        setting_node = _first(
            root, "h:legalAuthenticator/h:assignedEntity/h:representedOrganization/h:standardIndustryClassCode"
        )
    setting = _code(setting_node, "cadre d'exercice (standardIndustryClassCode)")
    effective = _attr(root, "h:effectiveTime", "value")
    if not effective:
        raise XdsMetadataError("le document CDA n'a pas de date (effectiveTime).")
    start = _attr(root, "h:documentationOf/h:serviceEvent/h:effectiveTime/h:low", "value") or effective
    stop = _attr(root, "h:documentationOf/h:serviceEvent/h:effectiveTime/h:high", "value")
    title = _text(root, "h:title")
    if not title:
        raise XdsMetadataError("le document CDA n'a pas de titre.")

    return XdsDocumentEntry(
        entry_id=entry_id,
        unique_id=unique_id,
        patient_id=ins_cx(matricule, ins_oid),
        source_patient_id=ins_cx(matricule, ins_oid, "PI"),
        source_patient_info=tuple(info),
        title=title,
        class_code=class_code,
        type_code=type_code,
        format_code=format_code,
        confidentiality=tuple(confidentiality),
        facility_type=facility,
        practice_setting=setting,
        author=author,
        legal_authenticator=_xcn(_first(root, "h:legalAuthenticator/h:assignedEntity"), "responsable légal"),
        creation_time=xds_time(effective),
        service_start_time=xds_time(start),
        service_stop_time=xds_time(stop) if stop else "",
        language_code=_attr(root, "h:languageCode", "code") or "fr-FR",
        hash=hashlib.sha1(cda).hexdigest(),  # noqa: S324 - XDS hash is SHA-1 by definition (ITI TF-3 §4.2.3.2.18)
        size=len(cda),
        content=cda,
    )


# --- ebRIM serialization ---------------------------------------------------------------------------------------


def _rim(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{NS_RIM}}}{tag}", attrs)


def _slot(parent: etree._Element, name: str, *values: str) -> None:
    values_list = _rim(_rim(parent, "Slot", name=name), "ValueList")
    for value in values:
        _rim(values_list, "Value").text = value


def _name(parent: etree._Element, value: str) -> None:
    _rim(_rim(parent, "Name"), "LocalizedString", value=value, charset="UTF-8").set(_XML_LANG, "fr-FR")


class _Ids:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count:02d}"


def _classification(parent: etree._Element, ids: _Ids, scheme: str, code: XdsCode) -> None:
    obj = parent.get("id", "")
    node = _rim(parent, "Classification", id=ids("cl"), classificationScheme=scheme, classifiedObject=obj)
    node.set("nodeRepresentation", code.code)
    _slot(node, "codingScheme", code.scheme)
    _name(node, code.display)


def _author(parent: etree._Element, ids: _Ids, scheme: str, author: XdsAuthor) -> None:
    obj = parent.get("id", "")
    node = _rim(parent, "Classification", id=ids("cl"), classificationScheme=scheme, classifiedObject=obj)
    node.set("nodeRepresentation", "")
    _slot(node, "authorPerson", author.person)
    for name, value in (
        ("authorInstitution", author.institution),
        ("authorRole", author.role),
        ("authorSpecialty", author.specialty),
    ):
        if value:
            _slot(node, name, value)


def _external_id(parent: etree._Element, ids: _Ids, scheme: str, value: str, label: str) -> None:
    node = _rim(
        parent, "ExternalIdentifier", id=ids("ei"), registryObject=parent.get("id", ""), identificationScheme=scheme
    )
    node.set("value", value)
    _name(node, label)


def _extrinsic_object(objects: etree._Element, ids: _Ids, entry: XdsDocumentEntry) -> None:
    eo = _rim(objects, "ExtrinsicObject", id=entry.entry_id, mimeType=entry.mime_type)
    eo.set("objectType", codes.DOCUMENT_ENTRY_STABLE)
    _slot(eo, "creationTime", entry.creation_time)
    _slot(eo, "hash", entry.hash)
    _slot(eo, "languageCode", entry.language_code)
    _slot(eo, "legalAuthenticator", entry.legal_authenticator)
    _slot(eo, "serviceStartTime", entry.service_start_time)
    if entry.service_stop_time:
        _slot(eo, "serviceStopTime", entry.service_stop_time)
    _slot(eo, "size", str(entry.size))
    _slot(eo, "sourcePatientId", entry.source_patient_id)
    _slot(eo, "sourcePatientInfo", *entry.source_patient_info)
    _name(eo, entry.title)
    _author(eo, ids, codes.DE_AUTHOR, entry.author)
    _classification(eo, ids, codes.DE_CLASS_CODE, entry.class_code)
    for conf in entry.confidentiality:
        _classification(eo, ids, codes.DE_CONFIDENTIALITY_CODE, conf)
    _classification(eo, ids, codes.DE_FORMAT_CODE, entry.format_code)
    _classification(eo, ids, codes.DE_FACILITY_TYPE_CODE, entry.facility_type)
    _classification(eo, ids, codes.DE_PRACTICE_SETTING_CODE, entry.practice_setting)
    _classification(eo, ids, codes.DE_TYPE_CODE, entry.type_code)
    _external_id(eo, ids, codes.DE_PATIENT_ID, entry.patient_id, "XDSDocumentEntry.patientId")
    _external_id(eo, ids, codes.DE_UNIQUE_ID, entry.unique_id, "XDSDocumentEntry.uniqueId")


def provide_and_register_request(entries: Sequence[XdsDocumentEntry], submission: SubmissionInfo) -> etree._Element:
    """The `xdsb:ProvideAndRegisterDocumentSetRequest` (SOAP body of ITI-41) for one patient's documents.

    The submission set's author is the first document's author; every document must be for the same patient
    (XDS rule: one patientId per submission set).
    """
    if not entries:
        raise XdsMetadataError("aucun document à envoyer.")
    patients = {entry.patient_id for entry in entries}
    if len(patients) != 1:
        raise XdsMetadataError("un lot de soumission ne concerne qu'un seul patient.")
    if len({entry.entry_id for entry in entries}) != len(entries):
        raise XdsMetadataError("identifiants de documents en double dans le lot.")
    ids = _Ids()
    request = etree.Element(f"{{{NS_XDSB}}}ProvideAndRegisterDocumentSetRequest", nsmap=NSMAP)
    submit = etree.SubElement(request, f"{{{NS_LCM}}}SubmitObjectsRequest")
    objects = _rim(submit, "RegistryObjectList")

    package_id = "SubmissionSet01"
    package = _rim(objects, "RegistryPackage", id=package_id)
    submitted = submission.submission_time.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")
    _slot(package, "submissionTime", submitted)
    if submission.title:
        _name(package, submission.title)
    _author(package, ids, codes.SS_AUTHOR, entries[0].author)
    _classification(package, ids, codes.SS_CONTENT_TYPE_CODE, submission.content_type)
    _rim(
        package,
        "Classification",
        id=ids("cl"),
        classificationNode=codes.SUBMISSION_SET_NODE,
        classifiedObject=package_id,
    )
    _external_id(package, ids, codes.SS_UNIQUE_ID, submission.unique_id, "XDSSubmissionSet.uniqueId")
    _external_id(package, ids, codes.SS_SOURCE_ID, submission.source_id, "XDSSubmissionSet.sourceId")
    _external_id(package, ids, codes.SS_PATIENT_ID, entries[0].patient_id, "XDSSubmissionSet.patientId")

    for entry in entries:
        _extrinsic_object(objects, ids, entry)
    for entry in entries:
        association = _rim(
            objects,
            "Association",
            id=ids("as"),
            associationType=codes.HAS_MEMBER,
            sourceObject=package_id,
            targetObject=entry.entry_id,
        )
        _slot(association, "SubmissionSetStatus", "Original")
    for entry in entries:
        document = etree.SubElement(request, f"{{{NS_XDSB}}}Document", id=entry.entry_id)
        document.text = base64.b64encode(entry.content).decode("ascii")
    return request
