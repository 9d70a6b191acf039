"""Test records and XML checks shared by the CDA builder tests (header, N1, VSM, IPS-FR, `caducee vsm`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree

from caducee.accounts.models import Practice, User
from caducee.documents.cda import codes
from caducee.documents.cda.header import DocumentIds, MissingDataError
from caducee.documents.production import SummaryBuilder
from caducee.documents.validation import CdaValidator
from caducee.identity.models import Status
from caducee.patients.models import Ald, Patient
from caducee.record import models as rec
from caducee.record.selectors import record_summary

NS = {"h": "urn:hl7-org:v3", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
# A CNDA test INS (OID 1.2.250.1.213.1.4.10 = NIR de test): only sent while settings.SANDBOX is on (R28 gate).
TEST_INS = "297022A02012345"
TEST_INS_OID = "1.2.250.1.213.1.4.10"
SPECIAL = "<&>\"' éèàçœ"
# effectiveTime of the summaries built by the tests.
WHEN = dt.datetime(2026, 2, 3, 9, 0, tzinfo=dt.UTC)


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def xp(root: etree._Element, path: str) -> list:  # type: ignore[type-arg]
    return root.xpath(path, namespaces=NS)  # type: ignore[return-value]


def qualify(patient: Patient, *, birthplace: str | None = None) -> Patient:
    """Make the identity QUAL with a test INS (status set directly: the INSi path is tested elsewhere)."""
    identity = patient.identity
    identity.status = Status.QUAL
    identity.ins_matricule = TEST_INS
    identity.ins_oid = TEST_INS_OID
    if birthplace is not None:
        identity.birthplace_cog = birthplace
    identity.save()
    return patient


def assert_references_resolve(root: etree._Element) -> None:
    """Every `reference/@value` "#ID" of an entry points to an ID of the narrative (CI-SIS originalText rule)."""
    ids = set(xp(root, "//@ID"))
    refs = [value[1:] for value in xp(root, "//h:reference/@value")]
    assert refs, "no reference at all"
    missing = sorted({ref for ref in refs if ref not in ids})
    assert not missing, f"references without narrative target: {missing}"
    assert len(ids) == len(xp(root, "//@ID")), "duplicate narrative IDs"


def build_summary(
    build: SummaryBuilder, practice: Practice, author: User, patient: Patient, *, ids: DocumentIds, **extra: Any
) -> bytes:
    """`build` (build_vsm / build_ips) for the patient's record, at WHEN."""
    return build(
        summary=record_summary(patient), ids=ids, practice=practice, author=author, effective_time=WHEN, **extra
    )


def assert_conformant_volet(validator: CdaValidator, xml: bytes, volet: str) -> None:
    """Valid (XSD, generic profiles and the volet's schematron), without warning, recognised as `volet`."""
    report = validator.validate(xml)
    assert report.is_valid, report.format()
    assert not report.warnings, report.format()
    assert report.volets == [volet]


def absent_codes(root: etree._Element) -> set[str]:
    """The CI-SIS "absent or unknown" codes the document carries (no-problem-info…)."""
    return set(xp(root, f"//*[@codeSystem='{codes.IPS_ABSENT_UNKNOWN}']/@code"))


def assert_missing_rpps_blocks(
    build: SummaryBuilder, problems: Any, practice: Practice, doctor: User, patient: Patient, *, ids: DocumentIds
) -> None:
    """An author without RPPS: `problems` says so in French and `build` builds nothing (MissingDataError)."""
    doctor.rpps = ""
    doctor.save()
    summary = record_summary(patient)
    assert problems(summary=summary, practice=practice, author=doctor) == [
        "Le numéro RPPS (ou ADELI) de l'auteur Dr MEDECIN n'est pas renseigné."
    ]
    with pytest.raises(MissingDataError):
        build(summary=summary, ids=ids, practice=practice, author=doctor, effective_time=WHEN)


def two_versions_with_stable_entry_ids(
    build: SummaryBuilder,
    practice: Practice,
    author: User,
    patient: Patient,
    *,
    ids: DocumentIds,
    next_ids: DocumentIds,
) -> tuple[etree._Element, etree._Element]:
    """A rich record built twice (`next_ids` replacing `ids`, a month later): the entry ids do not change.
    Returns both documents."""
    rich_record(patient)
    first = parse(build_summary(build, practice, author, patient, ids=ids))
    second = parse(
        build(
            summary=record_summary(patient),
            ids=next_ids,
            practice=practice,
            author=author,
            effective_time=WHEN + dt.timedelta(days=30),
            replaces=ids,
        )
    )
    entry_ids = "//h:entry//h:id/@root"
    assert xp(first, entry_ids) == xp(second, entry_ids)
    return first, second


def rich_record(patient: Patient) -> dict[str, int]:
    """A full record with every kind of entry (and special characters in free text). Returns some pks."""
    day = dt.date
    diabetes = rec.Problem.objects.create(
        patient=patient, label=f"Diabète de type 2 {SPECIAL}", cim10_code="E11.9", onset=day(2015, 3, 2)
    )
    rec.Problem.objects.create(patient=patient, label="Hypertension artérielle", cim10_code="I10")
    rec.Problem.objects.create(patient=patient, label="Fatigue chronique (non codée)")
    resolved = rec.Problem.objects.create(
        patient=patient,
        label="Lombalgie aiguë",
        cim10_code="M54.5",
        status=rec.Problem.Status.RESOLVED,
        onset=day(2019, 1, 10),
        resolved_on=day(2019, 3, 1),
    )
    rec.Problem.objects.create(patient=patient, label="Supprimé", deleted_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    rec.History.objects.create(
        patient=patient, kind=rec.History.Kind.MEDICAL, label="Pneumopathie", cim10_code="J18.9", date=day(2010, 5, 1)
    )
    surgery = rec.History.objects.create(
        patient=patient,
        kind=rec.History.Kind.SURGICAL,
        label="Appendicectomie",
        ccam_code="HHFA001",
        date=day(1990, 6, 1),
    )
    rec.History.objects.create(patient=patient, kind=rec.History.Kind.SURGICAL, label="Amygdalectomie (enfance)")
    rec.FamilyHistory.objects.create(patient=patient, relation="MTH", label="Cancer du sein", cim10_code="C50.9")
    rec.FamilyHistory.objects.create(patient=patient, relation="FTH", label="Infarctus à 50 ans")
    drug_allergy = rec.Allergy.objects.create(
        patient=patient,
        agent_kind=rec.Allergy.AgentKind.DRUG,
        agent_label="Amoxicilline",
        agent_code="60234100",
        reaction=f"Urticaire géante {SPECIAL}",
        severity=rec.Allergy.Severity.HIGH,
        onset=day(2001, 1, 1),
    )
    food = rec.Allergy.objects.create(
        patient=patient, agent_kind=rec.Allergy.AgentKind.SUBSTANCE, agent_label="Arachide", is_intolerance=True
    )
    rec.ProfessionalRisk.objects.create(patient=patient, label="Exposition à l'amiante (couvreur)")
    rec.Lifestyle.objects.create(
        patient=patient, kind=rec.Lifestyle.Kind.TOBACCO_PACKS, value="", quantity=Decimal("25"), unit="{pack}/a"
    )
    rec.Lifestyle.objects.create(patient=patient, kind=rec.Lifestyle.Kind.ALCOHOL, value="Occasionnel, < 2 verres")
    rec.VigilancePoint.objects.create(patient=patient, text=f"Risque de chute & hypoglycémies {SPECIAL}")
    metformin = rec.LongTermTreatment.objects.create(
        patient=patient,
        drug_label="METFORMINE 1000 mg, comprimé pelliculé",
        cis_code="60234100",
        atc_code="A10BA02",
        dose_quantity=Decimal("1"),
        dose_unit="{tablet}",
        route_code="20053000",
        frequency="matin et soir",
        start=day(2015, 3, 2),
        reason_label="Diabète de type 2",
        reason_cim10="E11.9",
    )
    rec.LongTermTreatment.objects.create(
        patient=patient,
        drug_label="Paracétamol",
        dose_quantity=Decimal("1000.000"),
        dose_unit="mg",
        reason_label="Douleurs",
    )
    # The first ALD duplicates the diabetes problem (E11.9): one line only. The second has two codes.
    Ald.objects.create(patient=patient, label="Diabète", cim10_codes="E11.9", start=day(2015, 4, 1))
    heart = Ald.objects.create(
        patient=patient, label="Insuffisance cardiaque", cim10_codes="I50.0 I50.1", start=day(2016, 4, 1)
    )
    rec.Vital.objects.create(patient=patient, kind=rec.Vital.Kind.WEIGHT, value=Decimal("82.5"), unit="kg")
    return {
        "diabetes": diabetes.pk,
        "resolved": resolved.pk,
        "surgery": surgery.pk,
        "drug_allergy": drug_allergy.pk,
        "food_allergy": food.pk,
        "metformin": metformin.pk,
        "heart_ald": heart.pk,
    }
