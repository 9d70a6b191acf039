"""Documents preloaded in an empty sandbox DMP, so that "Consulter le DMP" has content in the demo.

For three INSi personas with a test INS (D'ARTAGNAN DE L'HERAULT, PAT-TROIS, DUBOIS-MOREAU): a hospital discharge
letter (LOINC 34133-9, from a CHU) and a lab report (LOINC 11502-2, from a laboratory), CDA R2 N1 documents with an
embedded PDF (IHE XDS-SD, templateId 1.3.6.1.4.1.19376.1.2.20), dated in the last months. All fictitious.
Registered straight into the store (no HTTP, no lot signature): generation stays well under a second.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from xml.sax.saxutils import escape, quoteattr

from fpdf import FPDF

from caducee.core.oids import OID_INS_NIR_TEST, OID_PS_NATIONAL_ID, OID_STRUCTURE_ID
from caducee.documents import xds_codes as codes
from caducee.documents.xds import SubmissionInfo, XdsAuthor, XdsDocumentEntry, ins_cx, provide_and_register_request
from caducee.documents.xds_codes import XdsCode
from caducee.sandbox.dmp.patients import state_of
from caducee.sandbox.dmp.registry import NS_LCM, R, registry_form
from caducee.sandbox.dmp.service import DmpService
from caducee.sandbox.dmp.store import NewSubmissionSet

LOINC = "2.16.840.1.113883.6.1"
DEMO_PATIENTS = (
    ("101063417209334", "D'ARTAGNAN DE L'HERAULT", "Pierre-Alain", "M", "20010617"),
    ("279035121518989", "PAT-TROIS", "Dominique", "F", "19790328"),
    ("282074410931845", "DUBOIS-MOREAU", "Marie Claire", "F", "19820719"),
)
SOURCE_ID = "1.2.250.1.213.4.1.9.1"  # the sandbox's own fictitious sending systems


class _Origin:
    def __init__(self, person: str, institution: str, name: str, facility: XdsCode, setting: XdsCode) -> None:
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
    XdsCode("SA01", "1.2.250.1.71.4.2.4", "Etablissement public de santé"),
    XdsCode("ETABLISSEMENT", "1.2.250.1.213.1.1.4.9", "Etablissement de santé"),
)
LABO = _Origin(
    f"810007654321^ROUX^Nicolas^^^^^^&{OID_PS_NATIONAL_ID}&ISO^D^^^IDNPS",
    f"LABORATOIRE BIOLOGIE DEMO^^^^^&{OID_STRUCTURE_ID}&ISO^IDNST^^^3123456780001",
    "Laboratoire de biologie médicale de démonstration",
    XdsCode("SA29", "1.2.250.1.71.4.2.4", "Laboratoire d'analyses et de biologie médicale"),
    XdsCode("AMBULATOIRE", "1.2.250.1.213.1.1.4.9", "Ambulatoire"),
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


def _entry(
    entry_id: str, patient: tuple[str, ...], origin: _Origin, type_code: XdsCode, when: dt.datetime, lines: list[str]
) -> XdsDocumentEntry:
    matricule, family, given, sex, birth = patient
    unique_root = f"2.25.{uuid.uuid4().int}"
    stamp = when.strftime("%Y%m%d%H%M%S")
    pdf = _pdf(type_code.display, [f"Patient : {given} {family}", *lines, origin.name])
    cda = _cda(unique_root, type_code.display, type_code.code, stamp + "+0000", patient, pdf)
    return XdsDocumentEntry(
        entry_id=entry_id,
        unique_id=unique_root,
        patient_id=ins_cx(matricule, OID_INS_NIR_TEST),
        source_patient_id=ins_cx(matricule, OID_INS_NIR_TEST, "PI"),
        source_patient_info=(f"PID-5|{family}^{given}^^^^^L", f"PID-7|{birth}", f"PID-8|{sex}"),
        title=type_code.display,
        class_code=codes.CLASS_REPORT,
        type_code=type_code,
        format_code=codes.FORMAT_N1_PDF,
        confidentiality=(XdsCode("N", codes.HL7_CONFIDENTIALITY, "Normal"),),
        facility_type=origin.facility,
        practice_setting=origin.setting,
        author=XdsAuthor(person=origin.person, institution=origin.institution),
        legal_authenticator=origin.person,
        creation_time=stamp,
        service_start_time=stamp,
        service_stop_time="",
        language_code="fr-FR",
        hash=hashlib.sha1(cda).hexdigest(),  # noqa: S324 - XDS hash is SHA-1
        size=len(cda),
        content=cda,
    )


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
                XdsCode("34133-9", LOINC, "Compte rendu d'hospitalisation"),
                discharge_day,
                [
                    "Hospitalisation de 3 jours pour bilan de palpitations.",
                    "Holter : extrasystoles ventriculaires isolées, pas de trouble du rythme soutenu.",
                    "Sortie à domicile. Suivi par le médecin traitant.",
                ],
            ),
            (
                LABO,
                XdsCode("11502-2", LOINC, "Compte rendu d'examens biologiques"),
                lab_day,
                [
                    "Hémoglobine : 13,9 g/dL (12,0 - 16,0)",
                    "Créatinine : 72 µmol/L (45 - 90)",
                    "Glycémie à jeun : 5,1 mmol/L (4,1 - 5,9)",
                ],
            ),
        ):
            entry = _entry("Document01", patient, origin, type_code, when, lines)
            submission = SubmissionInfo(
                unique_id=f"2.25.{uuid.uuid4().int}", source_id=SOURCE_ID, submission_time=when + dt.timedelta(hours=2)
            )
            request = provide_and_register_request([entry], submission)
            objects = request.find(f"{{{NS_LCM}}}SubmitObjectsRequest/{R}RegistryObjectList")
            assert objects is not None
            package = objects.find(f"{R}RegistryPackage")
            eo = objects.find(f"{R}ExtrinsicObject")
            assert package is not None and eo is not None
            state = state_of(entry.patient_id, service.store.patient_config(patient[0]))
            ss_uuid = f"urn:uuid:{uuid.uuid4()}"
            new_set = NewSubmissionSet(
                entry_uuid=ss_uuid,
                unique_id=submission.unique_id,
                patient=state.ins,
                submission_time=submission.submission_time.strftime("%Y%m%d%H%M%S"),
                author_national_id=origin.person.split("^")[0],
                metadata=registry_form(package, ss_uuid, None, {}),
            )
            new_set.documents.append(service._new_document(eo, entry.content, state, new_set))
            with service.store.write() as db:
                service.store.insert_submission(db, new_set)
            added += 1
    return added
