"""record_summary (what the VSM is built from) and record_changed_since (pre-ticks "mettre à jour le VSM")."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from caducee.record import services
from caducee.record.models import History, Vital
from caducee.record.selectors import record_changed_since, record_summary

pytestmark = pytest.mark.django_db


def _rich_record(doctor, patient, *, n: int = 1) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        services.problem_create(actor=doctor, patient=patient, label=f"Problème {i}", onset=date(2020, 1, 1 + i % 28))
        services.problem_create(actor=doctor, patient=patient, label=f"Ancien {i}", status="resolved")
        services.history_create(actor=doctor, patient=patient, kind="medical", label=f"Antécédent {i}")
        services.history_create(actor=doctor, patient=patient, kind="surgical", label=f"Chirurgie {i}")
        services.family_history_create(actor=doctor, patient=patient, relation="FTH", label=f"Familial {i}")
        services.allergy_create(actor=doctor, patient=patient, agent_kind="other", agent_label=f"Agent {i}")
        services.professional_risk_create(actor=doctor, patient=patient, label=f"Risque {i}")
        services.lifestyle_create(actor=doctor, patient=patient, kind="74013-4", value=f"{i} verres par semaine")
        services.vigilance_point_create(actor=doctor, patient=patient, text=f"Vigilance {i}")
        services.treatment_create(actor=doctor, patient=patient, drug_label=f"Médicament {i}", start=date(2021, 1, 1))
        services.vital_record(
            actor=doctor, patient=patient, weight_kg=Decimal(70 + i), height_cm=Decimal(170),
            measured_at=timezone.now() - timedelta(days=n - i),
        )  # fmt: skip
        services.ald_create(actor=doctor, patient=patient, label=f"ALD {i}", start=date(2019, 1, 1))


def test_summary_lists_every_category(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    _rich_record(doctor, patient)
    s = record_summary(patient)
    assert [p.label for p in s.active_problems] == ["Problème 0"]
    assert [p.label for p in s.resolved_problems] == ["Ancien 0"]
    assert [h.label for h in s.medical_history] == ["Antécédent 0"]
    assert [h.label for h in s.surgical_history] == ["Chirurgie 0"]
    assert all(h.kind == History.Kind.SURGICAL for h in s.surgical_history)
    assert [f.label for f in s.family_history] == ["Familial 0"]
    assert [a.agent_label for a in s.allergies] == ["Agent 0"] and s.allergy_status == "present"
    assert [r.label for r in s.professional_risks] == ["Risque 0"]
    assert [x.value for x in s.lifestyle] == ["0 verres par semaine"]
    assert [v.text for v in s.vigilance_points] == ["Vigilance 0"]
    assert [t.drug_label for t in s.treatments] == ["Médicament 0"]
    assert [v.kind for v in s.last_vitals] == [Vital.Kind.WEIGHT, Vital.Kind.HEIGHT, Vital.Kind.BMI]
    assert s.vital(Vital.Kind.BMI).value == Decimal("24.2")  # type: ignore[union-attr]
    assert [a.label for a in s.alds] == ["ALD 0"] and s.is_ald and not s.is_empty
    assert s.active_problems[0].created_by == doctor


def test_empty_record(patient) -> None:  # type: ignore[no-untyped-def]
    s = record_summary(patient)
    assert s.is_empty and not s.is_ald and s.allergy_status == "unknown" and s.allergy_statement is None


def test_summary_keeps_only_the_last_vital_of_each_kind(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    now = timezone.now()
    services.vital_record(actor=doctor, patient=patient, weight_kg=Decimal(90), measured_at=now - timedelta(days=90))
    services.vital_record(actor=doctor, patient=patient, weight_kg=Decimal(85), measured_at=now - timedelta(days=2))
    services.vital_record(actor=doctor, patient=patient, systolic=Decimal(150), diastolic=Decimal(95), measured_at=now)
    latest = services.vital_record(
        actor=doctor, patient=patient, weight_kg=Decimal(80), measured_at=now - timedelta(days=1)
    )
    services.vital_delete(actor=doctor, vital=latest[0])  # a mistaken measure falls back to the previous one
    s = record_summary(patient)
    assert {v.kind: v.value for v in s.last_vitals} == {
        Vital.Kind.WEIGHT: Decimal(85),
        Vital.Kind.SYSTOLIC: Decimal(150),
        Vital.Kind.DIASTOLIC: Decimal(95),
    }


def test_ended_ald_and_future_treatment_are_not_current(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    services.ald_create(actor=doctor, patient=patient, label="Ancienne", start=date(2010, 1, 1), end=date(2015, 1, 1))
    services.treatment_create(actor=doctor, patient=patient, drug_label="Futur", start=today + timedelta(days=10))
    s = record_summary(patient)
    assert s.alds == () and s.treatments == ()
    assert [t.drug_label for t in record_summary(patient, on=today + timedelta(days=11)).treatments] == ["Futur"]


@pytest.mark.parametrize("entries", [1, 12])
def test_summary_query_count_does_not_grow_with_the_record(
    doctor, patient, django_assert_max_num_queries, entries
) -> None:  # type: ignore[no-untyped-def]
    _rich_record(doctor, patient, n=entries)
    with django_assert_max_num_queries(11):
        s = record_summary(patient)
        # Reading what the VSM builder reads must not query again (authors are joined).
        authors = {e.created_by.username for e in (*s.active_problems, *s.treatments, *s.allergies) if e.created_by}
    assert authors == {"medecin"} and len(s.active_problems) == entries


def test_record_changed_since(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    assert not record_changed_since(patient, None)
    before = timezone.now()
    problem = services.problem_create(actor=doctor, patient=patient, label="HTA")
    assert record_changed_since(patient, before) and record_changed_since(patient, None)
    checkpoint = timezone.now()
    assert not record_changed_since(patient, checkpoint)
    services.problem_delete(actor=doctor, problem=problem)  # a deletion is a change of the summary too
    assert record_changed_since(patient, checkpoint)
