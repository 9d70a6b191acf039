"""The client's side of ITI-18 (stored queries), ITI-43 (retrieve), ITI-57 (metadata update) and RegistryResponse:
requests built, answers parsed.

Sources: IHE ITI TF-2a §3.18 (stored query ids and parameters, quoting of values: `'a'`, lists
`('a','b')`), ITI TF-2b §3.43, ITI TF-2b §3.57 (new DocumentEntry version with the same logicalId and
`PreviousVersion`, UpdateAvailabilityStatus association with `OriginalStatus`/`NewStatus`), ITI TF-3 §4.2.3
(metadata), ebRS 3.0 rs.xsd (RegistryResponse), and the DMP rules in docs/dmp.md §"XDS transactions" (notes §1.2).
The answers are the DMP's: nothing here builds them (the sandbox and the tests have their own).

Every request built here validates against XDS.b_DocumentRepository.xsd (which imports rim/lcm/rs/query):
tests/dmp/test_registry.py checks each one.

Idempotent resend (docs/dmp.md ITI-41): the registry answers Success with a Warning
`XDSDuplicateUniqueIdInRegistry` whose codeContext is the uniqueId already registered with the same hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from lxml import etree

from caducee.dmp.api import STATUS_APPROVED, DmpDocument, DmpInvalidResponse, DmpRejected
from caducee.dmp.mtom import include_target
from caducee.documents import xds_codes as codes
from caducee.documents.xds import NS_LCM, NS_RIM, NS_XDSB, SubmissionInfo, XdsAuthor
from caducee.documents.xds_codes import XdsCode

NS_RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
NS_QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
NSMAP = {"rim": NS_RIM, "rs": NS_RS, "query": NS_QUERY, "lcm": NS_LCM, "xdsb": NS_XDSB}
_R, _RS, _Q, _X = f"{{{NS_RIM}}}", f"{{{NS_RS}}}", f"{{{NS_QUERY}}}", f"{{{NS_XDSB}}}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
FIND_SUBMISSION_SETS = "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
GET_SUBMISSION_SET_AND_CONTENTS = "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83"
RESPONSE_PREFIX = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:"
SUCCESS, FAILURE, PARTIAL = (RESPONSE_PREFIX + s for s in ("Success", "Failure", "PartialSuccess"))
SEVERITY_ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
SEVERITY_WARNING = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"
DUPLICATE_SAME_HASH = "XDSDuplicateUniqueIdInRegistry"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
UPDATE_AVAILABILITY = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"

# French messages per known error code (docs/dmp.md §Errors).
ERROR_MESSAGES = {
    "XDSRegistryMetadataError": "les métadonnées du document ont été refusées par le DMP.",
    "XDSPatientIdDoesNotMatch": "l'INS du document ne correspond pas au patient du lot.",
    "XDSUnknownPatientId": "le DMP ne connaît pas cet INS.",
    "XDSNonIdenticalHash": "un document différent a déjà été envoyé au DMP sous le même identifiant.",
    "XDSMissingDocument": "le contenu d'un document manque dans l'envoi.",
    "XDSMissingDocumentMetadata": "les métadonnées d'un document manquent dans l'envoi.",
    "XDSDocumentUniqueIdError": "document inconnu du DMP (identifiant unique).",
    # As an error (a warning means an identical resend, a success): the identifier belongs to another document.
    "XDSDuplicateUniqueIdInRegistry": "l'identifiant du document est déjà utilisé dans le DMP par un autre document.",
    "XDSUnknownRepositoryId": "entrepôt de documents inconnu du DMP.",
    "XDSMetadataUpdateError": "la modification des métadonnées a été refusée.",
    "XDSMetadataVersionError": "le document a été modifié entre-temps dans le DMP : rechargez-le.",
    "XDSRepositoryError": "erreur de l'entrepôt de documents du DMP.",
    "DMP_FERME": "le DMP de ce patient est fermé.",
    "DMP_INEXISTANT": "ce patient n'a pas de DMP.",
    "DMP_ACCES_INTERDIT": "accès au DMP refusé pour ce professionnel.",
    "DMP_AUTEUR_REQUIS": "seul l'auteur du document peut le supprimer.",
}


# --- small ebRIM helpers ---------------------------------------------------------------------------------------


def _rim(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, _R + tag, attrs)


def _slot(parent: etree._Element, name: str, *values: str) -> None:
    value_list = _rim(_rim(parent, "Slot", name=name), "ValueList")
    for value in values:
        _rim(value_list, "Value").text = value


def _name(parent: etree._Element, value: str) -> None:
    _rim(_rim(parent, "Name"), "LocalizedString", value=value, charset="UTF-8").set(_XML_LANG, "fr-FR")


def _slots(node: etree._Element, name: str) -> list[str]:
    return [v.text or "" for v in node.iterfind(f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value", NSMAP)]


def _slot1(node: etree._Element, name: str) -> str:
    values = _slots(node, name)
    return values[0] if values else ""


def quoted(*values: str) -> str:
    """ITI-18 parameter value: `'a'` or `('a','b')`, single quotes doubled (ITI TF-2a §3.18.4.1.2.3.5)."""
    items = ["'" + v.replace("'", "''") + "'" for v in values]
    return items[0] if len(items) == 1 else "(" + ",".join(items) + ")"


# --- ITI-18 requests -------------------------------------------------------------------------------------------


def adhoc_query(query_id: str, params: Iterable[tuple[str, str]]) -> etree._Element:
    request = etree.Element(_Q + "AdhocQueryRequest", nsmap={"query": NS_QUERY, "rim": NS_RIM})
    etree.SubElement(request, _Q + "ResponseOption", returnComposedObjects="true", returnType="LeafClass")
    query = _rim(request, "AdhocQuery", id=query_id)
    for name, value in params:
        _slot(query, name, value)
    return request


def find_documents_query(
    patient_id: str, statuses: Sequence[str] = (STATUS_APPROVED,), service_start_from: str | None = None
) -> etree._Element:
    params = [("$XDSDocumentEntryPatientId", quoted(patient_id)), ("$XDSDocumentEntryStatus", quoted(*statuses))]
    if service_start_from:
        params.append(("$XDSDocumentEntryServiceStartTimeFrom", service_start_from))
    return adhoc_query(FIND_DOCUMENTS, params)


def find_submission_sets_query(patient_id: str, submitted_from: str) -> etree._Element:
    return adhoc_query(
        FIND_SUBMISSION_SETS,
        [
            ("$XDSSubmissionSetPatientId", quoted(patient_id)),
            ("$XDSSubmissionSetSubmissionTimeFrom", submitted_from),
            ("$XDSSubmissionSetStatus", quoted(STATUS_APPROVED)),
        ],
    )


def get_submission_set_and_contents_query(entry_uuid: str) -> etree._Element:
    return adhoc_query(GET_SUBMISSION_SET_AND_CONTENTS, [("$XDSSubmissionSetEntryUUID", quoted(entry_uuid))])


def get_documents_query(*, entry_uuids: Sequence[str] = (), unique_ids: Sequence[str] = ()) -> etree._Element:
    if bool(entry_uuids) == bool(unique_ids):
        raise ValueError("GetDocuments : entryUUID ou uniqueId, l'un des deux.")
    if entry_uuids:
        return adhoc_query(GET_DOCUMENTS, [("$XDSDocumentEntryEntryUUID", quoted(*entry_uuids))])
    return adhoc_query(GET_DOCUMENTS, [("$XDSDocumentEntryUniqueId", quoted(*unique_ids))])


# --- DocumentEntry: written as an ITI-57 new version, read from an answer -------------------------------------------


def confidentiality_code(code: str) -> XdsCode:
    if code in codes.CONFIDENTIALITY:
        return XdsCode(code, codes.HL7_CONFIDENTIALITY, codes.CONFIDENTIALITY[code])
    if code in codes.VISIBILITY:
        return XdsCode(code, codes.VISIBILITY_SYSTEM, codes.VISIBILITY[code])
    raise ValueError(f"Code de confidentialité inconnu : {code}.")


def _classification(parent: etree._Element, scheme: str, code: XdsCode, ident: str) -> None:
    node = _rim(parent, "Classification", id=ident, classificationScheme=scheme, classifiedObject=parent.get("id", ""))
    node.set("nodeRepresentation", code.code)
    _slot(node, "codingScheme", code.scheme)
    _name(node, code.display)


def _external_id(parent: etree._Element, scheme: str, value: str, label: str, ident: str) -> None:
    node = _rim(
        parent, "ExternalIdentifier", id=ident, registryObject=parent.get("id", ""), identificationScheme=scheme
    )
    node.set("value", value)
    _name(node, label)


def document_entry_xml(document: DmpDocument, *, patient_id: str, entry_id: str) -> etree._Element:
    """The ExtrinsicObject of a new metadata version of `document` (ITI-57), under the symbolic id `entry_id`."""
    ident = entry_id
    eo = etree.Element(_R + "ExtrinsicObject", nsmap={"rim": NS_RIM})
    for name, value in (("id", ident), ("lid", document.logical_id), ("mimeType", document.mime_type)):
        eo.set(name, value)
    eo.set("objectType", codes.DOCUMENT_ENTRY_STABLE)
    eo.set("status", document.status)
    for name, value in (
        ("creationTime", document.creation_time),
        ("hash", document.hash),
        ("repositoryUniqueId", document.repository_unique_id),
        ("serviceStartTime", document.service_start_time),
        ("size", str(document.size)),
        ("submissionTime", document.submission_time),  # not ebRIM: see DmpDocument.submission_time
    ):
        if value:
            _slot(eo, name, value)
    _name(eo, document.title)
    _rim(eo, "VersionInfo", versionName=str(document.version))
    author = _rim(
        eo, "Classification", id=f"{ident}-author", classificationScheme=codes.DE_AUTHOR, classifiedObject=ident
    )
    author.set("nodeRepresentation", "")
    _slot(author, "authorPerson", document.author_person)
    if document.author_institution:
        _slot(author, "authorInstitution", document.author_institution)
    _classification(eo, codes.DE_CLASS_CODE, document.class_code, f"{ident}-class")
    for i, code in enumerate(document.confidentiality):
        _classification(eo, codes.DE_CONFIDENTIALITY_CODE, confidentiality_code(code), f"{ident}-conf{i}")
    _classification(eo, codes.DE_FORMAT_CODE, document.format_code, f"{ident}-format")
    _classification(eo, codes.DE_TYPE_CODE, document.type_code, f"{ident}-type")
    _external_id(eo, codes.DE_PATIENT_ID, patient_id, "XDSDocumentEntry.patientId", f"{ident}-pid")
    _external_id(eo, codes.DE_UNIQUE_ID, document.unique_id, "XDSDocumentEntry.uniqueId", f"{ident}-uid")
    return eo


def _code_of(eo: etree._Element, scheme: str) -> list[XdsCode]:
    found = []
    for node in eo.iterfind(f"rim:Classification[@classificationScheme='{scheme}']", NSMAP):
        display = node.find("rim:Name/rim:LocalizedString", NSMAP)
        found.append(
            XdsCode(
                node.get("nodeRepresentation", ""),
                _slot1(node, "codingScheme"),
                display.get("value", "") if display is not None else "",
            )
        )
    return found


def parse_document_entry(eo: etree._Element, submission_time: str = "") -> DmpDocument:
    def one(scheme: str, what: str) -> XdsCode:
        found = _code_of(eo, scheme)
        if not found:
            raise DmpInvalidResponse(f"fiche de document du DMP sans {what}.")
        return found[0]

    unique_id = eo.find(f"rim:ExternalIdentifier[@identificationScheme='{codes.DE_UNIQUE_ID}']", NSMAP)
    author = eo.find(f"rim:Classification[@classificationScheme='{codes.DE_AUTHOR}']", NSMAP)
    title = eo.find("rim:Name/rim:LocalizedString", NSMAP)
    version = eo.find("rim:VersionInfo", NSMAP)
    entry_uuid, size = eo.get("id", ""), _slot1(eo, "size")
    if not entry_uuid or unique_id is None or not unique_id.get("value"):
        raise DmpInvalidResponse("fiche de document du DMP sans identifiant.")
    try:
        size_value = int(size or "0")
        version_value = int(version.get("versionName", "1")) if version is not None else 1
    except ValueError as exc:
        raise DmpInvalidResponse("fiche de document du DMP : taille ou version illisible.") from exc
    return DmpDocument(
        entry_uuid=entry_uuid,
        unique_id=unique_id.get("value", ""),
        logical_id=eo.get("lid") or entry_uuid,
        repository_unique_id=_slot1(eo, "repositoryUniqueId"),
        status=eo.get("status", ""),
        title=title.get("value", "") if title is not None else "",
        type_code=one(codes.DE_TYPE_CODE, "type"),
        class_code=one(codes.DE_CLASS_CODE, "classe"),
        format_code=one(codes.DE_FORMAT_CODE, "format"),
        confidentiality=tuple(c.code for c in _code_of(eo, codes.DE_CONFIDENTIALITY_CODE)),
        author_person=_slot1(author, "authorPerson") if author is not None else "",
        author_institution=_slot1(author, "authorInstitution") if author is not None else "",
        creation_time=_slot1(eo, "creationTime"),
        service_start_time=_slot1(eo, "serviceStartTime"),
        submission_time=_slot1(eo, "submissionTime") or submission_time,
        mime_type=eo.get("mimeType", ""),
        hash=_slot1(eo, "hash").lower(),
        size=size_value,
        version=version_value,
    )


@dataclass(frozen=True)
class SubmissionSetRef:
    entry_uuid: str
    unique_id: str
    submission_time: str


def _check_status(root: etree._Element, what: str) -> str:
    status = root.get("status", "")
    if status == FAILURE:
        raise_registry_errors(root)
    if status not in (SUCCESS, PARTIAL):
        raise DmpInvalidResponse(f"réponse {what} du DMP sans statut valide.")
    return status


def parse_adhoc_query_response(root: etree._Element) -> tuple[list[DmpDocument], list[SubmissionSetRef]]:
    """Documents and submission sets of an AdhocQueryResponse; Failure → DmpRejected."""
    if root.tag != _Q + "AdhocQueryResponse":
        raise DmpInvalidResponse("réponse de recherche inattendue : AdhocQueryResponse attendu.")
    _check_status(root, "de recherche")
    objects = root.find("rim:RegistryObjectList", NSMAP)
    if objects is None:
        return [], []
    sets: list[SubmissionSetRef] = []
    for package in objects.iterfind("rim:RegistryPackage", NSMAP):
        uid = package.find(f"rim:ExternalIdentifier[@identificationScheme='{codes.SS_UNIQUE_ID}']", NSMAP)
        sets.append(SubmissionSetRef(package.get("id", ""), uid.get("value", "") if uid is not None else "",
                                     _slot1(package, "submissionTime")))  # fmt: skip
    times = {s.entry_uuid: s.submission_time for s in sets}
    member_time = {
        a.get("targetObject", ""): times.get(a.get("sourceObject", ""), "")
        for a in objects.iterfind(f"rim:Association[@associationType='{codes.HAS_MEMBER}']", NSMAP)
    }
    documents = [
        parse_document_entry(eo, member_time.get(eo.get("id", ""), ""))
        for eo in objects.iterfind("rim:ExtrinsicObject", NSMAP)
        if eo.get("objectType") == codes.DOCUMENT_ENTRY_STABLE
    ]
    return documents, sets


# --- ITI-43 ----------------------------------------------------------------------------------------------------


def retrieve_request(repository_unique_id: str, unique_id: str) -> etree._Element:
    request = etree.Element(_X + "RetrieveDocumentSetRequest", nsmap={"xdsb": NS_XDSB})
    item = etree.SubElement(request, _X + "DocumentRequest")
    etree.SubElement(item, _X + "RepositoryUniqueId").text = repository_unique_id
    etree.SubElement(item, _X + "DocumentUniqueId").text = unique_id
    return request


def parse_retrieve_response(root: etree._Element, parts: dict[str, bytes], document: DmpDocument) -> bytes:
    """The bytes of `document` in an ITI-43 answer (xop:Include resolved from `parts`, or inline base64), checked
    against the registry's hash (SHA-1) and size."""
    if root.tag != _X + "RetrieveDocumentSetResponse":
        raise DmpInvalidResponse("réponse de récupération inattendue : RetrieveDocumentSetResponse attendu.")
    status_node = root.find("rs:RegistryResponse", NSMAP)
    if status_node is None:
        raise DmpInvalidResponse("réponse de récupération sans statut.")
    _check_status(status_node, "de récupération")
    for item in root.iterfind("xdsb:DocumentResponse", NSMAP):
        if (item.findtext("xdsb:DocumentUniqueId", "", NSMAP) or "").strip() != document.unique_id:
            continue
        node = item.find("xdsb:Document", NSMAP)
        if node is None:
            break
        content_id = include_target(node)
        if content_id is not None:
            content = parts.get(content_id)
            if content is None:
                raise DmpInvalidResponse("réponse de récupération : pièce jointe MTOM manquante.")
        else:
            try:
                content = base64.b64decode("".join(str(t) for t in node.itertext()).strip(), validate=False)
            except (binascii.Error, ValueError) as exc:
                raise DmpInvalidResponse("réponse de récupération : contenu base64 illisible.") from exc
        if len(content) != document.size or hashlib.sha1(content).hexdigest() != document.hash.lower():  # noqa: S324
            raise DmpInvalidResponse("le document reçu du DMP ne correspond pas à sa fiche (empreinte ou taille).")
        return content
    raise DmpInvalidResponse("le DMP n'a pas renvoyé le document demandé.")


# --- ITI-57 ----------------------------------------------------------------------------------------------------


def _submission_set(objects: etree._Element, submission: SubmissionInfo, author: XdsAuthor, patient_id: str) -> str:
    ss = "SubmissionSet01"
    package = _rim(objects, "RegistryPackage", id=ss)
    _slot(package, "submissionTime", submission.submission_time.strftime("%Y%m%d%H%M%S"))
    node = _rim(package, "Classification", id="cl-author", classificationScheme=codes.SS_AUTHOR, classifiedObject=ss)
    node.set("nodeRepresentation", "")
    _slot(node, "authorPerson", author.person)
    if author.institution:
        _slot(node, "authorInstitution", author.institution)
    _classification(package, codes.SS_CONTENT_TYPE_CODE, submission.content_type, "cl-content")
    _rim(package, "Classification", id="cl-ss", classificationNode=codes.SUBMISSION_SET_NODE, classifiedObject=ss)
    _external_id(package, codes.SS_UNIQUE_ID, submission.unique_id, "XDSSubmissionSet.uniqueId", "ei-uid")
    _external_id(package, codes.SS_SOURCE_ID, submission.source_id, "XDSSubmissionSet.sourceId", "ei-src")
    _external_id(package, codes.SS_PATIENT_ID, patient_id, "XDSSubmissionSet.patientId", "ei-pid")
    return ss


def _submit_request() -> tuple[etree._Element, etree._Element]:
    request = etree.Element(f"{{{NS_LCM}}}SubmitObjectsRequest", nsmap={"lcm": NS_LCM, "rim": NS_RIM})
    return request, _rim(request, "RegistryObjectList")


def update_metadata_request(
    document: DmpDocument,
    confidentiality: Sequence[str],
    *,
    patient_id: str,
    submission: SubmissionInfo,
    author: XdsAuthor,
) -> etree._Element:
    """TD3.3a/b: new version of the entry (same logicalId) with other confidentiality codes, HasMember +
    PreviousVersion (ITI TF-2b §3.57.4.1.3.3.1)."""
    request, objects = _submit_request()
    ss = _submission_set(objects, submission, author, patient_id)
    new = replace(
        document, confidentiality=tuple(confidentiality), status=STATUS_APPROVED, version=document.version + 1
    )
    objects.append(document_entry_xml(new, patient_id=patient_id, entry_id="Document01"))
    association = _rim(objects, "Association", id="as01", associationType=codes.HAS_MEMBER, sourceObject=ss,
                       targetObject="Document01")  # fmt: skip
    _slot(association, "SubmissionSetStatus", "Original")
    _slot(association, "PreviousVersion", str(document.version))
    return request


def update_status_request(
    document: DmpDocument, new_status: str, *, patient_id: str, submission: SubmissionInfo, author: XdsAuthor
) -> etree._Element:
    """TD3.3c/d: UpdateAvailabilityStatus association from the set to the entry (ITI TF-2b §3.57.4.1.3.3.2)."""
    request, objects = _submit_request()
    ss = _submission_set(objects, submission, author, patient_id)
    update = _rim(objects, "Association", id="as01", associationType=UPDATE_AVAILABILITY, sourceObject=ss,
                  targetObject=document.entry_uuid)  # fmt: skip
    _slot(update, "OriginalStatus", document.status)
    _slot(update, "NewStatus", new_status)
    member = _rim(objects, "Association", id="as02", associationType=codes.HAS_MEMBER, sourceObject=ss,
                  targetObject="as01")  # fmt: skip
    _slot(member, "SubmissionSetStatus", "Original")
    return request


# --- RegistryResponse ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryError:
    code: str
    context: str
    severity: str = SEVERITY_ERROR
    location: str = ""


def registry_errors(root: etree._Element) -> list[RegistryError]:
    return [
        RegistryError(
            e.get("errorCode", ""), e.get("codeContext", ""), e.get("severity", SEVERITY_ERROR), e.get("location", "")
        )
        for e in root.iterfind("rs:RegistryErrorList/rs:RegistryError", NSMAP)
    ]


def raise_registry_errors(root: etree._Element) -> None:
    errors = [e for e in registry_errors(root) if e.severity != SEVERITY_WARNING] or registry_errors(root)
    if not errors:
        raise DmpRejected("Le DMP a refusé la demande sans en donner la raison.", code="Failure")
    first = errors[0]
    message = ERROR_MESSAGES.get(first.code) or f"erreur {first.code or 'inconnue'}"
    detail = f" ({first.context})" if first.context and first.code not in ERROR_MESSAGES else ""
    raise DmpRejected(f"Le DMP a refusé la demande : {message}{detail}", code=first.code)


def parse_registry_response(root: etree._Element) -> tuple[str, list[RegistryError]]:
    """(status, warnings) of a RegistryResponse; Failure → DmpRejected(code=errorCode) with a French message."""
    if root.tag != _RS + "RegistryResponse":
        raise DmpInvalidResponse("réponse du DMP inattendue : RegistryResponse attendu.")
    status = _check_status(root, "du registre")
    return status, registry_errors(root)
