"""`core.batches.in_chunks`: rows by chunks each read whole — a loop may write as it reads (issue 13 §4).

The « database is locked » it prevents needs two processes on a SQLite file: tests/cabinet/test_vsm_with_worker.py.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from caducee.accounts.models import User
from caducee.core.audit import audit_record
from caducee.core.batches import in_chunks
from caducee.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_rows_come_in_pk_order_one_query_per_chunk_each_read_whole() -> None:
    events = [audit_record(actor=None, action=f"test.{i}") for i in range(7)]
    with CaptureQueriesContext(connection) as queries:
        rows = in_chunks(AuditEvent.objects.filter(action__startswith="test."), size=3)
        first = next(rows)
        assert len(queries) == 2  # the ids, then the first chunk — read whole before its first row is handed out
        rest = list(rows)
    assert [first.pk, *(r.pk for r in rest)] == [e.pk for e in events]  # pk order, whatever the model's ordering
    assert len(queries) == 1 + 3  # ids + ceil(7 / 3) chunks


def test_a_row_removed_meanwhile_is_skipped() -> None:
    # Users, not audit events: the audit trail is append-only (a trigger refuses deletes on PostgreSQL).
    keep = User.objects.create_user(username="zz-keep", password=None)
    gone = User.objects.create_user(username="zz-gone", password=None)
    rows = in_chunks(User.objects.filter(username__startswith="zz-"), size=1)
    assert next(rows).pk == keep.pk
    User.objects.filter(pk=gone.pk).delete()  # another process removed it
    assert list(rows) == []


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        list(in_chunks(AuditEvent.objects.all(), size=0))
