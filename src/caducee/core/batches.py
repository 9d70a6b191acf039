"""Reading many rows while writing: by chunks, each read whole, never through an open cursor (issue 13 §4).

`QuerySet.iterator()` keeps one read statement open until its last row. On SQLite (WAL) an open read statement pins
the connection to the snapshot it started with; once another process has committed (a worker claiming a delivery, a
user saving a form, the MSSanté sync), the next write of that connection — `BEGIN IMMEDIATE` or a lone UPDATE —
cannot upgrade the stale snapshot and fails at once with « database is locked », whatever the busy timeout. A loop
that writes as it reads therefore takes its rows with `in_chunks`: the ids first (one integer per row), then the
rows by chunks, each chunk read whole before the caller sees its first row. Memory stays bounded by the chunk, as
with `iterator()`, and the loop works beside the worker, the web server and the sync loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from django.db.models import Model, QuerySet

CHUNK = 200

M = TypeVar("M", bound=Model)


def in_chunks(queryset: QuerySet[M], *, size: int = CHUNK) -> Iterator[M]:
    """The rows of `queryset` in primary-key order, read `size` at a time (see the module docstring).

    The filters apply again to each chunk: a row that stopped matching meanwhile (another process changed it) is
    skipped, one that started matching after the ids were read is left for the next run.
    """
    if size < 1:
        raise ValueError("size must be positive")
    ids = list(dict.fromkeys(queryset.order_by("pk").values_list("pk", flat=True)))  # a join may repeat a row
    for start in range(0, len(ids), size):
        yield from list(queryset.filter(pk__in=ids[start : start + size]).order_by("pk"))
