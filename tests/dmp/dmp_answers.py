"""What a DMP answers, for the client's unit tests (a test helper: src never imports it).

The product holds only the client's side of each message (build the request, parse the answer). The answers the
tests feed it come from elsewhere, never from the client's own code: the sandbox's builders (`caducee.sandbox.dmp`:
SOAP envelopes and faults, RegistryResponse, TD0.2/TD0.3), or, where the sandbox answers from its store, the XML
written here from the specifications (ebRIM ExtrinsicObject/RegistryPackage per ITI TF-3 §4.2.3 and §4.2.5,
AdhocQueryResponse per ITI TF-2a §3.18, RetrieveDocumentSetResponse per ITI TF-2b §3.43).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from django.conf import settings
from lxml import etree

from caducee.dmp.api import DmpDocument
from caducee.sandbox.dmp import hl7v3 as sandbox_hl7v3
from caducee.sandbox.dmp import registry as rim
from caducee.sandbox.dmp import wire
from caducee.sandbox.dmp.registry import FAILURE, NS_QUERY, NS_RIM, NS_RS, NS_XDSB, SUCCESS
from caducee.sandbox.dmp.service import registry_response

__all__ = [
    "FAILURE",
    "SUCCESS",
    "adhoc_query_response",
    "envelope",
    "fault",
    "query_params",
    "registry_response",
    "retrieve_response",
    "td02_answer",
    "td03_answer",
    "unquoted",
    "xds_schema",
]

td02_answer = sandbox_hl7v3.td02_response
td03_answer = sandbox_hl7v3.td03_response
Traits = sandbox_hl7v3.Traits
NS_XOP = "http://www.w3.org/2004/08/xop/include"
_R = f"{{{NS_RIM}}}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@cache
def xds_schema() -> etree.XMLSchema:
    """XDS.b_DocumentRepository.xsd (imports rim/lcm/rs/query) of the reference kit."""
    path = Path(settings.REFERENCE_DIR) / "dmp_mss" / "xds_schemas" / "schema" / "IHE" / "XDS.b_DocumentRepository.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


def envelope(body: etree._Element, *, action: str, relates_to: str) -> bytes:
    """A SOAP 1.2 answer as the sandbox writes it."""
    return etree.tostring(wire.envelope(body, action=action, relates_to=relates_to), xml_declaration=True)


def fault(code: str, reason: str, subcode: str = "") -> bytes:
    """A SOAP 1.2 fault as the sandbox writes it; `subcode` a QName with prefix wsse: or dmp: (or empty)."""
    return wire.fault(code, subcode, reason)


# --- ITI-18 --------------------------------------------------------------------------------------------------------


def unquoted(value: str) -> list[str]:
    """`'a'` or `('a','b')` → values, doubled quotes undone (ITI TF-2a §3.18.4.1.2.3.5); a bare value as it is."""
    value = value.strip()
    if "'" not in value:
        return [value]
    if value.startswith("(") and value.endswith(")"):
        value = value[1:-1]
    out, current, inside, i = [], "", False, 0
    while i < len(value):
        char = value[i]
        if char == "'" and inside and value[i + 1 : i + 2] == "'":
            current, i = current + "'", i + 2
            continue
        if char == "'":
            inside = not inside
            if not inside:
                out.append(current)
                current = ""
        elif inside:
            current += char
        i += 1
    return out


def query_params(request: etree._Element) -> tuple[str, dict[str, list[str]]]:
    """(stored query id, parameter → values) of an AdhocQueryRequest."""
    query = request.find(f"{_R}AdhocQuery")
    assert request.tag == f"{{{NS_QUERY}}}AdhocQueryRequest" and query is not None
    params: dict[str, list[str]] = {}
    for slot in query.findall(f"{_R}Slot"):
        values = [v.text or "" for v in slot.findall(f"{_R}ValueList/{_R}Value")]
        params[slot.get("name", "")] = [u for v in values for u in unquoted(v)]
    return query.get("id", ""), params


def _rim(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, _R + tag, attrs)


def _slot(parent: etree._Element, name: str, value: str) -> None:
    _rim(_rim(_rim(parent, "Slot", name=name), "ValueList"), "Value").text = value


def _name(parent: etree._Element, value: str) -> None:
    _rim(_rim(parent, "Name"), "LocalizedString", value=value).set(_XML_LANG, "fr-FR")


def _classification(parent: etree._Element, scheme: str, code: str, system: str, display: str, ident: str) -> None:
    node = _rim(parent, "Classification", id=ident, classificationScheme=scheme, classifiedObject=parent.get("id", ""))
    node.set("nodeRepresentation", code)
    _slot(node, "codingScheme", system)
    _name(node, display)


def _external_id(parent: etree._Element, scheme: str, value: str, ident: str) -> None:
    node = _rim(
        parent, "ExternalIdentifier", id=ident, registryObject=parent.get("id", ""), identificationScheme=scheme
    )
    node.set("value", value)


def extrinsic_object(document: DmpDocument, *, patient_id: str) -> etree._Element:
    """The ExtrinsicObject a registry returns for this document (LeafClass), rim.xsd element order."""
    ident = document.entry_uuid
    eo = etree.Element(_R + "ExtrinsicObject", nsmap={"rim": NS_RIM}, id=ident, lid=document.logical_id)
    eo.set("mimeType", document.mime_type)
    eo.set("objectType", rim.DOCUMENT_ENTRY_STABLE)
    eo.set("status", document.status)
    for name, value in (
        ("creationTime", document.creation_time),
        ("hash", document.hash),
        ("repositoryUniqueId", document.repository_unique_id),
        ("serviceStartTime", document.service_start_time),
        ("size", str(document.size)),
        ("submissionTime", document.submission_time),
    ):
        if value:
            _slot(eo, name, value)
    _name(eo, document.title)
    _rim(eo, "VersionInfo", versionName=str(document.version))
    author = _rim(eo, "Classification", id=f"{ident}-a", classificationScheme=rim.DE_AUTHOR, classifiedObject=ident)
    author.set("nodeRepresentation", "")
    _slot(author, "authorPerson", document.author_person)
    if document.author_institution:
        _slot(author, "authorInstitution", document.author_institution)
    class_code, format_code, type_code = document.class_code, document.format_code, document.type_code
    _classification(eo, rim.DE_CLASS_CODE, *class_code, f"{ident}-c")
    for i, code in enumerate(document.confidentiality):
        system = rim.HL7_CONFIDENTIALITY if code in ("N", "R", "V") else rim.VISIBILITY_SYSTEM
        _classification(eo, rim.DE_CONFIDENTIALITY_CODE, code, system, code, f"{ident}-k{i}")
    _classification(eo, rim.DE_FORMAT_CODE, *format_code, f"{ident}-f")
    _classification(eo, rim.DE_TYPE_CODE, *type_code, f"{ident}-t")
    _external_id(eo, rim.DE_PATIENT_ID, patient_id, f"{ident}-p")
    _external_id(eo, rim.DE_UNIQUE_ID, document.unique_id, f"{ident}-u")
    return eo


def adhoc_query_response(
    documents: Sequence[DmpDocument] = (),
    *,
    patient_id: str,
    submission_sets: Sequence[tuple[str, str, str]] = (),
    members: Sequence[tuple[str, str]] = (),
) -> etree._Element:
    """AdhocQueryResponse (Success): submission sets (entryUUID, uniqueId, submissionTime), documents, and HasMember
    (set entryUUID, document entryUUID) associations."""
    response = etree.Element(f"{{{NS_QUERY}}}AdhocQueryResponse", nsmap={"query": NS_QUERY, "rim": NS_RIM})
    response.set("status", SUCCESS)
    objects = _rim(response, "RegistryObjectList")
    for entry_uuid, unique_id, submitted in submission_sets:
        package = _rim(objects, "RegistryPackage", id=entry_uuid, status=rim.APPROVED)
        _slot(package, "submissionTime", submitted)
        node = _rim(package, "Classification", id=f"{entry_uuid}-n", classifiedObject=entry_uuid)
        node.set("classificationNode", rim.SUBMISSION_SET_NODE)
        _external_id(package, rim.SS_UNIQUE_ID, unique_id, f"{entry_uuid}-u")
        _external_id(package, rim.SS_PATIENT_ID, patient_id, f"{entry_uuid}-p")
    for document in documents:
        objects.append(extrinsic_object(document, patient_id=patient_id))
    for i, (source, target) in enumerate(members):
        _rim(objects, "Association", id=f"urn:uuid:as-{i}", associationType=rim.HAS_MEMBER, sourceObject=source,
             targetObject=target)  # fmt: skip
    return response


# --- ITI-43 --------------------------------------------------------------------------------------------------------


def retrieve_response(
    documents: Sequence[tuple[str, str, str, str]], *, errors: Sequence[tuple[str, str]] = ()
) -> etree._Element:
    """RetrieveDocumentSetResponse; documents = (repositoryUniqueId, uniqueId, mimeType, Content-ID) → xop:Include."""
    response = etree.Element(f"{{{NS_XDSB}}}RetrieveDocumentSetResponse", nsmap={"xdsb": NS_XDSB, "rs": NS_RS})
    response.append(registry_response(FAILURE if errors else SUCCESS, errors))
    for repository, unique_id, mime, content_id in documents:
        item = etree.SubElement(response, f"{{{NS_XDSB}}}DocumentResponse")
        etree.SubElement(item, f"{{{NS_XDSB}}}RepositoryUniqueId").text = repository
        etree.SubElement(item, f"{{{NS_XDSB}}}DocumentUniqueId").text = unique_id
        etree.SubElement(item, f"{{{NS_XDSB}}}mimeType").text = mime
        include = etree.SubElement(etree.SubElement(item, f"{{{NS_XDSB}}}Document"), f"{{{NS_XOP}}}Include")
        include.set("href", f"cid:{content_id}")
    return response
