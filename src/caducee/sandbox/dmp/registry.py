"""The sandbox's own XDS.b / ebXML vocabulary and the ebRIM helpers of its registry side.

Nothing here comes from the product (DESIGN.md « Layout »: the sandbox shares nothing with `caducee.dmp` but OID
constants, so that a mistake in the client cannot be mirrored here). The identifiers are public facts, written down
from their sources:

- [ITI-3] IHE ITI TF-3 §4.2.5 "Metadata Object Types / classification and identification schemes" (the UUIDs of the
  DocumentEntry and SubmissionSet attributes), §4.2.2 (association types), §4.1.12 (version, lid);
  the same values are in the real DMP request `../shared/reference/dmp_mss/examples/
  dmp_ProvideAndRegister_trimmed_from_DRIM-M_DATA.xml` (DRIMbox, dev9).
- [ITI-2a] IHE ITI TF-2a §3.18.4.1.2.3.7 (stored query ids), §3.18.4.1.2.3.5 (quoting of values).
- [ebRS] OASIS ebRS 3.0 (rs.xsd, lcm.xsd, query.xsd): namespaces, ResponseStatusType, ErrorSeverityType, StatusType.
- [ITI-57] IHE ITI TF-2b §3.57 (UpdateAvailabilityStatus, PreviousVersion).
- [DSG] IHE ITI Suppl. Document Digital Signature (signature document classCode, `signs` association).
- [ANS] the DMP value sets `../shared/reference/dmp_mss/valuesets/JDV_J57/J58/J60` (read at start-up by
  `ValueSets.load`; the fallback below is used only when the reference kit is absent) and the CI-SIS statuses.

Registry form (ITI TF-3 §4.2.3.2, §4.1.12.3 for lid/VersionInfo): the submitted ExtrinsicObject/RegistryPackage
with its symbolic id replaced by the assigned entryUUID (and every classifiedObject/registryObject pointing to
it), `lid` = logicalId, nested ids made urn:uuid, registry slots (repositoryUniqueId, hash, size, submissionTime)
set. The availability status and VersionInfo change over time: they are patched in when answering.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

# --- [ebRS] namespaces ---------------------------------------------------------------------------------------------
NS_RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NS_LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
NS_RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
NS_QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
NS_XDSB = "urn:ihe:iti:xds-b:2007"
R = f"{{{NS_RIM}}}"

# --- [ITI-3] object types, classification nodes and schemes -------------------------------------------------------
DOCUMENT_ENTRY_STABLE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"  # XDSDocumentEntry objectType (stable)
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"  # XDSSubmissionSet classificationNode
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY_CODE = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_EVENT_CODE = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
DE_FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY_TYPE_CODE = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE_SETTING_CODE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE_CODE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"

# --- [ITI-3] [ITI-57] [DSG] association types -----------------------------------------------------------------------
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
UPDATE_AVAILABILITY = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
SIGNATURE_CLASS = "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1"  # [DSG] classCode of the lot's signature document

# --- [ITI-2a] stored queries -------------------------------------------------------------------------------------
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
FIND_SUBMISSION_SETS = "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
GET_DOCUMENTS_AND_ASSOCIATIONS = "urn:uuid:bab9529a-4a10-40b3-a01f-f68a615d247a"
GET_SUBMISSION_SET_AND_CONTENTS = "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83"

# --- [ebRS] statuses; [ANS] the CI-SIS statuses of the DMP ---------------------------------------------------------
RESPONSE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:"
SUCCESS, FAILURE, PARTIAL = RESPONSE + "Success", RESPONSE + "Failure", RESPONSE + "PartialSuccess"
SEVERITY_ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
SEVERITY_WARNING = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"

# --- [ANS] code systems of the DMP value sets (fallback when the reference kit is absent) --------------------------
CLASS_SYSTEM = "1.2.250.1.213.1.1.4.1"  # JDV_J57 = TRE_A03 classCode
HL7_CONFIDENTIALITY = "2.16.840.1.113883.5.25"  # JDV_J58: TRE_A08 as carried in XDS
VISIBILITY_SYSTEM = "1.2.250.1.213.1.1.4.13"  # JDV_J58: TRE_A07 visibility flags
_FALLBACK_CLASSES = ("10", "11", "42", "52")  # compte rendu, synthèse, prescription, certificat
_FALLBACK_CONFIDENTIALITY = ("N", "R", "V")
_FALLBACK_VISIBILITY = ("MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX")
_FALLBACK_FORMATS = (
    "urn:ihe:iti:xds-sd:pdf:2008",  # IHE XDS-SD PDF (CDA N1)
    "urn:asip:ci-sis:vsm:2012",  # VSM
    "urn:ihe:pcc:ips:2020",  # IPS-FR
    "http://www.w3.org/2000/09/xmldsig#",  # [DSG] the lot's signature document
)


def slot_values(node: etree._Element, name: str) -> list[str]:
    return [
        (value.text or "").strip()
        for slot in node.findall(f"{R}Slot")
        if slot.get("name") == name
        for value in slot.findall(f"{R}ValueList/{R}Value")
    ]


def slot1(node: etree._Element, name: str) -> str:
    values = slot_values(node, name)
    return values[0] if values else ""


def external_id(node: etree._Element, scheme: str) -> str:
    for ident in node.findall(f"{R}ExternalIdentifier"):
        if ident.get("identificationScheme") == scheme:
            return ident.get("value", "")
    return ""


def classifications(node: etree._Element, scheme: str) -> list[tuple[str, str]]:
    """(code, codingScheme) of every classification of this scheme."""
    return [
        (c.get("nodeRepresentation", ""), slot1(c, "codingScheme"))
        for c in node.findall(f"{R}Classification")
        if c.get("classificationScheme") == scheme
    ]


def author_person(node: etree._Element, scheme: str) -> str:
    for c in node.findall(f"{R}Classification"):
        if c.get("classificationScheme") == scheme:
            return slot1(c, "authorPerson")
    return ""


def is_submission_set(package: etree._Element) -> bool:
    return any(c.get("classificationNode") == SUBMISSION_SET_NODE for c in package.findall(f"{R}Classification"))


def set_slot(node: etree._Element, name: str, *values: str) -> None:
    for slot in node.findall(f"{R}Slot"):
        if slot.get("name") == name:
            node.remove(slot)
    slot = etree.Element(R + "Slot", name=name)
    value_list = etree.SubElement(slot, R + "ValueList")
    for value in values:
        etree.SubElement(value_list, R + "Value").text = value
    slots = node.findall(f"{R}Slot")
    if slots:
        slots[-1].addnext(slot)
    else:
        node.insert(0, slot)


def registry_form(node: etree._Element, entry_uuid: str, logical_id: str | None, slots: dict[str, str]) -> str:
    """The stored XML of a submitted object under its registry identifiers (see module docstring)."""
    work = copy.deepcopy(node)
    old_id = work.get("id", "")
    work.set("id", entry_uuid)
    if logical_id:
        work.set("lid", logical_id)
    if "status" in work.attrib:
        del work.attrib["status"]
    for child in work.iterdescendants():
        if not isinstance(child.tag, str):
            continue
        for attribute in ("classifiedObject", "registryObject"):
            if child.get(attribute) in (old_id, entry_uuid):
                child.set(attribute, entry_uuid)
        if child.get("id"):
            child.set("id", f"urn:uuid:{uuid.uuid4()}")
    for version in work.findall(f"{R}VersionInfo"):
        work.remove(version)
    for name, value in slots.items():
        set_slot(work, name, value)
    return etree.tostring(work, encoding="unicode")


def answer_form(metadata: str, *, status: str, version: int | None) -> etree._Element:
    """Stored XML with the current status and VersionInfo (placed after Name/Description, rim.xsd order)."""
    node = etree.fromstring(metadata)
    node.set("status", status)
    if version is not None:
        info = etree.Element(R + "VersionInfo", versionName=str(version))
        anchor = None
        for child in node:
            if child.tag in (R + "Slot", R + "Name", R + "Description"):
                anchor = child
        if anchor is None:
            node.insert(0, info)
        else:
            anchor.addnext(info)
    return node


@dataclass(frozen=True)
class ValueSets:
    """JDV_J57 classCode, J58 confidentialityCode, J60 formatCode: (code, codingScheme) pairs accepted."""

    class_codes: frozenset[tuple[str, str]]
    confidentiality: frozenset[tuple[str, str]]
    format_codes: frozenset[str]

    @classmethod
    def load(cls, reference_dir: Path | None) -> ValueSets:
        directory = Path(reference_dir or ".") / "dmp_mss" / "valuesets"
        try:
            j57 = json.loads((directory / "JDV_J57_ClassCode_DMP.json").read_text(encoding="utf-8"))
            j58 = json.loads((directory / "JDV_J58_ConfidentialityCode_DMP.json").read_text(encoding="utf-8"))
            j60 = json.loads((directory / "JDV_J60_FormatCode_DMP.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            # Reference kit absent: the codes of the main value-set entries (see the module docstring).
            return cls(
                frozenset((c, CLASS_SYSTEM) for c in _FALLBACK_CLASSES) | {(SIGNATURE_CLASS, "")},
                frozenset((c, HL7_CONFIDENTIALITY) for c in _FALLBACK_CONFIDENTIALITY)
                | frozenset((c, VISIBILITY_SYSTEM) for c in _FALLBACK_VISIBILITY),
                frozenset(_FALLBACK_FORMATS),
            )
        class_codes = set()
        for include in j57["include"]:
            for code in include["concept"]:
                class_codes.add((code, include.get("system_oid", "")))
        confidentiality = {
            (code, include["system_oid_in_xds"]) for include in j58["include"] for code in include["concept"]
        }
        formats = {code for key, value in j60.items() if isinstance(value, dict) for code in value}
        return cls(frozenset(class_codes), frozenset(confidentiality), frozenset(formats))

    def class_ok(self, code: str, scheme: str) -> bool:
        if code == SIGNATURE_CLASS:
            return True  # URN: its codingScheme varies between senders (DRIMbox: "URN")
        return (code, scheme) in self.class_codes

    def confidentiality_ok(self, code: str, scheme: str) -> bool:
        return (code, scheme) in self.confidentiality

    def format_ok(self, code: str) -> bool:
        return code in self.format_codes
