"""ebRIM helpers of the sandbox's registry side: reading submitted metadata, storing it in registry form.

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

from caducee.documents import xds_codes as codes

NS_RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NS_LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
NS_RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
NS_QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
NS_XDSB = "urn:ihe:iti:xds-b:2007"
R = f"{{{NS_RIM}}}"
SIGNATURE_CLASS = "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1"  # notes §1.3 "Lot signature"
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
UPDATE_AVAILABILITY = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
RESPONSE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:"
SUCCESS, FAILURE, PARTIAL = RESPONSE + "Success", RESPONSE + "Failure", RESPONSE + "PartialSuccess"
SEVERITY_ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
SEVERITY_WARNING = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"
_SLOT_ORDER_AFTER = (R + "Slot",)


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
    return any(c.get("classificationNode") == codes.SUBMISSION_SET_NODE for c in package.findall(f"{R}Classification"))


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
            # Reference kit absent: the codes Caducée itself knows (caducee.documents.xds_codes).
            return cls(
                frozenset((c, codes.CLASS_SYSTEM) for c in ("10", "11", "42", "52")) | {(SIGNATURE_CLASS, "")},
                frozenset((c, codes.HL7_CONFIDENTIALITY) for c in codes.CONFIDENTIALITY)
                | frozenset((c, codes.VISIBILITY_SYSTEM) for c in codes.VISIBILITY),
                frozenset({codes.FORMAT_N1_PDF.code, codes.FORMAT_VSM.code, codes.FORMAT_IPS.code, _XMLDSIG}),
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


_XMLDSIG = "http://www.w3.org/2000/09/xmldsig#"
