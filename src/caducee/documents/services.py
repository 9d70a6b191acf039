"""Document store services: identifiers, storage of immutable originals, state changes (audited)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest

from caducee.accounts.models import Practice
from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_record
from caducee.documents.cda.header import DocumentIds, practice_oid_root
from caducee.documents.models import Document, Sequence
from caducee.patients.models import Patient


def next_sequence(name: str) -> int:
    """An increasing number, never given twice (row lock / F() update inside the caller's transaction)."""
    with transaction.atomic():
        Sequence.objects.get_or_create(name=name)
        Sequence.objects.filter(name=name).update(value=F("value") + 1)
        return Sequence.objects.values_list("value", flat=True).get(name=name)


def document_root(practice: Practice | None) -> str:
    """The OID of the practice's documents: practice root + ".1" (uniqueId root)."""
    return practice_oid_root(practice) + ".1"


def document_ids_of(document: Document) -> DocumentIds:
    """The identifiers of a stored document (for relatedDocument RPLC when a new version replaces it)."""
    return DocumentIds(
        document.unique_id_root,
        document.unique_id_ext,
        document.set_id_root,
        document.set_id_ext,
        document.version_number,
    )


def document_ids_new(*, practice: Practice | None, replaces: Document | None = None) -> DocumentIds:
    """uniqueId = practice OID + sequence; a new version keeps the setId and bumps versionNumber."""
    root = document_root(practice)
    ext = str(next_sequence("document"))
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
