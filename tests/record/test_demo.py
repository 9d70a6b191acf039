"""Demo clinical records: rich, coherent, coded, at least 10 ALD patients, idempotent."""

from __future__ import annotations

import pytest

from caducee.cabinet.demo import seed_demo
from caducee.patients.models import Ald, Patient
from caducee.record.demo import seed_record_demo
from caducee.record.models import Allergy, LongTermTreatment, RecordHistory
from caducee.record.selectors import record_summary

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("synthetic", [0, 30])
def test_demo_records(synthetic: int) -> None:
    result = seed_demo(synthetic_patients=synthetic)  # seed_demo loads the record demo too
    assert result["records"] == 14
    ald_patients = Patient.objects.filter(alds__isnull=False).distinct()
    assert ald_patients.count() >= 10
    statuses = {}
    for patient in Patient.objects.filter(pk__in=RecordHistory.objects.values("patient_id")):
        summary = record_summary(patient)
        statuses[f"{patient.identity.birth_name} {patient.identity.first_given_name}"] = summary.allergy_status
        if summary.is_ald:  # an ALD patient has the problem and a treatment for it
            assert summary.active_problems and summary.treatments and summary.last_vitals
    assert statuses["ADRUN ZOE"] == "none_known"
    assert statuses["ADRTROIS TOUSSAINT"] == "present"
    assert statuses["ECETINSI PIERRE-ALAIN"] == "unknown"
    penicillin = Allergy.objects.get(patient__identity__birth_name="ADRTROIS", agent_code="69118175")
    assert penicillin.severity == "H"
    metformine = LongTermTreatment.objects.filter(cis_code="61052830").first()
    assert metformine is not None
    assert (metformine.atc_code, metformine.route_code, metformine.dose_unit) == ("A10BA02", "20053000", "mg")
    assert metformine.drug_label.startswith("GLUCOPHAGE 1000 mg")  # label from the CIS terminology
    assert Ald.objects.filter(cim10_codes="E11").exists()
    # Idempotent: a second run writes nothing and keeps the same ALD patients.
    count = RecordHistory.objects.count()
    assert seed_record_demo() == 0 and RecordHistory.objects.count() == count
    assert Patient.objects.filter(alds__isnull=False).distinct().count() == ald_patients.count()
