"""Documents preloaded in an empty sandbox DMP, so that "Consulter le DMP" has content in the demo.

For three INSi personas with a test INS (D'ARTAGNAN DE L'HERAULT, PAT-TROIS, DUBOIS-MOREAU): a hospital discharge
letter (LOINC 34133-9, from a CHU) and a lab report (LOINC 11502-2, from a laboratory), CDA R2 N1 documents with an
embedded PDF (IHE XDS-SD, templateId 1.3.6.1.4.1.19376.1.2.20), dated in the last months. All fictitious.
Registered straight into the store (no HTTP, no lot signature): generation stays well under a second. Their ebRIM
metadata (ITI TF-3 §4.2.3, the DMP's codes of mapping.md §"Mapping XDS") are written here, by the sandbox, as another
sending system (a hospital, a laboratory) would have submitted them: nothing is borrowed from the product.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from typing import NamedTuple
from xml.sax.saxutils import escape, quoteattr

from fpdf import FPDF
from lxml import etree

from caducee.core.oids import OID_INS_NIR_TEST, OID_PS_NATIONAL_ID, OID_STRUCTURE_ID
from caducee.sandbox.dmp import registry as rim
from caducee.sandbox.dmp.patients import state_of
from caducee.sandbox.dmp.registry import R, registry_form
from caducee.sandbox.dmp.service import DmpService
from caducee.sandbox.dmp.store import NewSubmissionSet


class Code(NamedTuple):
    code: str
    scheme: str
    display: str


LOINC = "2.16.840.1.113883.6.1"
CLASS_REPORT = Code("10", rim.CLASS_SYSTEM, "Compte rendu")  # JDV_J57 (TRE_A03)
FORMAT_N1_PDF = Code(
    "urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3", "Document à corps non structuré en Pdf/A-1"
)
NORMAL = Code("N", rim.HL7_CONFIDENTIALITY, "Normal")  # JDV_J58
CONTENT_TYPE = Code("04", "1.2.250.1.213.2.2", "Hospitalisation de jour")  # JDV_J59, as in the DRIMbox example
DEMO_PATIENTS = (
    ("101063417209334", "D'ARTAGNAN DE L'HERAULT", "Pierre-Alain", "M", "20010617"),
    ("279035121518989", "PAT-TROIS", "Dominique", "F", "19790328"),
    ("282074410931845", "DUBOIS-MOREAU", "Marie Claire", "F", "19820719"),
)
SOURCE_ID = "1.2.250.1.213.4.1.9.1"  # the sandbox's own fictitious sending systems


class _Origin:
    def __init__(self, person: str, institution: str, name: str, facility: Code, setting: Code) -> None:
        self.person, self.institution, self.name, self.facility, self.setting = (
            person,
            institution,
            name,
            facility,
            setting,
        )


CHU = _Origin(
    f"810001234567^LAMBERT^Hélène^^^^^^&{OID_PS_NATIONAL_ID}&ISO^D^^^IDNPS",
    f"CHU DE DEMONSTRATION^^^^^&{OID_STRUCTURE_ID}&ISO^IDNST^^^1330000999",
    "CHU de démonstration — service de cardiologie",
    Code("SA01", "1.2.250.1.71.4.2.4", "Etablissement public de santé"),
    Code("ETABLISSEMENT", "1.2.250.1.213.1.1.4.9", "Etablissement de santé"),
)
LABO = _Origin(
    f"810007654321^ROUX^Nicolas^^^^^^&{OID_PS_NATIONAL_ID}&ISO^D^^^IDNPS",
    f"LABORATOIRE BIOLOGIE DEMO^^^^^&{OID_STRUCTURE_ID}&ISO^IDNST^^^3123456780001",
    "Laboratoire de biologie médicale de démonstration",
    Code("SA29", "1.2.250.1.71.4.2.4", "Laboratoire d'analyses et de biologie médicale"),
    Code("AMBULATOIRE", "1.2.250.1.213.1.1.4.9", "Ambulatoire"),
)


def _pdf(title: str, lines: list[str]) -> bytes:
    pdf = FPDF()
    pdf.set_title(title)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 14)
    pdf.cell(0, 10, title.encode("latin-1", "replace").decode("latin-1"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=11)
    for line in lines:
        pdf.multi_cell(0, 6, line.encode("latin-1", "replace").decode("latin-1"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _cda(unique_root: str, title: str, type_code: str, when: str, patient: tuple[str, ...], pdf: bytes) -> bytes:
    matricule, family, given, sex, birth = patient
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <templateId root="1.3.6.1.4.1.19376.1.2.20"/>
  <id root={quoteattr(unique_root)}/>
  <code code="{type_code}" codeSystem="{LOINC}"/>
  <title>{escape(title)}</title>
  <effectiveTime value="{when}"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/>
  <recordTarget><patientRole><id root="{OID_INS_NIR_TEST}" extension="{matricule}"/>
    <patient><name><given>{escape(given)}</given><family qualifier="BR">{escape(family)}</family></name>
      <administrativeGenderCode code="{sex}" codeSystem="2.16.840.1.113883.5.1"/><birthTime value="{birth}"/></patient>
  </patientRole></recordTarget>
  <component><nonXMLBody><text mediaType="application/pdf" representation="B64">{
        base64.b64encode(pdf).decode()
    }</text></nonXMLBody></component>
</ClinicalDocument>
""".encode()


def _rim(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, R + tag, attrs)


def _slot(parent: etree._Element, name: str, *values: str) -> None:
    value_list = _rim(_rim(parent, "Slot", name=name), "ValueList")
    for value in values:
        _rim(value_list, "Value").text = value


def _name(parent: etree._Element, value: str) -> None:
    _rim(_rim(parent, "Name"), "LocalizedString", value=value, charset="UTF-8").set(
        "{http://www.w3.org/XML/1998/namespace}lang", "fr-FR"
    )


def _classification(parent: etree._Element, scheme: str, code: Code, ident: str) -> None:
    node = _rim(parent, "Classification", id=ident, classificationScheme=scheme, classifiedObject=parent.get("id", ""))
    node.set("nodeRepresentation", code.code)
    _slot(node, "codingScheme", code.scheme)
    _name(node, code.display)


def _author(parent: etree._Element, scheme: str, origin: _Origin, ident: str) -> None:
    node = _rim(parent, "Classification", id=ident, classificationScheme=scheme, classifiedObject=parent.get("id", ""))
    node.set("nodeRepresentation", "")
    _slot(node, "authorPerson", origin.person)
    _slot(node, "authorInstitution", origin.institution)


def _external_id(parent: etree._Element, scheme: str, value: str, label: str, ident: str) -> None:
    node = _rim(
        parent, "ExternalIdentifier", id=ident, registryObject=parent.get("id", ""), identificationScheme=scheme
    )
    node.set("value", value)
    _name(node, label)


def _document_entry(
    patient: tuple[str, ...], origin: _Origin, type_code: Code, when: dt.datetime, lines: list[str]
) -> tuple[etree._Element, bytes]:
    """(ExtrinsicObject as submitted by `origin`, the CDA N1 it describes)."""
    matricule, family, given, sex, birth = patient
    unique_root = f"2.25.{uuid.uuid4().int}"
    stamp = when.strftime("%Y%m%d%H%M%S")
    pdf = _pdf(type_code.display, [f"Patient : {given} {family}", *lines, origin.name])
    cda = _cda(unique_root, type_code.display, type_code.code, stamp + "+0000", patient, pdf)
    ins = f"{matricule}^^^&{OID_INS_NIR_TEST}&ISO"
    eo = etree.Element(R + "ExtrinsicObject", nsmap={"rim": rim.NS_RIM}, id="Document01", mimeType="text/xml")
    eo.set("objectType", rim.DOCUMENT_ENTRY_STABLE)
    _slot(eo, "creationTime", stamp)
    _slot(eo, "hash", hashlib.sha1(cda).hexdigest())  # noqa: S324 - XDS hash is SHA-1
    _slot(eo, "languageCode", "fr-FR")
    _slot(eo, "legalAuthenticator", origin.person)
    _slot(eo, "serviceStartTime", stamp)
    _slot(eo, "size", str(len(cda)))
    _slot(eo, "sourcePatientId", ins + "^PI")
    _slot(eo, "sourcePatientInfo", f"PID-5|{family}^{given}^^^^^L", f"PID-7|{birth}", f"PID-8|{sex}")
    _name(eo, type_code.display)
    _author(eo, rim.DE_AUTHOR, origin, "cl01")
    _classification(eo, rim.DE_CLASS_CODE, CLASS_REPORT, "cl02")
    _classification(eo, rim.DE_CONFIDENTIALITY_CODE, NORMAL, "cl03")
    _classification(eo, rim.DE_FORMAT_CODE, FORMAT_N1_PDF, "cl04")
    _classification(eo, rim.DE_FACILITY_TYPE_CODE, origin.facility, "cl05")
    _classification(eo, rim.DE_PRACTICE_SETTING_CODE, origin.setting, "cl06")
    _classification(eo, rim.DE_TYPE_CODE, type_code, "cl07")
    _external_id(eo, rim.DE_PATIENT_ID, ins + "^NH", "XDSDocumentEntry.patientId", "ei01")
    _external_id(eo, rim.DE_UNIQUE_ID, unique_root, "XDSDocumentEntry.uniqueId", "ei02")
    return eo, cda


def _submission_set(patient_id: str, origin: _Origin, unique_id: str, submitted: str) -> etree._Element:
    package = etree.Element(R + "RegistryPackage", nsmap={"rim": rim.NS_RIM}, id="SubmissionSet01")
    _slot(package, "submissionTime", submitted)
    _author(package, rim.SS_AUTHOR, origin, "cl11")
    _classification(package, rim.SS_CONTENT_TYPE_CODE, CONTENT_TYPE, "cl12")
    _rim(
        package,
        "Classification",
        id="cl13",
        classificationNode=rim.SUBMISSION_SET_NODE,
        classifiedObject="SubmissionSet01",
    )
    _external_id(package, rim.SS_UNIQUE_ID, unique_id, "XDSSubmissionSet.uniqueId", "ei11")
    _external_id(package, rim.SS_SOURCE_ID, SOURCE_ID, "XDSSubmissionSet.sourceId", "ei12")
    _external_id(package, rim.SS_PATIENT_ID, patient_id, "XDSSubmissionSet.patientId", "ei13")
    return package


def preload(service: DmpService, *, today: dt.date | None = None) -> int:
    """Register the demo documents if the store has none; returns how many documents were added."""
    if service.store.count_documents():
        return 0
    today = today or dt.datetime.now(dt.UTC).date()
    added = 0
    for index, patient in enumerate(DEMO_PATIENTS):
        discharge_day = dt.datetime.combine(today - dt.timedelta(days=95 - 20 * index), dt.time(11, 30), dt.UTC)
        lab_day = dt.datetime.combine(today - dt.timedelta(days=30 - 7 * index), dt.time(8, 15), dt.UTC)
        for origin, type_code, when, lines in (
            (
                CHU,
                Code("34133-9", LOINC, "Compte rendu d'hospitalisation"),
                discharge_day,
                [
                    "Hospitalisation de 3 jours pour bilan de palpitations.",
                    "Holter : extrasystoles ventriculaires isolées, pas de trouble du rythme soutenu.",
                    "Sortie à domicile. Suivi par le médecin traitant.",
                ],
            ),
            (
                LABO,
                Code("11502-2", LOINC, "Compte rendu d'examens biologiques"),
                lab_day,
                [
                    "Hémoglobine : 13,9 g/dL (12,0 - 16,0)",
                    "Créatinine : 72 µmol/L (45 - 90)",
                    "Glycémie à jeun : 5,1 mmol/L (4,1 - 5,9)",
                ],
            ),
        ):
            eo, cda = _document_entry(patient, origin, type_code, when, lines)
            state = state_of(f"{patient[0]}^^^&{OID_INS_NIR_TEST}&ISO^NH", service.store.patient_config(patient[0]))
            unique_id = f"2.25.{uuid.uuid4().int}"
            submitted = (when + dt.timedelta(hours=2)).strftime("%Y%m%d%H%M%S")
            package = _submission_set(state.ins, origin, unique_id, submitted)
            ss_uuid = f"urn:uuid:{uuid.uuid4()}"
            new_set = NewSubmissionSet(
                entry_uuid=ss_uuid,
                unique_id=unique_id,
                patient=state.ins,
                submission_time=submitted,
                author_national_id=origin.person.split("^")[0],
                metadata=registry_form(package, ss_uuid, None, {}),
            )
            new_set.documents.append(service._new_document(eo, cda, state, new_set))
            with service.store.write() as db:
                service.store.insert_submission(db, new_set)
            added += 1
    return added
