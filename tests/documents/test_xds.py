"""XDS.b metadata from the stored CDA header, and the ITI-41 request validated against the ebRIM/ebRS/XDS.b XSDs."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from caducee.documents import xds_codes as codes
from caducee.documents.cda import codes as cda_codes
from caducee.documents.cda.header import DocumentIds
from caducee.documents.cda.n1 import build_n1
from caducee.documents.cda.vsm import build_vsm
from caducee.documents.xds import (
    NSMAP,
    SubmissionInfo,
    XdsDocumentEntry,
    XdsMetadataError,
    provide_and_register_request,
    xds_metadata,
)
from tests.documents.cda_records import SPECIAL, TEST_INS, TEST_INS_OID, build_summary, qualify

pytestmark = pytest.mark.django_db

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "dmp_mss"
PDF = b"%PDF-1.4\n% \xe2\xe3\xcf\xd3 binary bytes\n%%EOF\n"
WHEN = dt.datetime(2026, 1, 5, 8, 30, tzinfo=dt.UTC)
SUBMISSION = SubmissionInfo(
    unique_id="1.2.250.1.999.1.1.7.1", source_id="1.2.250.1.999.1.1.7", submission_time=WHEN, title="Envoi"
)
INS_CX = f"{TEST_INS}^^^&{TEST_INS_OID}&ISO^NH"


@cache
def repository_schema() -> etree.XMLSchema:
    """XDS.b_DocumentRepository.xsd declares ProvideAndRegisterDocumentSetRequest and imports rim/lcm/rs/query."""
    return etree.XMLSchema(etree.parse(str(REFERENCE / "xds_schemas/schema/IHE/XDS.b_DocumentRepository.xsd")))


@cache
def value_set(name: str) -> set[tuple[str, str]]:
    """(code, scheme) pairs of a stored JDV."""
    data = json.loads((REFERENCE / f"valuesets/JDV_{name}_DMP.json").read_text())
    pairs: set[tuple[str, str]] = set()
    for include in data.get("include", []):
        for code in include["concept"]:
            pairs.add((code, include.get("system_oid_in_xds") or include.get("system_oid") or ""))
    for key, concepts in data.items():
        if "codingScheme OID" in key:
            scheme = key.split("codingScheme OID ")[1].rstrip(")")
            pairs.update((code, scheme) for code in concepts if code != "...")
    return pairs


def assert_valid(request: etree._Element) -> None:
    schema = repository_schema()
    assert schema.validate(request), schema.error_log


def n1(practice, doctor, patient, *, title: str = "Compte rendu", ext: str = "9") -> bytes:  # type: ignore[no-untyped-def]
    return build_n1(
        ids=DocumentIds("1.2.250.1.999.1.1", ext, "1.2.250.1.999.1.1", ext, 1),
        practice=practice,
        author=doctor,
        patient=patient,
        type_code=cda_codes.DOC_CONSULTATION_REPORT,
        title=title,
        pdf=PDF,
        effective_time=WHEN,
    )


@pytest.fixture
def qual_patient(make_patient, settings):  # type: ignore[no-untyped-def]
    settings.SANDBOX = True  # test INS (OID .10): the R28 gate lets it through in the sandbox only
    return qualify(make_patient())


def slot(node: etree._Element, name: str) -> list[str]:
    return node.xpath(f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value/text()", namespaces=NSMAP)  # type: ignore[return-value]


def classification(node: etree._Element, scheme: str) -> list[tuple[str, str]]:
    return [
        (c.get("nodeRepresentation"), slot(c, "codingScheme")[0])
        for c in node.xpath(f"rim:Classification[@classificationScheme='{scheme}']", namespaces=NSMAP)  # type: ignore[union-attr]
    ]


def external_id(node: etree._Element, scheme: str) -> str:
    return node.xpath(f"rim:ExternalIdentifier[@identificationScheme='{scheme}']/@value", namespaces=NSMAP)[0]  # type: ignore[index,return-value]


def test_n1_metadata_and_request_are_valid(practice, doctor, qual_patient) -> None:  # type: ignore[no-untyped-def]
    cda = n1(practice, doctor, qual_patient)
    entry = xds_metadata(cda, pdf=PDF, submission=SUBMISSION, visibility=["INVISIBLE_PATIENT"])
    assert entry.unique_id == "1.2.250.1.999.1.1^9"
    assert (entry.hash, entry.size) == (hashlib.sha1(cda).hexdigest(), len(cda))  # noqa: S324
    assert entry.patient_id == INS_CX
    assert entry.format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"
    assert entry.class_code.code == "10"
    assert entry.creation_time == "20260105083000"
    assert entry.author.person.startswith("889970012345^MEDECIN^")
    assert entry.author.institution == "MSP de test^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1690099991"

    request = provide_and_register_request([entry], SUBMISSION)
    assert_valid(request)
    (eo,) = request.xpath("//rim:ExtrinsicObject", namespaces=NSMAP)
    assert classification(eo, codes.DE_CLASS_CODE)[0] in value_set("J57_ClassCode")
    assert classification(eo, codes.DE_FORMAT_CODE)[0] in value_set("J60_FormatCode")
    assert set(classification(eo, codes.DE_CONFIDENTIALITY_CODE)) <= value_set("J58_ConfidentialityCode")
    assert len(classification(eo, codes.DE_CONFIDENTIALITY_CODE)) == 2
    assert classification(eo, codes.DE_TYPE_CODE) == [("11488-4", "2.16.840.1.113883.6.1")]
    assert classification(eo, codes.DE_FACILITY_TYPE_CODE) == [("SA07", "1.2.250.1.71.4.2.4")]
    assert classification(eo, codes.DE_PRACTICE_SETTING_CODE) == [("AMBULATOIRE", "1.2.250.1.213.1.1.4.9")]
    assert external_id(eo, codes.DE_UNIQUE_ID) == "1.2.250.1.999.1.1^9"
    assert external_id(eo, codes.DE_PATIENT_ID) == INS_CX
    assert slot(eo, "hash") == [entry.hash] and slot(eo, "size") == [str(len(cda))]
    assert f"PID-3|{INS_CX}" in slot(eo, "sourcePatientInfo")
    (package,) = request.xpath("//rim:RegistryPackage", namespaces=NSMAP)
    assert external_id(package, codes.SS_PATIENT_ID) == INS_CX
    assert external_id(package, codes.SS_SOURCE_ID) == SUBMISSION.source_id
    assert external_id(package, codes.SS_UNIQUE_ID) == SUBMISSION.unique_id
    assert slot(package, "submissionTime") == ["20260105083000"]
    (association,) = request.xpath("//rim:Association", namespaces=NSMAP)
    assert (association.get("sourceObject"), association.get("targetObject")) == ("SubmissionSet01", "Document01")
    (document,) = request.xpath("xdsb:Document", namespaces=NSMAP)
    assert document.get("id") == "Document01"
    assert base64.b64decode(document.text) == cda


def test_vsm_has_its_format_and_class(practice, doctor, qual_patient) -> None:  # type: ignore[no-untyped-def]
    doctor.first_name, doctor.specialty_code = "Claire", "SM54"
    doctor.save()
    ids = DocumentIds("1.2.250.1.999.1.1", "100", "1.2.250.1.999.1.1", "100", 1)
    cda = build_summary(build_vsm, practice, doctor, qual_patient, ids=ids)
    entry = xds_metadata(cda, submission=SUBMISSION)
    assert (entry.format_code.code, entry.class_code.code) == ("urn:asip:ci-sis:vsm:2012", "11")
    assert entry.author.person == "889970012345^MEDECIN^Claire^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    assert_valid(provide_and_register_request([entry], SUBMISSION))


def test_two_documents_in_one_lot(practice, doctor, qual_patient) -> None:  # type: ignore[no-untyped-def]
    first = xds_metadata(n1(practice, doctor, qual_patient), submission=SUBMISSION)
    second = xds_metadata(n1(practice, doctor, qual_patient, ext="10"), submission=SUBMISSION, entry_id="Document02")
    request = provide_and_register_request([first, second], SUBMISSION)
    assert_valid(request)
    assert len(request.xpath("//rim:Association", namespaces=NSMAP)) == 2
    assert request.xpath("xdsb:Document/@id", namespaces=NSMAP) == ["Document01", "Document02"]


def test_non_qualified_identity_is_refused(practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    cda = n1(practice, doctor, make_patient())
    with pytest.raises(XdsMetadataError, match="identité qualifiée"):
        xds_metadata(cda, submission=SUBMISSION)


def test_special_characters_survive_in_the_title(practice, doctor, qual_patient) -> None:  # type: ignore[no-untyped-def]
    entry = xds_metadata(n1(practice, doctor, qual_patient, title=SPECIAL), submission=SUBMISSION)
    assert entry.title == SPECIAL
    request = provide_and_register_request([entry], SUBMISSION)
    assert_valid(request)
    reparsed = etree.fromstring(etree.tostring(request))
    assert reparsed.xpath("//rim:ExtrinsicObject/rim:Name/rim:LocalizedString/@value", namespaces=NSMAP) == [SPECIAL]


def test_wrong_pdf_and_unknown_visibility_are_refused(practice, doctor, qual_patient) -> None:  # type: ignore[no-untyped-def]
    cda = n1(practice, doctor, qual_patient)
    with pytest.raises(XdsMetadataError, match="PDF"):
        xds_metadata(cda, pdf=b"%PDF-1.4 autre", submission=SUBMISSION)
    with pytest.raises(XdsMetadataError, match="visibilité"):
        xds_metadata(cda, submission=SUBMISSION, visibility=["SECRET"])


def test_one_patient_per_lot(practice, doctor, qual_patient) -> None:  # type: ignore[no-untyped-def]
    entry = xds_metadata(n1(practice, doctor, qual_patient), submission=SUBMISSION)
    other = XdsDocumentEntry(**{**entry.__dict__, "patient_id": "1^^^&1.2.250.1.213.1.4.10&ISO^NH", "entry_id": "D2"})
    with pytest.raises(XdsMetadataError, match="un seul patient"):
        provide_and_register_request([entry, other], SUBMISSION)


def test_the_schema_check_bites(practice, doctor, qual_patient) -> None:  # type: ignore[no-untyped-def]
    request = provide_and_register_request(
        [xds_metadata(n1(practice, doctor, qual_patient), submission=SUBMISSION)], SUBMISSION
    )
    eo = request.xpath("//rim:ExtrinsicObject", namespaces=NSMAP)[0]
    eo.remove(eo.xpath("rim:Name", namespaces=NSMAP)[0])
    eo.append(etree.Element(f"{{{NSMAP['rim']}}}Name"))  # Name after the ExternalIdentifiers: out of sequence
    assert not repository_schema().validate(request)
