"""The patient's documents (filters) and one document (rendered CDA beside its PDF), each with its DMP state
(SC.DMP/HISTO.01 « déjà envoyé au DMP ») and its deliveries: documents, DMP and MSSanté composed on the top floor."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_patient_read
from caducee.dmp.selectors import NOT_SENT, document_dmp_state, document_dmp_states
from caducee.documents.deliveries import document_deliveries
from caducee.documents.models import Document
from caducee.documents.render import render_cda
from caducee.documents.selectors import document_for, document_list
from caducee.patients.models import Patient


def _date(raw: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def documents_view(request: HttpRequest, patient_id: int) -> HttpResponse:
    check_permission(request.user, Perm.CLINICAL_READ)
    patient = get_object_or_404(Patient.objects.select_related("identity"), pk=patient_id)
    filters = {k: request.GET.get(k, "") for k in ("categorie", "etat", "du", "au", "texte")}
    documents = list(
        document_list(
            patient,
            viewer=request.user,
            category=filters["categorie"],
            state=filters["etat"],
            since=_date(filters["du"]),
            until=_date(filters["au"]),
            text=filters["texte"],
        )[:200]
    )
    dmp_states = document_dmp_states(documents)
    audit_patient_read(request, "document.list", patient.pk)
    return render(
        request,
        "documents/list.html",
        {
            "patient": patient,
            "identity": patient.identity,
            # Each with its DMP state (SC.DMP/HISTO.01 "déjà envoyé au DMP"), one query for the list.
            "documents": [(d, dmp_states[d.pk]) for d in documents],
            "filters": filters,
            "categories": Document.Category.choices,
            "states": Document.State.choices,
        },
    )


def document_view(request: HttpRequest, document_id: int) -> HttpResponse:
    document = document_for(
        request.user,
        document_id,
        queryset=Document.objects.select_related("patient", "patient__identity", "author"),
        request=request,
    )
    audit_patient_read(request, "document.read", document.patient_id, object_type="document", object_id=document.pk)
    return render(
        request,
        "documents/detail.html",
        {
            "document": document,
            "identity": document.patient.identity,
            "rendered": render_cda(bytes(document.cda)),
            "deliveries": document_deliveries(document, request.user),
            "dmp_state": _dmp_state(document),
        },
    )


def _dmp_state(document: Document) -> dict[str, object]:
    """ "Déjà envoyé au DMP" (SC.DMP/HISTO.01) and whether "Envoyer au DMP" is offered (never sent yet)."""
    label = document_dmp_state(document)
    return {"label": label, "can_send": label == NOT_SENT and document.state != Document.State.RECEIVED}
