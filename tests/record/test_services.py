"""Record services: every change dated, attributed, kept (RecordHistory) and audited; secretary refused."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from caducee.core.models import AuditEvent
from caducee.patients.models import Ald
from caducee.record import services
from caducee.record.models import Allergy, AllergyStatement, LongTermTreatment, Problem, RecordHistory, Vital
from caducee.record.selectors import record_summary

pytestmark = pytest.mark.django_db


def test_create_update_delete_keep_every_version_with_author_and_audit(doctor, patient, concepts) -> None:  # type: ignore[no-untyped-def]
    problem = services.problem_create(actor=doctor, patient=patient, cim10_code="e11", onset=date(2015, 3, 1))
    assert (problem.cim10_code, problem.label) == ("E11", "Diabète sucré de type 2")  # label from CIM-10
    assert problem.created_by == doctor

    services.problem_update(actor=doctor, problem=problem, label="Diabète de type 2 sous ADO")
    services.problem_delete(actor=doctor, problem=problem)

    problem.refresh_from_db()
    assert problem.deleted_at is not None  # soft delete: the row stays
    rows = list(RecordHistory.objects.filter(entry_type="problem", entry_id=problem.pk).order_by("id"))
    assert [r.action for r in rows] == ["create", "update", "delete"]
    assert all(r.by == doctor and r.patient_id == patient.pk for r in rows)
    assert rows[0].data["label"] == "Diabète sucré de type 2" and rows[0].data["onset"] == "2015-03-01"
    assert rows[1].data["label"] == "Diabète de type 2 sous ADO"
    assert rows[2].data["deleted_at"] is not None
    actions = list(AuditEvent.objects.filter(object_type="problem").order_by("id").values_list("action", "actor"))
    assert actions == [
        ("record.problem.create", doctor.pk),
        ("record.problem.update", doctor.pk),
        ("record.problem.delete", doctor.pk),
    ]
    assert record_summary(patient).active_problems == ()


def test_delete_twice_traces_once(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    point = services.vigilance_point_create(actor=doctor, patient=patient, text="  Risque de chute  ")
    assert point.text == "Risque de chute"
    services.vigilance_point_delete(actor=doctor, vigilance_point=point)
    services.vigilance_point_delete(actor=doctor, vigilance_point=point)
    assert RecordHistory.objects.filter(entry_type="vigilance_point", action="delete").count() == 1


def test_deleted_entry_cannot_be_updated(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    risk = services.professional_risk_create(actor=doctor, patient=patient, label="Exposition à l'amiante")
    services.professional_risk_delete(actor=doctor, professional_risk=risk)
    with pytest.raises(ValidationError):
        services.professional_risk_update(actor=doctor, professional_risk=risk, label="Amiante")


def test_only_editable_fields_can_change(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    problem = services.problem_create(actor=doctor, patient=patient, label="Lombalgie")
    with pytest.raises(ValueError, match="patient"):
        services.problem_update(actor=doctor, problem=problem, patient=None)


@pytest.mark.parametrize(
    "call",
    [
        lambda u, p: services.problem_create(actor=u, patient=p, label="HTA"),
        lambda u, p: services.history_create(actor=u, patient=p, kind="surgical", label="Appendicectomie"),
        lambda u, p: services.family_history_create(actor=u, patient=p, relation="MTH", label="Diabète"),
        lambda u, p: services.allergy_create(actor=u, patient=p, agent_kind="drug", agent_label="Pénicilline"),
        lambda u, p: services.allergy_none_known(actor=u, patient=p),
        lambda u, p: services.professional_risk_create(actor=u, patient=p, label="Bruit"),
        lambda u, p: services.lifestyle_create(actor=u, patient=p, kind="72166-2", value="Non-fumeur"),
        lambda u, p: services.vigilance_point_create(actor=u, patient=p, text="Chutes"),
        lambda u, p: services.treatment_create(actor=u, patient=p, drug_label="Metformine", dose_quantity=1),
        lambda u, p: services.vital_record(actor=u, patient=p, weight_kg=Decimal(70)),
        lambda u, p: services.ald_create(actor=u, patient=p, label="Diabète", start=date(2020, 1, 1)),
    ],
)
def test_secretary_is_refused_with_no_side_effect(secretary, patient, call) -> None:  # type: ignore[no-untyped-def]
    audit_before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        call(secretary, patient)
    assert not RecordHistory.objects.exists()
    assert AuditEvent.objects.count() == audit_before
    assert not Problem.objects.exists() and not Allergy.objects.exists() and not Vital.objects.exists()
    assert not AllergyStatement.objects.exists() and not Ald.objects.exists()


def test_secretary_cannot_delete_a_doctors_entry(doctor, secretary, patient) -> None:  # type: ignore[no-untyped-def]
    problem = services.problem_create(actor=doctor, patient=patient, label="HTA")
    with pytest.raises(PermissionDenied):
        services.problem_delete(actor=secretary, problem=problem)
    problem.refresh_from_db()
    assert problem.deleted_at is None
    assert RecordHistory.objects.count() == 1


def test_unknown_code_is_refused_when_the_terminology_is_loaded(doctor, patient, concepts) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as exc:
        services.problem_create(actor=doctor, patient=patient, cim10_code="E99.99", label="?")
    assert "inconnu" in str(exc.value)
    with pytest.raises(ValidationError):
        services.treatment_create(actor=doctor, patient=patient, drug_label="X", route_code="99999999")
    assert not RecordHistory.objects.exists()


def test_free_text_problem_needs_a_label(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as exc:
        services.problem_create(actor=doctor, patient=patient)
    assert "label" in exc.value.message_dict


def test_resolving_a_problem_dates_it(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    problem = services.problem_create(actor=doctor, patient=patient, label="Sciatique", onset=date(2024, 1, 5))
    resolved = services.problem_resolve(actor=doctor, problem=problem)
    assert resolved.status == Problem.Status.RESOLVED and resolved.resolved_on == timezone.localdate()
    summary = record_summary(patient)
    assert summary.active_problems == () and [p.label for p in summary.resolved_problems] == ["Sciatique"]


def test_treatment_codes_fill_the_label_and_are_checked(doctor, patient, concepts) -> None:  # type: ignore[no-untyped-def]
    treatment = services.treatment_create(
        actor=doctor,
        patient=patient,
        cis_code="69065160",
        atc_code="a10ba02",
        dose_quantity=Decimal("1000"),
        dose_unit="mg",
        route_code="20053000",
        frequency="1 comprimé matin et soir",
        start=date(2020, 5, 1),
        reason_cim10="E11",
    )
    assert treatment.drug_label == "METFORMINE ALMUS 1000 mg, comprimé pelliculé"
    assert treatment.atc_code == "A10BA02" and treatment.reason_label == "Diabète sucré de type 2"
    with pytest.raises(ValidationError, match="unité"):
        services.treatment_create(actor=doctor, patient=patient, drug_label="Metformine", dose_quantity=Decimal(1))


def test_stopped_treatment_leaves_the_summary_but_stays_in_history(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    treatment = services.treatment_create(actor=doctor, patient=patient, drug_label="Ramipril 5 mg")
    services.treatment_stop(actor=doctor, treatment=treatment, end=timezone.localdate() - timedelta(days=1))
    assert record_summary(patient).treatments == ()
    assert LongTermTreatment.objects.get().end is not None
    assert RecordHistory.objects.filter(entry_type="treatment").count() == 2


# --- vitals and BMI ------------------------------------------------------------------------------


def test_bmi_is_computed_when_weight_and_height_are_known(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    written = services.vital_record(
        actor=doctor, patient=patient, weight_kg=Decimal("82.5"), height_cm=Decimal("175"), systolic=Decimal(135),
        diastolic=Decimal(85),
    )  # fmt: skip
    by_kind = {v.kind: v for v in written}
    assert by_kind[Vital.Kind.BMI].value == Decimal("26.9")  # 82.5 / 1.75² = 26.94
    assert by_kind[Vital.Kind.BMI].unit == "kg/m2" and by_kind[Vital.Kind.SYSTOLIC].unit == "mm[Hg]"
    assert len({v.measured_at for v in written}) == 1
    assert RecordHistory.objects.filter(entry_type="vital", action="create").count() == 5


def test_bmi_reuses_a_recent_height_but_not_an_old_one(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    now = timezone.now()
    services.vital_record(actor=doctor, patient=patient, height_cm=Decimal(160), measured_at=now - timedelta(days=400))
    first = services.vital_record(
        actor=doctor, patient=patient, weight_kg=Decimal(64), measured_at=now - timedelta(days=1)
    )
    assert [v.kind for v in first] == [Vital.Kind.WEIGHT]  # the height is too old to trust
    services.vital_record(actor=doctor, patient=patient, height_cm=Decimal(160), measured_at=now - timedelta(days=30))
    second = services.vital_record(actor=doctor, patient=patient, weight_kg=Decimal(64))
    assert {v.kind: v.value for v in second}[Vital.Kind.BMI] == Decimal("25.0")


def test_no_bmi_without_height(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    written = services.vital_record(actor=doctor, patient=patient, weight_kg=Decimal(70))
    assert [v.kind for v in written] == [Vital.Kind.WEIGHT]


def test_implausible_vitals_are_refused_and_nothing_is_written(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as exc:
        services.vital_record(actor=doctor, patient=patient, weight_kg=Decimal(70000), height_cm=Decimal("1.75"))
    assert set(exc.value.message_dict) == {Vital.Kind.WEIGHT, Vital.Kind.HEIGHT}
    with pytest.raises(ValidationError):
        services.vital_record(actor=doctor, patient=patient, systolic=Decimal(80), diastolic=Decimal(120))
    with pytest.raises(ValidationError):
        services.vital_record(actor=doctor, patient=patient, systolic=Decimal(120))
    assert not Vital.objects.exists() and not RecordHistory.objects.exists()


# --- allergies: none known vs unknown --------------------------------------------------------------


def test_allergy_status_unknown_until_asserted(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    assert record_summary(patient).allergy_status == "unknown"
    statement = services.allergy_none_known(actor=doctor, patient=patient)
    assert statement.none_known and statement.asserted_by == doctor
    summary = record_summary(patient)
    assert summary.allergy_status == "none_known" and summary.allergies == ()
    assert RecordHistory.objects.filter(entry_type="allergy_statement").count() == 1
    assert AuditEvent.objects.filter(action="record.allergy_statement.update").count() == 1


def test_none_known_is_refused_while_an_allergy_exists(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    allergy = services.allergy_create(
        actor=doctor, patient=patient, agent_kind="drug", agent_label="Pénicilline", reaction="Urticaire", severity="M"
    )
    with pytest.raises(ValidationError, match="aucune allergie connue"):
        services.allergy_none_known(actor=doctor, patient=patient)
    assert record_summary(patient).allergy_status == "present"
    services.allergy_delete(actor=doctor, allergy=allergy)
    services.allergy_none_known(actor=doctor, patient=patient)
    assert record_summary(patient).allergy_status == "none_known"


def test_a_new_allergy_withdraws_none_known(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    services.allergy_none_known(actor=doctor, patient=patient)
    services.allergy_create(actor=doctor, patient=patient, agent_kind="substance", agent_label="Latex")
    assert AllergyStatement.objects.get(patient=patient).none_known is False
    assert record_summary(patient).allergy_status == "present"
    services.allergy_delete(actor=doctor, allergy=Allergy.objects.get())
    assert record_summary(patient).allergy_status == "unknown"  # deleting the allergy does not mean "none"


# --- ALD -----------------------------------------------------------------------------------------


def test_ald_codes_are_cleaned_checked_and_traced(doctor, patient, concepts) -> None:  # type: ignore[no-untyped-def]
    ald = services.ald_create(
        actor=doctor, patient=patient, label="Diabète", cim10_codes="e11, I10", start=date(2019, 4, 2)
    )
    assert ald.cim10_codes == "E11 I10"
    with pytest.raises(ValidationError):
        services.ald_create(actor=doctor, patient=patient, label="X", cim10_codes="Q99.99", start=date(2019, 4, 2))
    services.ald_update(actor=doctor, ald=ald, end=date(2024, 1, 1))
    services.ald_delete(actor=doctor, ald=ald)
    assert not Ald.objects.exists()
    actions = list(RecordHistory.objects.filter(entry_type="ald").order_by("id").values_list("action", flat=True))
    assert actions == ["create", "update", "delete"]
    assert RecordHistory.objects.filter(entry_type="ald", action="delete").get().data["end"] == "2024-01-01"
