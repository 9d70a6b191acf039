"""Consultation actions beside the form: delete an empty draft (issue 13 §2), print the consultation as a PDF."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from caducee.accounts.models import Practice
from caducee.accounts.permissions import Perm, check_permission
from caducee.cabinet.consultation_views import consultation_submit
from caducee.core.audit import audit_record
from caducee.documents.pdf import render_consultation_pdf
from caducee.record.consultations import TEXT_FIELDS, ConsultationError, consultation_delete
from caducee.record.models import Consultation, Vital


@require_POST
def consultation_remove(request: HttpRequest, consultation_id: int) -> HttpResponse:
    """« Supprimer ce brouillon vide »: back to the chart when done, to the consultation with the reason otherwise."""
    consultation = get_object_or_404(Consultation.objects.select_related("author"), pk=consultation_id)
    if any(request.POST.get(name, "").strip() for name in TEXT_FIELDS):
        # The button sits in the consultation's form: text typed since the page was loaded is never thrown away —
        # it is saved as the draft (the usual checks of « Enregistrer »), and the draft kept.
        messages.warning(request, "Brouillon non supprimé : du texte y a été saisi, il est enregistré.")
        return consultation_submit(request, consultation_id)
    try:
        consultation_delete(actor=request.user, consultation=consultation, request=request)
    except ConsultationError as exc:
        messages.error(request, str(exc))
        return redirect("consultations:detail", consultation_id=consultation.pk)
    messages.success(request, "Brouillon vide supprimé.")
    return redirect("patients:chart", patient_id=consultation.patient_id)


def _measures(consultation: Consultation) -> list[str]:
    """The measures entered with the consultation (recorded at its date when it was validated)."""
    vitals = Vital.objects.filter(
        patient_id=consultation.patient_id, measured_at=consultation.date, deleted_at__isnull=True
    ).order_by("kind")
    return [f"{v.get_kind_display()} : {v.value.normalize():f} {v.unit}" for v in vitals]


def consultation_pdf(request: HttpRequest, consultation_id: int) -> HttpResponse:
    """« Imprimer » opens the PDF in the browser's viewer (print from there: the CSP forbids inline scripts, so no
    window.print()); « Télécharger » (?telecharger=1) saves it. Audited as a read of the consultation."""
    check_permission(request.user, Perm.CLINICAL_READ)
    consultation = get_object_or_404(
        Consultation.objects.select_related("patient", "patient__identity", "author"), pk=consultation_id
    )
    download = request.GET.get("telecharger") == "1"
    audit_record(
        actor=request.user,
        action="consultation.read",
        object_type="consultation",
        object_id=consultation.pk,
        patient_id=consultation.patient_id,
        detail={"format": "pdf", "download": download},
        request=request,
    )
    practice = Practice.objects.first()
    if practice is None:
        return HttpResponse("Structure non configurée.", status=404, content_type="text/plain; charset=utf-8")
    pdf = render_consultation_pdf(practice=practice, consultation=consultation, measures=_measures(consultation))
    response = HttpResponse(pdf, content_type="application/pdf")
    disposition = "attachment" if download else "inline"
    name = f"consultation-{consultation.date:%Y%m%d}-{consultation.pk}.pdf"
    response["Content-Disposition"] = f'{disposition}; filename="{name}"'
    response["Content-Security-Policy"] = "default-src 'none'"
    response["Cache-Control"] = "no-store"
    return response
