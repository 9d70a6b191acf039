"""Data migrations of the core app: Delivery loses its foreign key up to documents (issue 12 §3)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from caducee.core.models import Delivery
from caducee.documents.services import document_ids_new, document_store

BEFORE = [("core", "0003_outbox")]
AFTER = [("core", "0004_delivery_document_ref")]


def _migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_deliveries_keep_their_document_and_patient(doctor, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    document = document_store(
        actor=doctor,
        patient=patient,
        ids=document_ids_new(practice=practice),
        model="n1",
        type_code="11488-4",
        type_code_system="2.16.840.1.113883.6.1",
        type_label="Compte rendu de consultation",
        title="CR",
        cda=b"<ClinicalDocument/>",
        pdf=b"%PDF-1.4",
    )
    try:
        old = _migrate(BEFORE).get_model("core", "Delivery")
        old.objects.create(
            channel="dmp", action="publish", document_unique_id=document.unique_id, document_id=document.pk
        )
        old.objects.create(
            channel="mss", action="send", document_unique_id="<m1@test.mssante.fr>", document_id=document.pk
        )
        old.objects.create(channel="mss", action="mdn", document_unique_id="mdn:1:processed")
        _migrate(AFTER)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    rows = {d.document_unique_id: (d.document_ref, d.patient_id) for d in Delivery.objects.all()}
    assert rows == {
        document.unique_id: (document.unique_id, patient.pk),
        "<m1@test.mssante.fr>": (document.unique_id, patient.pk),  # the message's first document
        "mdn:1:processed": ("", None),
    }
