"""The audit trail is append-only (also enforced by a PostgreSQL trigger) and exports as RFC 5424 syslog."""

from __future__ import annotations

import re

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from caducee.core.audit import audit_record, to_syslog
from caducee.core.models import AppendOnlyError, AuditEvent

pytestmark = pytest.mark.django_db

RFC5424 = re.compile(
    r"^<(\d{1,3})>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ caducee - \S+ \[caducee@32473( \w+=\"[^\"]*\")+\]"
)


def test_events_cannot_be_changed_or_deleted(secretary) -> None:  # type: ignore[no-untyped-def]
    event = audit_record(actor=secretary, action="patient.read", patient_id=1)
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.update(action="x")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigger exists on PostgreSQL only")
def test_postgresql_trigger_refuses_raw_update(secretary) -> None:  # type: ignore[no-untyped-def]
    audit_record(actor=secretary, action="patient.read", patient_id=1)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET action = 'x'")


def test_secrets_are_masked(secretary) -> None:  # type: ignore[no-untyped-def]
    event = audit_record(actor=secretary, action="x", detail={"password": "s3cret", "access_token": "abc", "a": 1})
    assert event.detail == {"password": "***", "access_token": "***", "a": 1}


def test_syslog_line_is_rfc5424(secretary) -> None:  # type: ignore[no-untyped-def]
    event = audit_record(
        actor=secretary,
        action="identity.update",
        object_type="identity",
        object_id=3,
        patient_id=7,
        outcome="refused",
        detail={"fields": 'birth_name"]'},
    )
    line = to_syslog(event, hostname="poste-1")
    match = RFC5424.match(line)
    assert match, line
    assert match.group(1) == str(13 * 8 + 4)  # facility log audit, severity warning for a refusal
    assert 'patient="7"' in line and 'outcome="refused"' in line
