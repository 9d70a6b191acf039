"""VSM 1.4 (CI-SIS 2022.01) from the clinical record: conformant (XSD + generic profiles + VSM schematron) over a
spread of records, coded entries with narrative references, "none known" distinct from "not documented", and the
validation panel's exclusions removing exactly one element from narrative and entries."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from caducee.accounts.models import User
from caducee.core.oids import INS_OIDS
from caducee.documents.cda import codes
from caducee.documents.cda.header import DocumentIds
from caducee.documents.cda.vsm import build_vsm, vsm_elements, vsm_problems
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

IDS = DocumentIds("1.2.250.1.999.1.1", "100", "1.2.250.1.999.1.1", "100", 1)
ACTIVE = "1.3.6.1.4.1.19376.1.5.3.1.3.6"
MEDICAL = "1.3.6.1.4.1.19376.1.5.3.1.3.8"
SURGICAL = "1.3.6.1.4.1.19376.1.5.3.1.3.12"
ALLERGIES = "1.3.6.1.4.1.19376.1.5.3.1.3.13"
MEDICATIONS = "1.3.6.1.4.1.19376.1.5.3.1.3.19"


def vsm(practice, author, patient, **extra) -> bytes:  # type: ignore[no-untyped-def]
    return build_summary(build_vsm, practice, author, patient, ids=IDS, **extra)


def assert_conformant(validator: CdaValidator, xml: bytes) -> None:
    assert_conformant_volet(validator, xml, "VSM_1.4_2022.01")


def section(root, template: str):  # type: ignore[no-untyped-def]
    found = xp(root, f"//h:section[h:templateId/@root='{template}']")
    assert len(found) == 1, template
    return found[0]


@pytest.fixture
def author(doctor):  # type: ignore[no-untyped-def]
    doctor.first_name, doctor.specialty_code = "Claire", "SM54"
    doctor.save()
    return doctor


def test_empty_record_says_not_documented_everywhere(cda_validator, practice, author, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    summary = record_summary(patient)
    assert summary.is_empty and vsm_elements(summary) == []
    xml = vsm(practice, author, patient)
    root = parse(xml)
    assert absent_codes(root) == {"no-problem-info", "no-procedure-info", "no-allergy-info", "no-medication-info"}
    assert "no-known-allergies" not in absent_codes(root)
    assert xp(root, "/h:ClinicalDocument/h:code/@code") == ["SYNTH"]
    assert xp(root, "/h:ClinicalDocument/h:templateId[@root='1.2.250.1.213.1.1.1.13']/@extension") == ["201310"]
    assert xp(root, "//h:documentationOf/h:serviceEvent/h:code/@code") == ["34117-2"]
    pcp = xp(root, "/h:ClinicalDocument/h:participant[@typeCode='INF']/h:functionCode")[0]
    assert (pcp.get("code"), pcp.get("displayName")) == ("PCP", "Médecin Traitant")
    assert_references_resolve(root)
    assert_conformant(cda_validator, xml)


def test_rich_record_is_coded_and_conformant(cda_validator, practice, author, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient(birth_date="00/00/1950")
    patient.medecin_traitant = author
    patient.address_line, patient.postal_code, patient.city = "3 place Bellecour", "69002", "LYON"
    patient.save()
    practice.address_line, practice.postal_code, practice.city = "12 rue des Tilleuls", "69003", "LYON"
    practice.phone = "0472000000"
    practice.save()
    pks = rich_record(patient)
    xml = vsm(practice, author, patient)
    root = parse(xml)
    assert_references_resolve(root)
    assert xp(root, "//h:patient/h:birthTime/@value") == ["1950"]
    # Médecin traitant: participant with the RPPS, and the author's own functionCode PCP.
    assert xp(root, "//h:participant[@typeCode='INF']/h:associatedEntity/h:id/@extension") == ["889970012345"]
    assert xp(root, "/h:ClinicalDocument/h:author/h:functionCode/@code") == ["PCP"]

    active = section(root, ACTIVE)
    # Diabetes, HTA, uncoded fatigue, heart-failure ALD (2 codes in one concern); the diabetes ALD is not repeated.
    assert len(xp(active, "h:entry/h:act")) == 4
    assert sorted(xp(active, ".//h:observation/h:value/@code")) == ["E11.9", "I10", "I50.0", "I50.1"]
    assert xp(active, ".//h:observation/h:value/@codeSystem")[0] == codes.CIM10
    assert xp(active, "h:entry/h:act/h:statusCode/@code") == ["active"] * 4
    assert not xp(active, "h:entry/h:act/h:effectiveTime/h:high")
    medical = section(root, MEDICAL)
    assert xp(medical, "h:entry/h:act/h:statusCode/@code") == ["completed", "completed"]
    assert xp(medical, f".//h:content[@ID='problem-{pks['resolved']}']/text()") == ["Lombalgie aiguë"]
    surgical = section(root, SURGICAL)
    assert xp(surgical, "h:entry/h:procedure/h:code/@codeSystem") == ["1.2.250.1.215.300.1"]  # CCAM, new OID
    assert xp(surgical, "h:entry/h:procedure/h:code/@code") == ["HHFA001"]
    assert len(xp(surgical, "h:entry/h:procedure")) == 2

    allergies = section(root, ALLERGIES)
    drug = xp(allergies, f".//h:observation[h:id/@root and h:text/h:reference/@value='#allergy-{pks['drug_allergy']}']")
    assert xp(drug[0], "h:code/@code") == ["416098002"]
    assert xp(drug[0], "h:participant[@typeCode='CSM']//h:playingEntity/h:code/@codeSystem") == [codes.CIS]
    assert xp(drug[0], ".//h:observation[h:code/@code='SEV']/h:value/@code") == ["24484000"]
    assert "no-allergy-info" not in absent_codes(root) and "no-known-allergies" not in absent_codes(root)

    medications = section(root, MEDICATIONS)
    metformin_ref = f"#treatment-{pks['metformin']}"
    metformin = xp(medications, f"h:entry/h:substanceAdministration[h:text/h:reference/@value='{metformin_ref}']")[0]
    assert xp(metformin, "h:routeCode/@codeSystem") == [codes.EDQM]
    assert xp(metformin, "h:routeCode/@displayName") == ["Voie orale"]
    assert xp(metformin, "h:doseQuantity/h:low/@unit") == ["{tablet}"]
    assert xp(metformin, ".//h:manufacturedMaterial/h:code/@code") == ["60234100"]
    assert xp(metformin, ".//h:manufacturedMaterial/h:code/h:translation/@codeSystem") == [codes.ATC]
    assert xp(metformin, "h:entryRelationship[@typeCode='RSON']/h:act/h:code/@code") == ["E11.9"]
    # 1000.000 mg is written 1000, without exponent.
    assert "1000" in xp(medications, ".//h:doseQuantity/h:low/@value")
    lifestyle = section(root, "1.3.6.1.4.1.19376.1.5.3.1.3.16.1")
    assert xp(lifestyle, ".//h:value[@unit]/@unit") == ["{pack}/a"]
    family = section(root, "1.3.6.1.4.1.19376.1.5.3.1.3.15")
    assert sorted(xp(family, ".//h:relatedSubject/h:code/@code")) == ["FTH", "MTH"]
    # Soft-deleted entries never reach the VSM; vitals have no VSM 1.4 section.
    assert b"Supprim" not in xml
    assert absent_codes(root) == set()
    assert_conformant(cda_validator, xml)


def test_special_characters_survive_in_free_text(cda_validator, practice, author, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    rich_record(patient)
    root = parse(vsm(practice, author, patient))
    texts = xp(root, "//h:content/text()") + xp(root, "//h:td/text()")
    assert any(SPECIAL in text for text in texts)
    assert f"Risque de chute & hypoglycémies {SPECIAL}" in xp(root, "//h:content/text()")


def test_qualified_identity_sends_the_ins_others_do_not(  # type: ignore[no-untyped-def]
    cda_validator, practice, author, make_patient, settings
) -> None:
    settings.SANDBOX = True
    qualified = qualify(make_patient())
    root = parse(vsm(practice, author, qualified))
    assert xp(root, "//h:patientRole/h:id[1]/@extension") == [TEST_INS]
    assert xp(root, "//h:patientRole/h:id[1]/@root") == [TEST_INS_OID]
    assert_conformant(cda_validator, vsm(practice, author, qualified))

    provisional = make_patient(birth_name="PROVISOIRE", first_given_name="JEAN", sex="M")
    xml = vsm(practice, author, provisional)
    assert not set(xp(parse(xml), "//h:patientRole/h:id/@root")) & INS_OIDS
    assert_conformant(cda_validator, xml)


def test_no_known_allergy_differs_from_not_documented(cda_validator, practice, author, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    unknown = parse(vsm(practice, author, patient))
    rec.AllergyStatement.objects.create(patient=patient, none_known=True, asserted_by=author)
    xml = vsm(practice, author, patient)
    known = parse(xml)
    assert xp(section(unknown, ALLERGIES), ".//h:observation/h:value/@code") == ["no-allergy-info"]
    assert xp(section(known, ALLERGIES), ".//h:observation/h:value/@code") == ["no-known-allergies"]
    assert xp(section(known, ALLERGIES), ".//h:content/text()") == ["Aucune allergie connue."]
    assert xp(section(unknown, ALLERGIES), ".//h:content/text()") == ["Allergies non renseignées."]
    assert [e.key for e in vsm_elements(record_summary(patient))] == ["allergy:none"]
    assert_conformant(cda_validator, xml)
    # Unticking the statement falls back to "not documented", never to "none".
    unticked = parse(vsm(practice, author, patient, exclude={"allergy:none"}))
    assert xp(section(unticked, ALLERGIES), ".//h:observation/h:value/@code") == ["no-allergy-info"]


def test_elements_have_stable_unique_keys(practice, author, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    pks = rich_record(patient)
    elements = vsm_elements(record_summary(patient))
    keys = [e.key for e in elements]
    assert len(keys) == len(set(keys)) == 18
    assert keys == [e.key for e in vsm_elements(record_summary(patient))]
    by_key = {e.key: e for e in elements}
    assert by_key[f"allergy:{pks['drug_allergy']}"].section_label == "Allergies et intolérances"
    assert by_key[f"allergy:{pks['drug_allergy']}"].text.startswith("Allergie médicamenteuse : Amoxicilline")
    assert by_key[f"ald:{pks['heart_ald']}"].section_label == "Pathologies en cours"
    assert Counter(e.section_label for e in elements) == {
        "Pathologies en cours": 4,
        "Antécédents médicaux": 2,
        "Antécédents chirurgicaux": 2,
        "Allergies et intolérances": 2,
        "Habitus, mode de vie": 2,
        "Facteurs de risque professionnels": 1,
        "Antécédents familiaux": 2,
        "Points de vigilance": 1,
        "Traitements au long cours": 2,
    }


def test_exclude_removes_exactly_one_element_from_narrative_and_entries(  # type: ignore[no-untyped-def]
    cda_validator, practice, author, make_patient
) -> None:
    patient = make_patient()
    pks = rich_record(patient)
    full = parse(vsm(practice, author, patient))
    key = f"allergy:{pks['drug_allergy']}"
    xml = vsm(practice, author, patient, exclude={key})
    root = parse(xml)
    anchor = key.replace(":", "-")
    assert xp(full, f"//*[@ID='{anchor}']") and not xp(root, f"//*[@ID='{anchor}']")
    assert not xp(root, f"//h:reference[starts-with(@value, '#{anchor}')]")
    assert b"Amoxicilline" not in xml
    # Everything else is still there: one allergy entry less, every other ID kept.
    assert len(xp(section(root, ALLERGIES), "h:entry")) == len(xp(section(full, ALLERGIES), "h:entry")) - 1
    removed = set(xp(full, "//@ID")) - set(xp(root, "//@ID"))
    assert removed == {anchor, f"{anchor}-agent", f"{anchor}-reaction", f"{anchor}-severity"}
    assert_references_resolve(root)
    assert_conformant(cda_validator, xml)


@pytest.mark.parametrize(
    ("label", "expected"),
    [("Pathologies en cours", "no-problem-info"), ("Traitements au long cours", "no-medication-info")],
)
def test_unticking_a_whole_section_gives_not_documented(  # type: ignore[no-untyped-def]
    cda_validator, practice, author, make_patient, label, expected
) -> None:
    patient = make_patient()
    rich_record(patient)
    keys = {e.key for e in vsm_elements(record_summary(patient)) if e.section_label == label}
    xml = vsm(practice, author, patient, exclude=keys)
    assert absent_codes(parse(xml)) == {expected}
    assert_conformant(cda_validator, xml)


def test_missing_author_data_blocks_the_vsm(practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    assert_missing_rpps_blocks(build_vsm, vsm_problems, practice, doctor, make_patient(), ids=IDS)


def test_entry_ids_are_stable_across_versions(practice, author, make_patient) -> None:  # type: ignore[no-untyped-def]
    next_ids = DocumentIds("1.2.250.1.999.1.1", "101", "1.2.250.1.999.1.1", "100", 2)
    first, _second = two_versions_with_stable_entry_ids(
        build_vsm, practice, author, make_patient(), ids=IDS, next_ids=next_ids
    )
    entry_ids = "//h:entry//h:id/@root"
    assert len(set(xp(first, entry_ids))) == len(xp(first, entry_ids))  # all distinct


# --- caducee vsm --ald --------------------------------------------------------------------------------------------


def test_vsm_command_writes_one_valid_file_per_ald_patient(  # type: ignore[no-untyped-def]
    cda_validator, practice, author, make_patient, tmp_path, settings
) -> None:
    settings.SANDBOX = True
    today = dt.date.today()
    rich = make_patient(birth_name="RICHE")
    rich.medecin_traitant = author
    rich.save()
    rich_record(rich)
    plain = make_patient(birth_name="SIMPLE")  # no médecin traitant: the first médecin signs
    Ald.objects.create(patient=plain, label="Asthme sévère", cim10_codes="J45.9", start=today - dt.timedelta(days=1))
    # Two ALDs in force for one patient: still one file.
    Ald.objects.create(patient=plain, label="Dépression", cim10_codes="F32.9", start=today - dt.timedelta(days=9))
    no_birthplace = qualify(make_patient(birth_name="SANSLIEU"), birthplace="99999")
    Ald.objects.create(patient=no_birthplace, label="Diabète", cim10_codes="E11.9", start=today)
    ended = make_patient(birth_name="FINIE")
    Ald.objects.create(
        patient=ended, label="Cancer", start=today - dt.timedelta(days=900), end=today - dt.timedelta(days=1)
    )
    make_patient(birth_name="SANSALD")

    out, err = StringIO(), StringIO()
    call_command("vsm", "--ald", "--out-dir", str(tmp_path / "D"), stdout=out, stderr=err)
    files = sorted((tmp_path / "D").iterdir())
    assert len(files) == 2
    assert all(f.name.startswith("1.2.250.1.999.1.1^") and f.suffix == ".xml" for f in files)
    assert "2 VSM écrit(s)" in out.getvalue() and "1 patient(s) ignoré(s)" in out.getvalue()
    assert f"Patient {no_birthplace.pk} (SANSLIEU DOMINIQUE) ignoré" in err.getvalue()
    assert "Le lieu de naissance (code COG) du patient est inconnu" in err.getvalue()
    names = set()
    for path in files:
        xml = path.read_bytes()
        root = parse(xml)
        names.add(xp(root, "//h:patient/h:name/h:family[@qualifier='BR']/text()")[0])
        assert xp(root, "/h:ClinicalDocument/h:id/@extension")[0] == path.stem.split("^")[1]
        assert_conformant(cda_validator, xml)
    assert names == {"RICHE", "SIMPLE"}


def test_vsm_command_for_given_patients_and_usage_errors(practice, author, make_patient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    call_command("vsm", "--patient", str(patient.pk), "--out-dir", str(tmp_path), stdout=StringIO())
    assert len(list(tmp_path.glob("*.xml"))) == 1
    assert not list(tmp_path.glob(".vsm-*"))  # no temporary file left behind
    with pytest.raises(CommandError, match="--ald ou --patient"):
        call_command("vsm", "--out-dir", str(tmp_path))
    with pytest.raises(CommandError, match="introuvable"):
        call_command("vsm", "--patient", "999999", "--out-dir", str(tmp_path))


def test_vsm_command_lists_a_medecin_traitant_without_rpps(practice, author, make_patient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    other = User.objects.create_user(username="remplacant", role="medecin", last_name="AUTRE", profession_code="10")
    patient = make_patient()
    patient.medecin_traitant = other
    patient.save()
    Ald.objects.create(patient=patient, label="HTA sévère", cim10_codes="I10", start=dt.date.today())
    err = StringIO()
    call_command("vsm", "--ald", "--out-dir", str(tmp_path), stdout=StringIO(), stderr=err)
    assert "Le numéro RPPS (ou ADELI) de l'auteur Dr AUTRE n'est pas renseigné." in err.getvalue()
    assert not list(tmp_path.iterdir())


def test_official_labels_become_display_names_and_are_cached(practice, author, make_patient) -> None:  # type: ignore[no-untyped-def]
    rec.Concept.objects.create(
        system=codes.CIM10, code="E11.9", label="Diabète sucré de type 2, sans complication", label_key="X"
    )
    patient = make_patient()
    rec.Problem.objects.create(patient=patient, label="DT2", cim10_code="E11.9")
    rec.Problem.objects.create(patient=patient, label="Sans libellé officiel", cim10_code="I10")
    cache: dict[tuple[str, str], str] = {}
    root = parse(vsm(practice, author, patient, label_cache=cache))
    assert xp(section(root, ACTIVE), ".//h:value[@code='E11.9']/@displayName") == [
        "Diabète sucré de type 2, sans complication"
    ]
    assert not xp(section(root, ACTIVE), ".//h:value[@code='I10']/@displayName")
    assert cache == {(codes.CIM10, "E11.9"): "Diabète sucré de type 2, sans complication", (codes.CIM10, "I10"): ""}


def test_the_medecin_traitant_declaration_date_is_the_participant_time(  # type: ignore[no-untyped-def]
    cda_validator, practice, author, make_patient, secretary
) -> None:
    """Issue 13 §1: the VSM carried the médecin traitant's participant time as unknown (`time nullFlavor="UNK"`),
    the record not keeping the declaration. Now the declaration's date is the participant's time/low, as in the CI-SIS
    VSM 1.4 and IPS-FR examples; an outside correspondent comes with his IdNat PS and MSSanté mailbox. Failed before:
    no declaration on the card, and the time always UNK."""
    from caducee.documents.cda.ips import build_ips
    from caducee.patients.correspondents import correspondent_create
    from caducee.patients.services import patient_set_medecin_traitant

    patient = make_patient()
    patient_set_medecin_traitant(
        actor=secretary,
        patient=patient,
        version=patient.version,
        doctor=author,
        since=dt.date(2019, 5, 1),
        declared=True,
        declared_on=dt.date(2019, 6, 12),
    )
    root = parse(xml := vsm(practice, author, patient))
    pcp = "/h:ClinicalDocument/h:participant[@typeCode='INF']"
    assert xp(root, f"{pcp}/h:time/h:low/@value") == ["20190612"]
    assert_conformant(cda_validator, xml)

    # Not declared (yet): the date he has followed the patient since.
    patient_set_medecin_traitant(
        actor=secretary, patient=patient, version=patient.version, doctor=author, since=dt.date(2019, 5, 1)
    )
    assert xp(parse(vsm(practice, author, patient)), f"{pcp}/h:time/h:low/@value") == ["20190501"]

    # An outside correspondent, declared: his IdNat PS, address, mailbox and name.
    leroy = correspondent_create(
        actor=secretary,
        national_id="810001234567",
        civility="Dr",
        family_name="LEROY",
        given_name="Anne",
        address_line="4 place Bellecour",
        postal_code="69002",
        city="LYON",
        mss_address="anne.leroy@demo.mssante.fr",
    )
    patient_set_medecin_traitant(
        actor=secretary,
        patient=patient,
        version=patient.version,
        correspondent=leroy,
        declared=True,
        declared_on=dt.date(2024, 1, 8),
    )
    root = parse(xml := vsm(practice, author, patient))
    assert xp(root, f"{pcp}/h:time/h:low/@value") == ["20240108"]
    entity = f"{pcp}/h:associatedEntity"
    assert xp(root, f"{entity}/h:id/@extension") == ["810001234567"]
    assert xp(root, f"{entity}/h:telecom/@value") == ["mailto:anne.leroy@demo.mssante.fr"]
    assert xp(root, f"{entity}/h:associatedPerson/h:name/h:family/text()") == ["LEROY"]
    assert xp(root, "/h:ClinicalDocument/h:author/h:functionCode") == []  # the author is not the médecin traitant
    assert_conformant(cda_validator, xml)
    ips_xml = build_summary(build_ips, practice, author, patient, ids=IDS)
    assert xp(parse(ips_xml), f"{pcp}/h:time/h:low/@value") == ["20240108"]
    assert_conformant_volet(cda_validator, ips_xml, "IPS-FR_2024.01")

    # Nobody known: unknown, as before.
    patient_set_medecin_traitant(actor=secretary, patient=patient, version=patient.version)
    assert xp(parse(vsm(practice, author, patient)), f"{pcp}/h:time/@nullFlavor") == ["UNK"]


def test_french_dose_units_and_substance_allergies_are_coded_and_conformant(  # type: ignore[no-untyped-def]
    cda_validator, practice, author, make_patient
) -> None:
    """Issue 13 §2: a dose typed « cp » is stored {tablet}, read « 2 comprimés » in the narrative (before the fix:
    « 2 {tablet} », and « {comprimé} » rows went out as such), sent as UCUM {tablet} (terminologie.sch
    is-code-ucum-exist); a substance allergy carries its ATC code. The whole VSM passes the schematrons."""
    from decimal import Decimal

    from caducee.record import services

    patient = make_patient()
    typed = services.treatment_create(
        actor=author, patient=patient, drug_label="Metformine", dose_quantity=Decimal(2), dose_unit="cp"
    )
    old = rec.LongTermTreatment.objects.create(
        patient=patient, drug_label="Kardégic", dose_quantity=Decimal(1), dose_unit="{comprimé}"
    )
    allergy = rec.Allergy.objects.create(
        patient=patient, agent_kind=rec.Allergy.AgentKind.SUBSTANCE, agent_label="pénicillines", agent_code="J01C"
    )
    xml = vsm(practice, author, patient)
    root = parse(xml)
    medications = section(root, MEDICATIONS)
    narrative = "".join(medications.find("{urn:hl7-org:v3}text").itertext())
    assert "2 comprimés" in narrative and "1 comprimé" in narrative and "{" not in narrative
    for pk in (typed.pk, old.pk):
        entry = xp(medications, f"h:entry/h:substanceAdministration[h:text/h:reference/@value='#treatment-{pk}']")[0]
        assert xp(entry, "h:doseQuantity/h:low/@unit") == ["{tablet}"]
    allergies = section(root, ALLERGIES)
    agent = xp(
        allergies, f".//h:observation[h:text/h:reference/@value='#allergy-{allergy.pk}']//h:playingEntity/h:code"
    )
    assert agent[0].get("code") == "J01C" and agent[0].get("codeSystem") == codes.ATC
    assert_conformant(cda_validator, xml)
