"""Role-based access: a secretary manages identities but sees no clinical data; the administrator reads the
audit trail but opens no patient record. Refusals leave no side effect."""

from __future__ import annotations

import pytest
from django.test import Client

from caducee.accounts.models import Role
from caducee.accounts.permissions import ROLE_PERMISSIONS, Perm
from caducee.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_secretary_has_no_clinical_permission() -> None:
    assert Perm.CLINICAL_READ not in ROLE_PERMISSIONS[Role.SECRETAIRE]
    assert Perm.IDENTITY_MANAGE in ROLE_PERMISSIONS[Role.SECRETAIRE]


def test_administrator_reads_audit_but_not_patients(client: Client, administrator, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    client.force_login(administrator)
    assert client.get("/audit/").status_code == 200
    before = AuditEvent.objects.filter(action="patient.read").count()
    assert client.get(f"/patients/{patient.pk}/").status_code == 403
    assert AuditEvent.objects.filter(action="patient.read").count() == before


def test_secretary_cannot_read_audit(client: Client, secretary) -> None:  # type: ignore[no-untyped-def]
    client.force_login(secretary)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.log").status_code == 403


def test_every_chart_opening_is_audited_and_queryable_per_patient(
    client: Client, secretary, administrator, make_patient
) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    client.force_login(secretary)
    assert client.get(f"/patients/{patient.pk}/").status_code == 200
    event = AuditEvent.objects.get(action="patient.read")
    assert (event.actor, event.patient_id) == (secretary, patient.pk)
    client.force_login(administrator)
    page = client.get(f"/audit/?patient={patient.pk}").content.decode()
    assert "patient.read" in page and "SECRETAIRE" in page


def test_r19_administrator_sets_the_accepted_documents(client: Client, administrator, secretary, practice) -> None:  # type: ignore[no-untyped-def]
    client.force_login(secretary)
    assert client.post("/structure/", {"documents": ["PA"]}).status_code == 403
    client.force_login(administrator)
    assert client.get("/structure/").status_code == 200
    client.post("/structure/", {"documents": ["PA", "CS", "nonsense"], "summary_model": "ips"})
    practice.refresh_from_db()
    assert practice.accepted_id_documents == ["PA", "CS"] and practice.summary_model == "ips"
    client.post("/structure/", {})
    practice.refresh_from_db()
    assert practice.accepted_id_documents == ["PA", "CS"]  # never left empty
    assert AuditEvent.objects.filter(action="practice.settings").count() == 1


def test_a_practice_that_ran_on_the_sandbox_is_refused_by_real_services(practice, settings) -> None:  # type: ignore[no-untyped-def]
    from caducee.accounts.services import practice_check_national_service
    from caducee.core.errors import SandboxDataError

    settings.SANDBOX = False
    practice_check_national_service()  # a clean production practice may call
    settings.SANDBOX = True
    practice_check_national_service()
    practice.refresh_from_db()
    assert practice.is_sandbox
    settings.SANDBOX = False
    with pytest.raises(SandboxDataError, match="bac à sable"):
        practice_check_national_service()
