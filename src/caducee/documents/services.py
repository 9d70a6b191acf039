"""Document store services: identifiers, storage of immutable originals, state changes (audited)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest

from caducee.accounts.models import Practice
from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_record
from caducee.documents.cda.header import DocumentIds
from caducee.documents.ids import document_root
from caducee.documents.models import Document, Sequence
from caducee.patients.models import Patient


def sequence_next(*, name: str) -> int:
    """An increasing number, never given twice (row lock / F() update inside the caller's transaction)."""
    with transaction.atomic():
        Sequence.objects.get_or_create(name=name)
        Sequence.objects.filter(name=name).update(value=F("value") + 1)
        return Sequence.objects.values_list("value", flat=True).get(name=name)


def document_ids_new(*, practice: Practice | None, replaces: Document | None = None) -> DocumentIds:
    """uniqueId = practice OID + sequence; a new version keeps the setId and bumps versionNumber."""
    root = document_root(practice)
    ext = str(sequence_next(name="document"))
    if replaces is not None:
        return DocumentIds(root, ext, replaces.set_id_root, replaces.set_id_ext, replaces.version_number + 1)
    return DocumentIds(root, ext, root, ext, 1)


def document_store(
    *,
    actor: Any,
    patient: Patient,
    ids: DocumentIds,
    model: str,
    type_code: str,
    type_code_system: str,
    type_label: str,
    title: str,
    cda: bytes,
    pdf: bytes | None,
    category: str = Document.Category.OTHER,
    theme: str = "",
    correspondent: str = "",
    consultation: Any = None,
    replaces: Document | None = None,
    request: HttpRequest | None = None,
) -> Document:
    check_permission(actor, Perm.CLINICAL_WRITE)
    with transaction.atomic():
        document = Document.objects.create(
            patient=patient,
            model=model,
            type_code=type_code,
            type_code_system=type_code_system,
            type_label=type_label,
            title=title,
            category=category,
            theme=theme,
            correspondent=correspondent,
            author=actor,
            cda=cda,
            pdf=pdf,
            unique_id_root=ids.unique_id_root,
            unique_id_ext=ids.unique_id_ext,
            set_id_root=ids.set_id_root,
            set_id_ext=ids.set_id_ext,
            version_number=ids.version,
            replaces=replaces,
            consultation=consultation,
        )
        audit_record(
            actor=actor,
            action="document.create",
            object_type="document",
            object_id=document.pk,
            patient_id=patient.pk,
            detail={"model": model, "uniqueId": document.unique_id},
            request=request,
        )
    return document
