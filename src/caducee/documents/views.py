"""Document screens: the patient's documents (filters), one document (rendered CDA beside its PDF), VSM on demand."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_patient_read
from caducee.dmp.selectors import NOT_SENT, document_dmp_state, document_dmp_states
from caducee.documents.cda.header import MissingDataError
from caducee.documents.deliveries import document_deliveries
from caducee.documents.models import Document
from caducee.documents.production import vsm_create
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


def _audit_read(request: HttpRequest, document: Document, action: str) -> None:
    """A download of the PDF or CDA is a read of the patient's record like the page (issue 6 §2)."""
    audit_patient_read(request, action, document.patient_id, object_type="document", object_id=document.pk)


def document_pdf(request: HttpRequest, document_id: int) -> HttpResponse:
    document = document_for(request.user, document_id, request=request)
    _audit_read(request, document, "document.pdf")
    if not document.pdf:
        return HttpResponse("Pas de PDF pour ce document.", status=404, content_type="text/plain; charset=utf-8")
    response = HttpResponse(bytes(document.pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="document-{document.unique_id_ext}.pdf"'
    # Shown beside the rendered CDA in our own page: framing allowed from this origin only.
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
    return response


def document_cda(request: HttpRequest, document_id: int) -> HttpResponse:
    document = document_for(request.user, document_id, request=request)
    _audit_read(request, document, "document.cda")
    response = HttpResponse(bytes(document.cda), content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{document.unique_id_ext}.xml"'
    return response


@require_POST
def vsm_now(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The VSM from the documents menu, at any time, with every element of the record."""
    patient = get_object_or_404(Patient, pk=patient_id)
    try:
        document = vsm_create(actor=request.user, patient=patient, request=request)
    except MissingDataError as exc:
        messages.error(request, f"VSM non produit, rien n'a été enregistré : {exc}")
        return redirect("documents:list", patient_id=patient.pk)
    messages.success(request, f"VSM produit (version {document.version_number}).")
    return redirect("documents:detail", document_id=document.pk)
