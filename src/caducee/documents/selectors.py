from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from caducee.documents.models import Document
from caducee.patients.models import Patient


def document_list(
    patient: Patient,
    *,
    category: str = "",
    state: str = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
    text: str = "",
) -> QuerySet[Document]:
    """The patient's documents, newest first, filtered by category, state, period and text (title, theme,
    correspondent). The CDA and PDF blobs are not loaded for the list."""
    documents = Document.objects.filter(patient=patient).select_related("author").defer("cda", "pdf")
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
