from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import CharField, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from caducee.accounts.permissions import (
    RESTRICTED_CONFIDENTIALITY,
    Perm,
    can_read_confidentiality,
    check_permission,
    has_permission,
)
from caducee.core.audit import audit_record
from caducee.core.models import AuditEvent
from caducee.documents.models import Document
from caducee.patients.models import Patient


def visible_documents(viewer: Any, documents: QuerySet[Document]) -> QuerySet[Document]:
    """What the care team shares with `viewer` (issue 6 §2): documents of confidentiality R/V only for
    CLINICAL_RESTRICTED_READ (médecins, remplaçants) or their author; nothing without CLINICAL_READ."""
    check_permission(viewer, Perm.CLINICAL_READ)
    if has_permission(viewer, Perm.CLINICAL_RESTRICTED_READ):
        return documents
    return documents.filter(~Q(confidentiality__in=RESTRICTED_CONFIDENTIALITY) | Q(author_id=viewer.pk))


def document_for(
    viewer: Any, document_id: int, *, queryset: QuerySet[Document] | None = None, request: HttpRequest | None = None
) -> Document:
    """The document `viewer` opens (detail, PDF, CDA): 404 when missing, PermissionDenied (audited, outcome
    refused, naming the patient) when its confidentiality R/V is not for this viewer."""
    check_permission(viewer, Perm.CLINICAL_READ)
    document = get_object_or_404(queryset if queryset is not None else Document.objects.all(), pk=document_id)
    if not can_read_confidentiality(viewer, document.confidentiality, document.author_id):
        audit_record(
            actor=viewer,
            action="document.read",
            object_type="document",
            object_id=document.pk,
            patient_id=document.patient_id,
            outcome=AuditEvent.Outcome.REFUSED,
            detail={"confidentiality": document.confidentiality},
            request=request,
        )
        raise PermissionDenied("Document à diffusion restreinte : réservé aux médecins en charge du patient.")
    return document


def document_list(
    patient: Patient,
    *,
    viewer: Any,
    category: str = "",
    state: str = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
    text: str = "",
) -> QuerySet[Document]:
    """The patient's documents, newest first, filtered by category, state, period and text (title, theme,
    correspondent), as `viewer` may see them (`visible_documents`). The CDA and PDF blobs are not loaded."""
    documents = visible_documents(
        viewer, Document.objects.filter(patient=patient).select_related("author").defer("cda", "pdf")
    )
    if category:
        documents = documents.filter(category=category)
    if state:
        documents = documents.filter(state=state)
    if since:
        documents = documents.filter(created_at__date__gte=since)
    if until:
        documents = documents.filter(created_at__date__lte=until)
    if text.strip():
        words = text.strip()
        documents = documents.filter(
            Q(title__icontains=words) | Q(theme__icontains=words) | Q(correspondent__icontains=words)
        )
    return documents


def _unique_id_parts(unique_id: str) -> tuple[str, str]:
    """root^extension (`Document.unique_id`) → (root, extension)."""
    root, _, ext = unique_id.partition("^")
    return root, ext


def document_by_unique_id(unique_id: str, *, queryset: QuerySet[Document] | None = None) -> Document | None:
    """The stored document whose CDA uniqueId (root^extension) is `unique_id`, or None: how an outbox delivery (which
    keeps the uniqueId, not a link) finds the document it carries."""
    if not unique_id:
        return None
    root, ext = _unique_id_parts(unique_id)
    return (
        (queryset if queryset is not None else Document.objects.all())
        .filter(unique_id_root=root, unique_id_ext=ext)
        .first()
    )


def documents_by_unique_id(
    unique_ids: Iterable[str], *, queryset: QuerySet[Document] | None = None
) -> dict[str, Document]:
    """The stored documents of these uniqueIds, in one query: {uniqueId: document} (unknown ones left out)."""
    wanted = {u for u in unique_ids if u}
    if not wanted:
        return {}
    parts = [_unique_id_parts(u) for u in wanted]
    found = (queryset if queryset is not None else Document.objects.all()).filter(
        unique_id_root__in={root for root, _ in parts}, unique_id_ext__in={ext for _, ext in parts}
    )
    return {d.unique_id: d for d in found if d.unique_id in wanted}


def document_with_unique_id(outer_ref: str) -> QuerySet[Document]:
    """For a `Subquery`: the document whose uniqueId equals the outer row's `outer_ref` column (a delivery's
    `document_ref`), so a list of deliveries gets its documents' titles in the same query."""
    return Document.objects.annotate(
        uid=Concat("unique_id_root", Value("^"), "unique_id_ext", output_field=CharField())
    ).filter(uid=OuterRef(outer_ref))
