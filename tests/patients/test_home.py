"""Issue 13 §1: « patients du jour / récents » on each user's home page — the patients this user opened lately,
read from the audit trail of chart openings through the (actor, action, at) index and bounded in time and count; the
patients of the day: opened or consulted today by this user. Failed before: the home page had the search only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from caducee.core.models import AuditEvent
from caducee.patients.selectors import OPEN_ACTION, opened_patients, recent_patients, todays_patients

pytestmark = pytest.mark.django_db


def _opened(user: Any, patient: Any, *, days_ago: float = 0, action: str = OPEN_ACTION) -> None:
    """An audit row as `audit_record` writes it, dated `days_ago` (the trail is append-only: dated at creation)."""
    AuditEvent.objects.create(
        actor=user,
        actor_label=user.get_username(),
        action=action,
        object_type="patient",
        object_id=str(patient.pk),
        patient_id=patient.pk,
        at=timezone.now() - dt.timedelta(days=days_ago),
    )


def test_each_user_sees_the_patients_they_opened(
    client: Client, secretary: Any, doctor: Any, make_patient: Any
) -> None:
    a = make_patient(birth_name="ALPHA")
    b = make_patient(birth_name="BRAVO")
    c = make_patient(birth_name="CHARLIE")
    old = make_patient(birth_name="ANCIEN")
    client.force_login(doctor)
    for patient in (a, b, a):
        assert client.get(f"/patients/{patient.pk}/").status_code == 200
    _opened(doctor, c, days_ago=3)
    _opened(doctor, old, days_ago=45)  # beyond the 30 days
    _opened(doctor, b, days_ago=1, action="consultation.open")  # not an opening of the chart: only "du jour" counts it
    _opened(secretary, c)  # another user's

    assert [p.birth_name for p, _ in [(p.identity, at) for p, at in recent_patients(doctor)]] == [
        "ALPHA",
        "BRAVO",
        "CHARLIE",
    ]
    today = todays_patients(doctor)
    assert [row.patient.identity.birth_name for row in today] == ["ALPHA", "BRAVO"]
    assert [p.identity.birth_name for p, _ in recent_patients(secretary)] == ["CHARLIE"]

    page = client.get("/").content.decode()
    today_html = page[page.index('data-testid="today"') : page.index('id="h-recent"')]
    recent_html = page[page.index('data-testid="recent"') :]
    assert "ALPHA" in today_html and "BRAVO" in today_html and "CHARLIE" not in today_html
    assert "CHARLIE" in recent_html and "ALPHA" not in recent_html  # today's are not listed twice
    assert "ANCIEN" not in page


def test_a_consultation_of_the_day_puts_the_patient_on_the_list(doctor: Any, make_patient: Any) -> None:
    from caducee.record.consultations import consultation_open

    patient = make_patient()
    consultation_open(actor=doctor, patient=patient)
    (row,) = todays_patients(doctor)
    assert row.patient == patient and row.consulted
    _opened(doctor, make_patient(birth_name="HIER"), days_ago=1)
    assert [r.patient for r in todays_patients(doctor)] == [patient]


def test_the_lists_are_bounded_and_read_through_the_index(
    client: Client, doctor: Any, make_patient: Any, django_assert_max_num_queries: Any
) -> None:
    patients = [make_patient(birth_name="P" + "ABCDEFGHIJKLMNO"[i]) for i in range(15)]
    for patient in patients:
        _opened(doctor, patient, days_ago=2)
    assert len(recent_patients(doctor)) == 10
    client.force_login(doctor)
    client.get("/")
    # session, user, the day's list + its patients, the recent list + its patients, top bar (unread messages,
    # replacement banner), session save
    with django_assert_max_num_queries(12):
        assert client.get("/").status_code == 200
    if connection.vendor == "sqlite":
        since = timezone.now() - dt.timedelta(days=30)
        sql, params = (
            AuditEvent.objects.filter(actor=doctor, action=OPEN_ACTION, at__gte=since, patient_id__isnull=False)
            .order_by()
            .values("patient_id")
            .query.sql_with_params()
        )
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = " ".join(str(row) for row in cursor.fetchall())
        assert "audit_actor_action_at" in plan, plan
    assert len(opened_patients(doctor, since=timezone.now() - dt.timedelta(days=30), limit=3)) == 3
