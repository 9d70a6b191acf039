"""Documents preloaded in an empty sandbox DMP, so that "Consulter le DMP" has content in the demo.

For three INSi personas with a test INS (D'ARTAGNAN DE L'HERAULT, PAT-TROIS, DUBOIS-MOREAU): a hospital discharge
letter (LOINC 34133-9, from a CHU) and a lab report (LOINC 11502-2, from a laboratory), CDA R2 N1 documents with an
embedded PDF (IHE XDS-SD, templateId 1.3.6.1.4.1.19376.1.2.20), dated in the last months. All fictitious.
Registered straight into the store (no HTTP, no lot signature): generation stays well under a second. Their ebRIM
metadata (ITI TF-3 §4.2.3, the DMP's codes of mapping.md §"Mapping XDS") are written here, by the sandbox, as another
sending system (a hospital, a laboratory) would have submitted them: nothing is borrowed from the product.

Demo data must be as conformant as what the product produces (issue 13 §4): each CDA carries the whole CI-SIS header
of the "structuration minimale" (kit DOC_NON_STRUCTURE_CDA-R2-N1.xml): setId and versionNumber, the patient's INS
with its traits as INSi returns them (birth name, birth given names, first given name, sex, birth date, birthplace
COG — the same as sandbox/data/insi_personas.json), author, custodian, legalAuthenticator, the documented act
(documentationOf/serviceEvent with its performer) and the encounter (componentOf) — and passes the CDA XSD and the
five generic schematrons (tests/sandbox/test_dmp_demo.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from typing import NamedTuple

from fpdf import FPDF
from lxml import etree
from lxml.builder import ElementMaker

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


class DemoPatient(NamedTuple):
    """A persona of the INSi sandbox, with its traits as INSi returns them (sandbox/data/insi_personas.json)."""

    ins: str  # matricule (13) + key (2), under OID_INS_NIR_TEST
    birth_name: str
    given_names: str  # every given name of the birth certificate
    first_given_name: str
    sex: str
    birth_date: str  # AAAAMMJJ
    birthplace: str  # COG


DEMO_PATIENTS = (
    DemoPatient("101063417209334", "D'ARTAGNAN DE L'HERAULT", "PIERRE-ALAIN", "PIERRE-ALAIN", "M", "20010617", "34172"),
    DemoPatient("279035121518989", "PAT-TROIS", "DOMINIQUE MARIE-LOUISE", "DOMINIQUE", "F", "19790328", "51215"),
    DemoPatient("282074410931845", "DUBOIS-MOREAU", "MARIE CLAIRE", "MARIE", "F", "19820719", "44109"),
)
SOURCE_ID = "1.2.250.1.213.4.1.9.1"  # the sandbox's own fictitious sending systems


class Person(NamedTuple):
    rpps: str
    family: str
    given: str
    profession: Code  # TRE_G15 profession / TRE_R38 specialty (JDV_J01-XdsAuthorSpecialty-CISIS)


class Organisation(NamedTuple):
    national_id: str  # identifiant national de structure: 1 + FINESS (TRE_G07)
    name: str
    street: str
    postal_code: str
    city: str
    phone: str


class _Origin(NamedTuple):
    author: Person
    organisation: Organisation
    name: str  # shown at the foot of the PDF
    facility: Code  # TRE_R02 secteur d'activité (healthcareFacilityTypeCode)
    setting: Code  # practiceSettingCode

    @property
    def person(self) -> str:
        """XCN of the author (ebRIM authorPerson, legalAuthenticator)."""
        a = self.author
        return f"8{a.rpps}^{a.family}^{a.given}^^^^^^&{OID_PS_NATIONAL_ID}&ISO^D^^^IDNPS"

    @property
    def institution(self) -> str:
        """XON of the organisation (ebRIM authorInstitution)."""
        o = self.organisation
        return f"{o.name}^^^^^&{OID_STRUCTURE_ID}&ISO^IDNST^^^{o.national_id}"


PROFESSION_SYSTEM = "1.2.250.1.213.1.1.4.5"  # TRE_G15 + TRE_R38 (JDV_J01)
FACILITY_SYSTEM = "1.2.250.1.71.4.2.4"  # TRE_R02 SecteurActivite
SETTING_SYSTEM = "1.2.250.1.213.1.1.4.9"  # practiceSettingCode
CHU = _Origin(
    Person(
        "10001234567",
        "LAMBERT",
        "Hélène",
        Code("G15_10/SM04", PROFESSION_SYSTEM, "Médecin - Cardiologie et maladies vasculaires (SM)"),
    ),
    Organisation("1330000999", "CHU DE DEMONSTRATION", "1 Rue de l'Hôpital", "13005", "MARSEILLE", "0491000000"),
    "CHU de démonstration — service de cardiologie",
    Code("SA01", FACILITY_SYSTEM, "Etablissement public de santé"),
    Code("ETABLISSEMENT", SETTING_SYSTEM, "Etablissement de santé"),
)
LABO = _Origin(
    Person(
        "10007654321",
        "ROUX",
        "Nicolas",
        Code("G15_10/SM03", PROFESSION_SYSTEM, "Médecin - Biologie médicale (SM)"),
    ),
    Organisation(
        "1920012345", "LABORATOIRE BIOLOGIE DEMO", "8 Rue des Analyses", "92100", "BOULOGNE-BILLANCOURT", "0146000000"
    ),
    "Laboratoire de biologie médicale de démonstration",
    Code("SA29", FACILITY_SYSTEM, "Laboratoire d'analyses et de biologie médicale"),
    Code("AMBULATOIRE", SETTING_SYSTEM, "Ambulatoire"),
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


NS_CDA = "urn:hl7-org:v3"
_E = ElementMaker(namespace=NS_CDA, nsmap={None: NS_CDA})
GENDER = {"M": "Masculin", "F": "Féminin"}


def _code(tag: str, code: Code) -> etree._Element:
    return _E(tag, code=code.code, displayName=code.display, codeSystem=code.scheme)


def _addr(o: Organisation) -> etree._Element:
    number, _, street = o.street.partition(" ")
    return _E.addr(_E.houseNumber(number), _E.streetName(street), _E.postalCode(o.postal_code), _E.city(o.city))


def _organisation(tag: str, o: Organisation, setting: Code | None = None) -> etree._Element:
    node = _E(tag, _E.id(root=OID_STRUCTURE_ID, extension=o.national_id), _E.name(o.name))
    node.append(_E.telecom(value=f"tel:{o.phone}", use="WP"))
    node.append(_addr(o))
    if setting is not None:
        node.append(_code("standardIndustryClassCode", setting))
    return node


def _person_name(a: Person) -> etree._Element:
    return _E.name(_E.given(a.given), _E.family(a.family), _E.suffix("DR"))


def _assigned_entity(origin: _Origin) -> etree._Element:
    a, o = origin.author, origin.organisation
    return _E.assignedEntity(
        _E.id(root=OID_PS_NATIONAL_ID, extension=f"8{a.rpps}"),
        _code("code", a.profession),
        _addr(o),
        _E.telecom(value=f"tel:{o.phone}", use="WP"),
        _E.assignedPerson(_person_name(a)),
        _organisation("representedOrganization", o, origin.setting),
    )


def _period(start: str, end: str) -> etree._Element:
    """IVL_TS; StrucMin dtr1-6: low and high must differ (an instant has only its low)."""
    return _E.effectiveTime(_E.low(value=start), *([_E.high(value=end)] if end != start else []))


def _cda(
    ids: tuple[str, str],
    type_code: Code,
    when: dt.datetime,
    started: dt.datetime,
    patient: DemoPatient,
    origin: _Origin,
    pdf: bytes,
) -> bytes:
    """The CDA R2 N1 of one demo document (ids: uniqueId and setId roots): the CI-SIS header, then the PDF."""
    stamp = when.strftime("%Y%m%d%H%M%S+0000")
    start = started.strftime("%Y%m%d%H%M%S+0000")
    a, o = origin.author, origin.organisation
    doc = _E.ClinicalDocument(
        _E.realmCode(code="FR"),
        _E.typeId(root="2.16.840.1.113883.1.3", extension="POCD_HD000040"),
        _E.templateId(root="2.16.840.1.113883.2.8.2.1"),  # HL7 France
        _E.templateId(root="1.2.250.1.213.1.1.1.1"),  # CI-SIS
        _E.templateId(root="1.3.6.1.4.1.19376.1.2.20"),  # IHE XDS-SD
        _E.id(root=ids[0]),
        _E.code(code=type_code.code, displayName=type_code.display, codeSystem=LOINC, codeSystemName="LOINC"),
        _E.title(type_code.display),
        _E.effectiveTime(value=stamp),
        _E.confidentialityCode(
            code="N", displayName="Normal", codeSystem="2.16.840.1.113883.5.25", codeSystemName="Confidentiality"
        ),
        _E.languageCode(code="fr-FR"),
        _E.setId(root=ids[1]),
        _E.versionNumber(value="1"),
        _E.recordTarget(
            _E.patientRole(
                _E.id(root=OID_INS_NIR_TEST, extension=patient.ins),
                _E.addr(nullFlavor="UNK"),
                _E.patient(
                    _E.name(
                        _E.family(patient.birth_name, qualifier="BR"),
                        _E.given(patient.given_names),
                        _E.given(patient.first_given_name, qualifier="BR"),
                    ),
                    _E.administrativeGenderCode(
                        code=patient.sex, displayName=GENDER[patient.sex], codeSystem="2.16.840.1.113883.5.1"
                    ),
                    _E.birthTime(value=patient.birth_date),
                    _E.birthplace(_E.place(_E.addr(_E.county(patient.birthplace)))),
                    classCode="PSN",
                ),
            )
        ),
        _E.author(
            _E.time(value=stamp),
            _E.assignedAuthor(
                _E.id(root=OID_PS_NATIONAL_ID, extension=f"8{a.rpps}"),
                _code("code", a.profession),
                _addr(o),
                _E.telecom(value=f"tel:{o.phone}", use="WP"),
                _E.assignedPerson(_person_name(a)),
                _organisation("representedOrganization", o),
            ),
        ),
        _E.custodian(_E.assignedCustodian(_organisation("representedCustodianOrganization", o))),
        _E.legalAuthenticator(_E.time(value=stamp), _E.signatureCode(code="S"), _assigned_entity(origin)),
        _E.documentationOf(
            _E.serviceEvent(
                _period(start, stamp),
                _E.performer(_assigned_entity(origin), typeCode="PRF"),
            )
        ),
        _E.componentOf(
            _E.encompassingEncounter(
                _period(start, stamp),
                _E.location(
                    _E.healthCareFacility(
                        _E.id(root=OID_STRUCTURE_ID, extension=o.national_id), _code("code", origin.facility)
                    )
                ),
            )
        ),
        _E.component(
            _E.nonXMLBody(_E.text(base64.b64encode(pdf).decode(), mediaType="application/pdf", representation="B64"))
        ),
    )
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")


def _french(day: str) -> str:
    return f"{day[6:8]}/{day[4:6]}/{day[:4]}"


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
    patient: DemoPatient,
    origin: _Origin,
    type_code: Code,
    when: dt.datetime,
    lines: list[str],
    *,
    started: dt.datetime | None = None,
) -> tuple[etree._Element, bytes]:
    """(ExtrinsicObject as submitted by `origin`, the CDA N1 it describes). `started`: when the documented act began
    (the admission, the sample), `when` by default."""
    started = started or when
    unique_root = f"2.25.{uuid.uuid4().int}"
    set_root = f"2.25.{uuid.uuid4().int}"
    stamp = when.strftime("%Y%m%d%H%M%S")
    name = f"{patient.birth_name} {patient.first_given_name}"
    pdf = _pdf(type_code.display, [f"Patient : {name}, né(e) le {_french(patient.birth_date)}", *lines, origin.name])
    cda = _cda((unique_root, set_root), type_code, when, started, patient, origin, pdf)
    ins = f"{patient.ins}^^^&{OID_INS_NIR_TEST}&ISO"
    eo = etree.Element(R + "ExtrinsicObject", nsmap={"rim": rim.NS_RIM}, id="Document01", mimeType="text/xml")
    eo.set("objectType", rim.DOCUMENT_ENTRY_STABLE)
    _slot(eo, "creationTime", stamp)
    _slot(eo, "hash", hashlib.sha1(cda).hexdigest())  # noqa: S324 - XDS hash is SHA-1
    _slot(eo, "languageCode", "fr-FR")
    _slot(eo, "legalAuthenticator", origin.person)
    _slot(eo, "serviceStartTime", started.strftime("%Y%m%d%H%M%S"))
    _slot(eo, "serviceStopTime", stamp)
    _slot(eo, "size", str(len(cda)))
    _slot(eo, "sourcePatientId", ins + "^PI")
    _slot(
        eo,
        "sourcePatientInfo",
        f"PID-5|{patient.birth_name}^{patient.first_given_name}^^^^^L",
        f"PID-7|{patient.birth_date}",
        f"PID-8|{patient.sex}",
    )
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
        for origin, type_code, when, duration, lines in (
            (
                CHU,
                Code("34133-9", LOINC, "Compte rendu d'hospitalisation"),
                discharge_day,
                dt.timedelta(days=3),
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
                dt.timedelta(hours=1),
                [
                    "Hémoglobine : 13,9 g/dL (12,0 - 16,0)",
                    "Créatinine : 72 µmol/L (45 - 90)",
                    "Glycémie à jeun : 5,1 mmol/L (4,1 - 5,9)",
                ],
            ),
        ):
            eo, cda = _document_entry(patient, origin, type_code, when, lines, started=when - duration)
            state = state_of(f"{patient.ins}^^^&{OID_INS_NIR_TEST}&ISO^NH", service.store.patient_config(patient.ins))
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
