"""Issue 3 §6: the chart of a patient with 500 past consultations and a rich record opens in a bounded number
of queries (the time target lives in bench/, not here)."""

from __future__ import annotations

import pytest
from django.test import Client

from caducee.record.models import Consultation, Problem

pytestmark = pytest.mark.django_db

# Measured: 27 (identity panel, the clinical record section (11 for the summary), the consultations list, the
# care team and the card's history (issue 13 §1), the messaging unread counter and the replacement banner of the
# top bar).
CHART_QUERIES_DOCTOR = 27


def test_chart_with_500_consultations_is_bounded(
    client: Client, doctor, make_patient, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    Consultation.objects.bulk_create(Consultation(patient=patient, author=doctor, motif=f"C{i}") for i in range(500))
    Problem.objects.bulk_create(Problem(patient=patient, created_by=doctor, label=f"P{i}") for i in range(50))
    client.force_login(doctor)
    client.get(f"/patients/{patient.pk}/")  # warm the session and template caches
    with django_assert_max_num_queries(CHART_QUERIES_DOCTOR):
        page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert page.count("/consultations/") >= 10 and "P49" in page
