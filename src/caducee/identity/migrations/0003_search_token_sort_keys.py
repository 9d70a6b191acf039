"""Copy the identity's sort key (birth name, first prénom, birth date) onto its search tokens.

Why: R17 search returns patients in name order; with the key in the token index, a name prefix is
answered from that index alone (bench/README.md: p95 25.7 → ~12 ms SQLite, 128 → ~15 ms PostgreSQL).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models
from django.db.models import OuterRef, Subquery

# Identities per UPDATE: bounded statements and memory on large practices (~4 tokens per identity).
BATCH_SIZE = 5000


def fill_sort_keys(apps: Any, schema_editor: Any) -> None:
    """Set every token's copies from its identity, by ranges of identity ids (SQLite and PostgreSQL)."""
    Identity = apps.get_model("identity", "Identity")
    SearchToken = apps.get_model("identity", "SearchToken")
    ids = Identity.objects.aggregate(low=models.Min("pk"), high=models.Max("pk"))
    if ids["low"] is None:
        return
    own = Identity.objects.filter(pk=OuterRef("identity_id"))
    for start in range(ids["low"], ids["high"] + 1, BATCH_SIZE):
        SearchToken.objects.filter(identity_id__gte=start, identity_id__lt=start + BATCH_SIZE).update(
            birth_name=Subquery(own.values("birth_name")[:1]),
            first_given_name=Subquery(own.values("first_given_name")[:1]),
            birth_date=Subquery(own.values("birth_date")[:1]),
        )


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0002_insi_call_refused_traits"),
    ]

    operations = [
        migrations.AddField(
            model_name="searchtoken",
            name="birth_date",
            field=models.CharField(default="", max_length=10),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="searchtoken",
            name="birth_name",
            field=models.CharField(default="", max_length=100),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="searchtoken",
            name="first_given_name",
            field=models.CharField(default="", max_length=100),
            preserve_default=False,
        ),
        # Filled before the index is built: one index build instead of 400,000 index updates.
        migrations.RunPython(fill_sort_keys, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="searchtoken",
            index=models.Index(
                fields=["token", "birth_name", "first_given_name", "birth_date", "identity"],
                name="search_token_sorted",
            ),
        ),
    ]
