"""Document downloads (PDF, CDA) and the VSM on demand. The list and the document page, which show the DMP and
MSSanté states, are the top floor's (`caducee.cabinet.document_views`)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from caducee.core.audit import audit_patient_read
from caducee.documents.cda.header import MissingDataError
from caducee.documents.models import Document
from caducee.documents.production import vsm_create
from caducee.documents.selectors import document_for
from caducee.patients.models import Patient


def _audit_read(request: HttpRequest, document: Document, action: str) -> None:
    """A download of the PDF or CDA is a read of the patient's record like the page (issue 6 §2)."""
    audit_patient_read(request, action, document.patient_id, object_type="document", object_id=document.pk)


def document_pdf(request: HttpRequest, document_id: int) -> HttpResponse:
    document = document_for(request.user, document_id, request=request)
    _audit_read(request, document, "document.pdf")
    if not document.pdf:
        return HttpResponse("Pas de PDF pour ce document.", status=404, content_type="text/plain; charset=utf-8")
    response = HttpResponse(bytes(document.pdf), content_type="application/pdf")
    # Issue 13 §2: « Télécharger » (?telecharger=1) saves the file under a readable name; « Imprimer » opens it in
    # the browser's PDF viewer, which prints (a link, not window.print(): the CSP forbids inline scripts).
    if request.GET.get("telecharger") == "1":
        name = f"{slugify(document.title)[:60] or 'document'}-{document.created_at:%Y%m%d}-v{document.version_number}"
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    else:
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
