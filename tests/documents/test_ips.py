"""IPS-FR 2024.01 "Synthèse médicale" from the clinical record: conformant (XSD + generic profiles + IPS-FR
schematron) over a spread of records, the five required sections with their "no information" forms, the optional
ones only when the record fills them, IPS medication (ATC in pharm:generalizedMedicineClass), the VSM's element
keys and exclusions, and the practice setting that makes `vsm_create` and `caducee vsm` produce it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from caducee.accounts.models import Practice
from caducee.core.oids import INS_OIDS
from caducee.documents.cda import codes
from caducee.documents.cda.header import DocumentIds
from caducee.documents.cda.ips import build_ips, ips_elements, ips_problems
from caducee.documents.cda.vsm import vsm_elements
from caducee.documents.models import Document
from caducee.documents.production import vsm_create
from caducee.documents.validation import CdaValidator
from caducee.patients.models import Ald
from caducee.record import models as rec
from caducee.record.selectors import record_summary
from tests.documents.cda_records import (
    SPECIAL,
    TEST_INS,
    TEST_INS_OID,
    absent_codes,
    assert_conformant_volet,
    assert_missing_rpps_blocks,
    assert_references_resolve,
    build_summary,
    parse,
    qualify,
    rich_record,
    two_versions_with_stable_entry_ids,
    xp,
)

pytestmark = pytest.mark.django_db

IDS = DocumentIds("1.2.250.1.999.1.1", "200", "1.2.250.1.999.1.1", "200", 1)
PHARM = "urn:ihe:pharm:medication"
NS = {"h": "urn:hl7-org:v3", "pharm": PHARM}

# Section templateIds (IHE PCC, or CI-SIS when the section has no IHE one).
ACTIVE = "1.3.6.1.4.1.19376.1.5.3.1.3.6"
MEDICAL = "1.3.6.1.4.1.19376.1.5.3.1.3.8"
PROCEDURES = "1.3.6.1.4.1.19376.1.5.3.1.3.11"
ALLERGIES = "1.3.6.1.4.1.19376.1.5.3.1.3.13"
MEDICATIONS = "1.3.6.1.4.1.19376.1.5.3.1.3.19"
DEVICES = "1.3.6.1.4.1.19376.1.5.3.1.1.5.3.5"
VIGILANCE = "1.2.250.1.213.1.1.2.245"
VITALS = "1.3.6.1.4.1.19376.1.5.3.1.3.25"
CODED_VITALS = "1.3.6.1.4.1.19376.1.5.3.1.1.5.3.2"
LIFESTYLE = "1.3.6.1.4.1.19376.1.5.3.1.3.16.1"
PROFESSIONAL = "1.3.6.1.4.1.19376.1.5.3.1.1.5.3.1"
FAMILY = "1.3.6.1.4.1.19376.1.5.3.1.3.15"
REQUIRED = [ACTIVE, PROCEDURES, ALLERGIES, MEDICATIONS, DEVICES]
OPTIONAL = [MEDICAL, VIGILANCE, VITALS, LIFESTYLE, PROFESSIONAL, FAMILY]
# What a section-less model (VSM) would nest: IPS-FR is flat, every section is a direct child of structuredBody.
TOP_SECTIONS = "/h:ClinicalDocument/h:component/h:structuredBody/h:component/h:section"


def ips(practice, author, patient, **extra) -> bytes:  # type: ignore[no-untyped-def]
    return build_summary(build_ips, practice, author, patient, ids=IDS, **extra)


def assert_conformant(validator: CdaValidator, xml: bytes) -> None:
    assert_conformant_volet(validator, xml, "IPS-FR_2024.01")


def section(root, template: str):  # type: ignore[no-untyped-def]
    found = xp(root, f"{TOP_SECTIONS}[h:templateId/@root='{template}']")
    assert len(found) == 1, template
    return found[0]


def present(root) -> set[str]:  # type: ignore[no-untyped-def]
    roots = set(xp(root, f"{TOP_SECTIONS}/h:templateId/@root"))
    return {template for template in REQUIRED + OPTIONAL if template in roots}


@pytest.fixture
def author(doctor):  # type: ignore[no-untyped-def]
    doctor.first_name, doctor.specialty_code = "Claire", "SM54"
    doctor.save()
    return doctor


def with_vitals(patient) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Last vitals of several kinds: coded ones, SpO2 (outside the value set: code + translation), a height in an
    unit the CI-SIS refuses (narrative only)."""
    at = dt.datetime(2026, 1, 15, 10, 30, tzinfo=dt.UTC)
    made = {
        "systolic": rec.Vital.objects.create(
            patient=patient, kind=rec.Vital.Kind.SYSTOLIC, value=Decimal("135"), unit="mm[Hg]", measured_at=at
        ),
        "spo2": rec.Vital.objects.create(
            patient=patient, kind=rec.Vital.Kind.SPO2, value=Decimal("97"), unit="%", measured_at=at
        ),
        "height": rec.Vital.objects.create(
            patient=patient, kind=rec.Vital.Kind.HEIGHT, value=Decimal("70"), unit="[ft_i]", measured_at=at
        ),
    }
    return {name: vital.pk for name, vital in made.items()}


# --- The spread of records ------------------------------------------------------------------------------------


def test_empty_record_has_the_required_sections_saying_not_documented(  # type: ignore[no-untyped-def]
    cda_validator, practice, author, make_patient
) -> None:
    patient = make_patient()
    summary = record_summary(patient)
    assert summary.is_empty and ips_elements(summary) == []
    xml = ips(practice, author, patient)
    root = parse(xml)
    # Header: the four templateIds of the FSH, LOINC 60591-5, no serviceEvent code, no médecin traitant declared.
    assert xp(root, "/h:ClinicalDocument/h:templateId/@root") == [
        codes.TPL_HL7_FRANCE,
        codes.TPL_CISIS,
        "2.16.840.1.113883.10.22.1.1",
        "1.2.250.1.213.1.1.1.51",
    ]
    assert xp(root, "/h:ClinicalDocument/h:templateId[@root='1.2.250.1.213.1.1.1.51']/@extension") == ["2024.01"]
    assert xp(root, "/h:ClinicalDocument/h:code/@code") == ["60591-5"]
    assert xp(root, "/h:ClinicalDocument/h:code/@codeSystem") == [codes.LOINC]
    assert xp(root, "/h:ClinicalDocument/h:title/text()") == ["Synthèse médicale"]
    assert not xp(root, "//h:documentationOf/h:serviceEvent/h:code")
    assert not xp(root, "/h:ClinicalDocument/h:participant")
    # Body: exactly the required sections, each with its "absent or unknown" entry.
    assert present(root) == set(REQUIRED)
    assert absent_codes(root) == {
        "no-problem-info",
        "no-procedure-info",
        "no-allergy-info",
        "no-medication-info",
        "no-device-info",
    }
    device = xp(section(root, DEVICES), "h:entry/h:supply")[0]
    assert xp(device, "h:templateId/@root") == list(codes.T_MEDICAL_DEVICE)
    assert xp(device, ".//h:playingDevice/h:code/@code") == ["no-device-info"]
    # The CCD templateId of the devices section is the real CCD OID, not the kit example's typo.
    assert "2.16.840.1.113883.10.20.1.7" in xp(section(root, DEVICES), "h:templateId/@root")
    assert_references_resolve(root)
    assert_conformant(cda_validator, xml)


def test_rich_record_qualified_identity_is_coded_and_conformant(  # type: ignore[no-untyped-def]
    cda_validator, practice, author, make_patient, settings
) -> None:
    settings.SANDBOX = True
    patient = qualify(make_patient())
    patient.medecin_traitant = author
    patient.address_line, patient.postal_code, patient.city = "3 place Bellecour", "69002", "LYON"
    patient.save()
    pks = rich_record(patient)
    vitals = with_vitals(patient)
    xml = ips(practice, author, patient)
    root = parse(xml)
    assert_references_resolve(root)
    assert xp(root, "//h:patientRole/h:id[1]/@extension") == [TEST_INS]
    assert xp(root, "//h:patientRole/h:id[1]/@root") == [TEST_INS_OID]
    pcp = xp(root, "/h:ClinicalDocument/h:participant[@typeCode='INF']/h:functionCode")[0]
    assert (pcp.get("code"), pcp.get("displayName"), pcp.get("codeSystem")) == (
        "PCP",
        "Médecin Traitant",
        codes.HL7_PARTICIPATION_FUNCTION,
    )
    assert xp(root, "/h:ClinicalDocument/h:author/h:functionCode/@code") == ["PCP"]
    # Every section, flat, nothing unknown.
    assert present(root) == set(REQUIRED + OPTIONAL)
    assert absent_codes(root) == {"no-device-info"}
    assert not xp(root, "//h:section/h:component/h:section")

    active = section(root, ACTIVE)
    assert xp(active, "h:title/text()") == ["Problèmes actifs"]
    assert sorted(xp(active, ".//h:observation/h:value/@code")) == ["E11.9", "I10", "I50.0", "I50.1"]
    medical = section(root, MEDICAL)
    assert xp(medical, "h:entry/h:act/h:statusCode/@code") == ["completed", "completed"]
    procedures = section(root, PROCEDURES)
    assert xp(procedures, "h:title/text()") == ["Historique des actes"]
    assert xp(procedures, "h:entry/h:procedure/h:code/@codeSystem") == [codes.CCAM]

    allergies = section(root, ALLERGIES)
    drug = xp(allergies, f".//h:observation[h:text/h:reference/@value='#allergy-{pks['drug_allergy']}']")[0]
    assert xp(drug, "h:participant[@typeCode='CSM']//h:playingEntity/h:code/@codeSystem") == [codes.CIS]

    # IPS medication: "traitement au long cours" templateId, CIS code, ATC as the generic class, no translation.
    medications = section(root, MEDICATIONS)
    ref = f"#treatment-{pks['metformin']}"
    metformin = xp(medications, f"h:entry/h:substanceAdministration[h:text/h:reference/@value='{ref}']")[0]
    assert "1.2.250.1.213.1.1.3.42.3" in xp(metformin, "h:templateId/@root")
    material = xp(metformin, ".//h:manufacturedMaterial")[0]
    assert xp(material, "h:code/@code") == ["60234100"]
    assert not xp(material, "h:code/h:translation")
    generic = material.xpath("pharm:asSpecializedKind[@classCode='GRIC']/pharm:generalizedMedicineClass", namespaces=NS)
    assert [g.get("classCode") for g in generic] == ["MMAT"]
    assert generic[0].xpath("pharm:code/@code", namespaces=NS) == ["A10BA02"]
    assert generic[0].xpath("pharm:code/@codeSystem", namespaces=NS) == [codes.ATC]
    assert root.nsmap.get("pharm") == PHARM  # declared once, on the root, as in the IPS-FR example
    # A treatment without ATC has no generic class.
    assert len(medications.xpath(".//pharm:asSpecializedKind", namespaces=NS)) == 1

    vigilance = section(root, VIGILANCE)
    assert xp(vigilance, "h:code/@code") == ["44944-7"]
    assert f"Risque de chute & hypoglycémies {SPECIAL}" in xp(vigilance, ".//h:content/text()")
    assert xp(section(root, LIFESTYLE), ".//h:value[@unit]/@unit") == ["{pack}/a"]
    assert sorted(xp(section(root, FAMILY), ".//h:relatedSubject/h:code/@code")) == ["FTH", "MTH"]
    assert xp(section(root, PROFESSIONAL), ".//h:content/text()") == ["Exposition à l'amiante (couvreur)"]

    # Vital signs: weight, systolic and SpO2 coded (SpO2 as 20564-1 with the recorded code as translation); the
    # height in feet stays in the narrative only.
    signs = section(root, VITALS)
    assert CODED_VITALS in xp(signs, "h:templateId/@root")
    observations = xp(signs, "h:entry/h:organizer/h:component/h:observation")
    assert sorted(xp(signs, "h:entry/h:organizer/h:component/h:observation/h:code/@code")) == [
        "20564-1",
        "29463-7",
        "8480-6",
    ]
    spo2 = next(o for o in observations if xp(o, "h:code/@code") == ["20564-1"])
    assert xp(spo2, "h:code/h:translation/@code") == ["59408-5"]
    assert xp(spo2, "h:value/@unit") == ["%"]
    assert xp(signs, f".//*[@ID='vital-{vitals['height']}']")
    assert not xp(signs, f".//h:reference[@value='#vital-{vitals['height']}']")
    assert b"Supprim" not in xml
    assert_conformant(cda_validator, xml)


def test_non_qualified_identity_partial_birth_date_and_special_characters(  # type: ignore[no-untyped-def]
    cda_validator, practice, author, make_patient
) -> None:
    patient = make_patient(birth_name="PROVISOIRE", first_given_name="JEAN", sex="M", birth_date="00/03/1950")
    patient.medecin_traitant_externe = f"Dr Externe {SPECIAL}"
    patient.save()
    rich_record(patient)
    xml = ips(practice, author, patient)
    root = parse(xml)
    assert not set(xp(root, "//h:patientRole/h:id/@root")) & INS_OIDS
    assert xp(root, "//h:patient/h:birthTime/@value") == ["195003"]
    # An external médecin traitant, known by name only.
    assert xp(root, "//h:participant[@typeCode='INF']//h:family/text()") == [f"Dr Externe {SPECIAL}"]
    assert not xp(root, "/h:ClinicalDocument/h:author/h:functionCode")
    texts = xp(root, "//h:content/text()") + xp(root, "//h:td/text()")
    assert any(SPECIAL in text for text in texts)
    assert_references_resolve(root)
    assert_conformant(cda_validator, xml)


def test_no_known_allergy_differs_from_not_documented(cda_validator, practice, author, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    rec.AllergyStatement.objects.create(patient=patient, none_known=True, asserted_by=author)
    xml = ips(practice, author, patient)
    assert xp(section(parse(xml), ALLERGIES), ".//h:observation/h:value/@code") == ["no-known-allergies"]
    assert_conformant(cda_validator, xml)
    unticked = parse(ips(practice, author, patient, exclude={"allergy:none"}))
    assert xp(section(unticked, ALLERGIES), ".//h:observation/h:value/@code") == ["no-allergy-info"]


def test_vitals_without_a_codable_measure_give_an_uncoded_section(  # type: ignore[no-untyped-def]
    cda_validator, practice, author, make_patient
) -> None:
    patient = make_patient()
    rec.Vital.objects.create(patient=patient, kind=rec.Vital.Kind.HEIGHT, value=Decimal("70"), unit="[ft_i]")
    xml = ips(practice, author, patient)
    signs = section(parse(xml), VITALS)
    assert CODED_VITALS not in xp(signs, "h:templateId/@root")
    assert not xp(signs, "h:entry")
    assert_conformant(cda_validator, xml)


# --- Element keys and exclusions ------------------------------------------------------------------------------


def test_ips_elements_are_the_vsm_ones_plus_vitals(practice, author, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    rich_record(patient)
    vitals = with_vitals(patient)
    summary = record_summary(patient)
    vsm_keys = [e.key for e in vsm_elements(summary)]
    ips_keys = [e.key for e in ips_elements(summary)]
    assert ips_keys[: len(vsm_keys)] == vsm_keys
    extra = {e.key: e for e in ips_elements(summary)[len(vsm_keys) :]}
    assert set(extra) == {f"vital:{pk}" for pk in vitals.values()} | {
        f"vital:{v.pk}" for v in summary.last_vitals if v.kind == rec.Vital.Kind.WEIGHT
    }
    assert {e.section_label for e in extra.values()} == {"Signes vitaux"}
    assert extra[f"vital:{vitals['systolic']}"].text == "Pression artérielle systolique : 135 mmHg — le 15/01/2026"


def test_exclusions_remove_narrative_and_entries(cda_validator, practice, author, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    pks = rich_record(patient)
    vitals = with_vitals(patient)
    full = parse(ips(practice, author, patient))
    excluded = {
        f"allergy:{pks['drug_allergy']}",
        f"problem:{pks['diabetes']}",
        f"treatment:{pks['metformin']}",
        f"history:{pks['surgery']}",
        f"vital:{vitals['spo2']}",
    }
    xml = ips(practice, author, patient, exclude=excluded)
    root = parse(xml)
    for key in excluded:
        anchor = key.replace(":", "-")
        assert xp(full, f"//*[@ID='{anchor}']"), key
        assert not xp(root, f"//*[starts-with(@ID, '{anchor}')]"), key
        assert not xp(root, f"//h:reference[starts-with(@value, '#{anchor}')]"), key
    assert b"Amoxicilline" not in xml and b"METFORMINE" not in xml and b"Appendicectomie" not in xml
    assert "20564-1" not in xp(root, "//h:organizer/h:component/h:observation/h:code/@code")
    assert not root.xpath("//pharm:asSpecializedKind", namespaces=NS)  # only metformin had an ATC code
    assert len(xp(section(root, ALLERGIES), "h:entry")) == len(xp(section(full, ALLERGIES), "h:entry")) - 1
    assert_references_resolve(root)
    assert_conformant(cda_validator, xml)


def test_unticking_everything_keeps_the_required_sections_and_drops_the_optional_ones(  # type: ignore[no-untyped-def]
    cda_validator, practice, author, make_patient
) -> None:
    patient = make_patient()
    rich_record(patient)
    with_vitals(patient)
    everything = {e.key for e in ips_elements(record_summary(patient))}
    xml = ips(practice, author, patient, exclude=everything)
    root = parse(xml)
    assert present(root) == set(REQUIRED)
    assert absent_codes(root) == {
        "no-problem-info",
        "no-procedure-info",
        "no-allergy-info",
        "no-medication-info",
        "no-device-info",
    }
    assert_conformant(cda_validator, xml)


def test_missing_author_data_blocks_the_ips(practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    assert_missing_rpps_blocks(build_ips, ips_problems, practice, doctor, make_patient(), ids=IDS)


def test_entry_ids_are_stable_across_versions(practice, author, make_patient) -> None:  # type: ignore[no-untyped-def]
    next_ids = DocumentIds("1.2.250.1.999.1.1", "201", "1.2.250.1.999.1.1", "200", 2)
    _first, second = two_versions_with_stable_entry_ids(
        build_ips, practice, author, make_patient(), ids=IDS, next_ids=next_ids
    )
    assert xp(second, "//h:relatedDocument[@typeCode='RPLC']/h:parentDocument/h:id/@extension") == ["200"]


# --- The practice setting ---------------------------------------------------------------------------------------


def test_practice_setting_chooses_what_vsm_create_stores(  # type: ignore[no-untyped-def]
    cda_validator, practice, author, make_patient
) -> None:
    patient = make_patient()
    rich_record(patient)
    assert practice.summary_model == Practice.SummaryModel.VSM  # default
    vsm_doc = vsm_create(actor=author, patient=patient)
    assert (vsm_doc.model, vsm_doc.type_code, vsm_doc.title) == ("vsm", "SYNTH", "Volet de synthèse médicale")
    assert xp(parse(bytes(vsm_doc.cda)), "/h:ClinicalDocument/h:templateId/@root")[-1] == codes.TPL_VSM

    practice.summary_model = Practice.SummaryModel.IPS
    practice.save()
    key = next(e.key for e in ips_elements(record_summary(patient)) if e.key.startswith("allergy:"))
    first = vsm_create(actor=author, patient=patient, exclude={key})
    assert (first.model, first.type_code, first.type_code_system) == ("ips", "60591-5", codes.LOINC)
    assert (first.title, first.type_label) == ("Synthèse médicale", "Synthèse médicale")
    assert first.replaces_id is None and first.version_number == 1  # a VSM is not replaced by an IPS-FR
    cda = bytes(first.cda)
    root = parse(cda)
    assert xp(root, "/h:ClinicalDocument/h:code/@code") == ["60591-5"]
    assert not xp(root, f"//*[@ID='{key.replace(':', '-')}']")
    assert first.pdf and bytes(first.pdf).startswith(b"%PDF")
    assert_conformant(cda_validator, cda)
    second = vsm_create(actor=author, patient=patient)
    assert second.replaces_id == first.pk and second.version_number == 2
    assert (second.set_id_root, second.set_id_ext) == (first.set_id_root, first.set_id_ext)
    assert Document.objects.filter(patient=patient, model="vsm").count() == 1


def test_vsm_command_follows_the_practice_setting(  # type: ignore[no-untyped-def]
    cda_validator, practice, author, make_patient, tmp_path
) -> None:
    practice.summary_model = Practice.SummaryModel.IPS
    practice.save()
    patient = make_patient()
    Ald.objects.create(patient=patient, label="Asthme sévère", cim10_codes="J45.9", start=dt.date(2020, 1, 1))
    out = StringIO()
    call_command("vsm", "--ald", "--out-dir", str(tmp_path), stdout=out, stderr=StringIO())
    files = list(tmp_path.iterdir())
    assert len(files) == 1
    assert "1 synthèse(s) médicale(s) IPS-FR écrit(s)" in out.getvalue()
    xml = files[0].read_bytes()
    assert xp(parse(xml), "/h:ClinicalDocument/h:code/@code") == ["60591-5"]
    assert_conformant(cda_validator, xml)
