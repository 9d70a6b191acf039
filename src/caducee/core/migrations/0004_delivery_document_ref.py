"""Delivery keeps the carried document's uniqueId and patient id instead of a foreign key up to documents (issue 12
§3: core is the ground floor). Existing rows are copied from the foreign key before it goes (SQLite, PostgreSQL)."""

from typing import Any

from django.db import migrations, models
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Concat


def _documents(apps: Any) -> Any:
    """The documents, each with its uniqueId as the outbox writes it (root^extension)."""
    return (
        apps.get_model("documents", "Document")
        .objects.all()
        .annotate(uid=Concat("unique_id_root", Value("^"), "unique_id_ext", output_field=models.CharField()))
    )


def copy_from_the_foreign_key(apps: Any, schema_editor: Any) -> None:
    delivery = apps.get_model("core", "Delivery")
    document = _documents(apps).filter(pk=OuterRef("document_id"))
    delivery.objects.filter(document_id__isnull=False).update(
        document_ref=Subquery(document.values("uid")[:1]),
        patient_id=Subquery(document.values("patient_id")[:1]),
    )


def copy_back_to_the_foreign_key(apps: Any, schema_editor: Any) -> None:
    delivery = apps.get_model("core", "Delivery")
    document = _documents(apps).filter(uid=OuterRef("document_ref"))
    delivery.objects.exclude(document_ref="").update(document_id=Subquery(document.values("pk")[:1]))


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_outbox"),
        ("documents", "0003_letter_templates"),
    ]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="document_ref",
            field=models.CharField(blank=True, db_index=True, max_length=120),
        ),
        migrations.AddField(
            model_name="delivery",
            name="patient_id",
            field=models.BigIntegerField(blank=True, db_index=True, null=True),
        ),
        migrations.RunPython(copy_from_the_foreign_key, copy_back_to_the_foreign_key),
        migrations.RemoveField(model_name="delivery", name="document"),
    ]
