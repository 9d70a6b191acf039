"""The French CDA header (CI-SIS structuration minimale), through N1 documents: INS only when QUAL (R28), INS
traits, partial birth dates, author/custodian/legalAuthenticator, replacement, missing data in plain French."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from caducee.core.oids import INS_OIDS
from caducee.documents.cda import codes
from caducee.documents.cda.header import DocumentIds, MissingDataError, author_code, header_problems
from caducee.documents.cda.n1 import build_n1
from caducee.documents.validation import CdaValidator
from tests.documents.cda_records import SPECIAL, TEST_INS, TEST_INS_OID, parse, qualify, xp

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
WHEN = dt.datetime(2026, 3, 12, 10, 17, tzinfo=dt.UTC)
IDS = DocumentIds("1.2.250.1.999.1.1", "41", "1.2.250.1.999.1.1", "41", 1)


def n1(practice, author, patient, **extra):  # type: ignore[no-untyped-def]
    args = {
        "ids": IDS,
        "practice": practice,
        "author": author,
        "patient": patient,
        "type_code": codes.DOC_CONSULTATION_REPORT,
        "title": "Compte rendu de consultation",
        "pdf": PDF,
        "effective_time": WHEN,
    }
    args.update(extra)
    return build_n1(**args)


def assert_valid(validator: CdaValidator, xml: bytes) -> None:
    report = validator.validate(xml)
    assert report.is_valid, report.format()
    assert not report.warnings, report.format()


def test_non_qualified_identity_carries_no_ins(cda_validator, practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    # R28: a VALI identity with a matricule on file still sends only the local IPP.
    patient = make_patient()
    identity = patient.identity
    identity.status, identity.ins_matricule, identity.ins_oid = "VALI", TEST_INS, TEST_INS_OID
    identity.save()
    xml = n1(practice, doctor, patient)
    root = parse(xml)
    ids = xp(root, "//h:recordTarget/h:patientRole/h:id")
    assert [(i.get("root"), i.get("extension")) for i in ids] == [("1.2.250.1.999.1.2", str(patient.pk))]
    assert not set(xp(root, "//@root")) & INS_OIDS
    assert TEST_INS.encode() not in xml
    assert_valid(cda_validator, xml)


def test_qualified_identity_carries_ins_and_its_traits(cda_validator, practice, doctor, make_patient, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SANDBOX = True  # the test OID may only leave the system towards the sandbox
    patient = qualify(make_patient(birth_given_names="DOMINIQUE MARIE-LOUISE", birthplace_cog="51215"))
    root = parse(n1(practice, doctor, patient))
    ids = xp(root, "//h:patientRole/h:id")
    assert (ids[0].get("root"), ids[0].get("extension")) == (TEST_INS_OID, TEST_INS)
    assert ids[1].get("root") == "1.2.250.1.999.1.2"
    name = xp(root, "//h:patient/h:name")[0]
    assert xp(name, "h:family[@qualifier='BR']/text()") == ["ADRTROIS"]
    assert xp(name, "h:given[not(@qualifier)]/text()") == ["DOMINIQUE MARIE-LOUISE"]
    assert xp(name, "h:given[@qualifier='BR']/text()") == ["DOMINIQUE"]
    assert xp(root, "//h:patient/h:birthTime/@value") == ["19970226"]
    assert xp(root, "//h:patient/h:birthplace/h:place/h:addr/h:county/text()") == ["51215"]
    assert xp(root, "//h:patient/h:administrativeGenderCode/@code") == ["F"]
    assert_valid(cda_validator, etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@pytest.mark.parametrize(
    ("typed", "written"), [("00/00/1950", "1950"), ("00/03/1950", "195003"), ("12/03/1950", "19500312")]
)
def test_partial_birth_date_gives_the_known_precision(  # type: ignore[no-untyped-def]
    cda_validator, practice, doctor, make_patient, typed, written
) -> None:
    xml = n1(practice, doctor, make_patient(birth_date=typed))
    assert xp(parse(xml), "//h:patient/h:birthTime/@value") == [written]
    assert_valid(cda_validator, xml)


def test_author_custodian_and_legal_authenticator(cda_validator, practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    doctor.first_name, doctor.specialty_code = "Claire", "SM54"
    doctor.save()
    practice.name, practice.phone, practice.activity_sector = f"MSP {SPECIAL}", "04 72 00 00 00", "SA52"
    practice.address_line, practice.postal_code, practice.city = "12 bis rue des Tilleuls", "69003", "LYON"
    practice.save()
    patient = make_patient(used_name="DUPONT-ÉPOUSE", used_given_name="DOMI")
    patient.address_line, patient.postal_code, patient.city = "Lieu-dit Les Prés <&>", "69100", "Villeurbanne"
    patient.phone, patient.email = "06 12 34 56 78", "dominique@example.fr"
    patient.save()
    xml = n1(practice, doctor, patient)
    root = parse(xml)
    assert xp(root, "//h:custodian//h:addr/h:houseNumber/text()") == ["12 bis"]
    assert xp(root, "//h:custodian//h:addr/h:streetName/text()") == ["rue des Tilleuls"]
    assert xp(root, "//h:patientRole/h:addr/h:streetName/text()") == ["Lieu-dit Les Prés <&>"]
    assert xp(root, "//h:patientRole/h:telecom/@value") == ["tel:0612345678", "mailto:dominique@example.fr"]
    author = xp(root, "/h:ClinicalDocument/h:author/h:assignedAuthor")[0]
    assert xp(author, "h:id/@root") == [codes.OID_PS_NATIONAL_ID]
    assert xp(author, "h:id/@extension") == ["889970012345"]  # 8 + RPPS
    assert xp(author, "h:code/@code") == ["G15_10/SM54"]
    assert xp(author, "h:code/@codeSystem") == ["1.2.250.1.213.1.1.4.5"]
    assert xp(author, "h:assignedPerson/h:name/h:suffix/text()") == ["DR"]
    assert xp(author, "h:representedOrganization/h:id/@extension") == ["1690099991"]  # 1 + FINESS
    assert xp(author, "h:representedOrganization/h:name/text()") == [f"MSP {SPECIAL}"]
    assert xp(root, "//h:custodian//h:representedCustodianOrganization/h:id/@extension") == ["1690099991"]
    assert xp(root, "//h:legalAuthenticator/h:signatureCode/@code") == ["S"]
    assert xp(root, "//h:healthCareFacility/h:code/@code") == ["SA52"]
    assert xp(root, "//h:healthCareFacility/h:code/@codeSystem") == ["1.2.250.1.71.4.2.4"]
    # RNIV: traits are stored in capitals without accents.
    assert xp(root, "//h:patient/h:name/h:family[@qualifier='CL']/text()") == ["DUPONT-EPOUSE"]
    assert xp(root, "/h:ClinicalDocument/h:languageCode/@code") == ["fr-FR"]
    assert xp(root, "/h:ClinicalDocument/h:effectiveTime/@value") == ["20260312111700+0100"]
    assert_valid(cda_validator, xml)


def test_replacement_points_to_the_previous_version(cda_validator, practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    new = DocumentIds("1.2.250.1.999.1.1", "42", "1.2.250.1.999.1.1", "41", 2)
    xml = n1(practice, doctor, make_patient(), ids=new, replaces=IDS, confidentiality="R")
    root = parse(xml)
    assert xp(root, "/h:ClinicalDocument/h:setId/@extension") == ["41"]
    assert xp(root, "/h:ClinicalDocument/h:versionNumber/@value") == ["2"]
    assert xp(root, "//h:relatedDocument[@typeCode='RPLC']/h:parentDocument/h:id/@extension") == ["41"]
    assert xp(root, "/h:ClinicalDocument/h:confidentialityCode/@code") == ["R"]
    assert_valid(cda_validator, xml)


def test_author_code_falls_back_to_the_profession(doctor) -> None:  # type: ignore[no-untyped-def]
    assert author_code(doctor) is not None and author_code(doctor).code == "G15_10"  # type: ignore[union-attr]
    doctor.specialty_code = "SM54"
    assert author_code(doctor).code == "G15_10/SM54"  # type: ignore[union-attr]
    doctor.profession_code = ""
    assert author_code(doctor) is None


def test_missing_mandatory_data_is_listed_in_french_and_nothing_is_built(  # type: ignore[no-untyped-def]
    practice, doctor, make_patient, settings
) -> None:
    settings.SANDBOX = True
    doctor.rpps = ""
    doctor.profession_code = ""
    doctor.save()
    patient = qualify(make_patient(), birthplace="99999")
    problems = header_problems(practice=practice, author=doctor, patient=patient)
    assert problems == [
        "Le numéro RPPS (ou ADELI) de l'auteur Dr MEDECIN n'est pas renseigné.",
        "La profession ou la spécialité de l'auteur Dr MEDECIN n'est pas renseignée ou est inconnue.",
        "Le lieu de naissance (code COG) du patient est inconnu : il est obligatoire pour une identité qualifiée.",
    ]
    with pytest.raises(MissingDataError) as caught:
        n1(practice, doctor, patient)
    assert caught.value.problems == problems


def test_unknown_birthplace_is_fine_for_a_non_qualified_identity(practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient(birthplace_cog="99999")
    assert header_problems(practice=practice, author=doctor, patient=patient) == []
    assert not xp(parse(n1(practice, doctor, patient)), "//h:birthplace")


def test_test_ins_towards_real_services_is_listed_not_raised(practice, doctor, make_patient, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SANDBOX = False  # R28 gate: a test/demo INS OID never leaves towards real national services
    patient = qualify(make_patient())
    problems = header_problems(practice=practice, author=doctor, patient=patient)
    assert len(problems) == 1 and "bac à sable" in problems[0]
    with pytest.raises(MissingDataError):
        n1(practice, doctor, patient)


def test_demo_practice_outside_the_sandbox_keeps_its_test_ins(  # type: ignore[no-untyped-def]
    cda_validator, practice, doctor, make_patient, settings
) -> None:
    # `caducee seed-demo` flags the practice: its test INS stay in its own documents (identity.ins R28 gate),
    # and such a practice never reaches a national service (accounts.services.practice_check_national_service).
    settings.SANDBOX = False
    practice.is_sandbox = True
    practice.save()
    patient = qualify(make_patient())
    assert header_problems(practice=practice, author=doctor, patient=patient) == []
    xml = n1(practice, doctor, patient)
    assert xp(parse(xml), "//h:patientRole/h:id[1]/@root") == [TEST_INS_OID]
    assert_valid(cda_validator, xml)
