"""« Qui a consulté ce dossier » (issue 6 §2): the administrator's view of every audited access to one patient."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from caducee.accounts.permissions import Perm, check_permission
from caducee.accounts.selectors import ACCESS_LABELS, patient_accesses
from caducee.core.audit import audit_record

PAGE_SIZE = 50


def audit_patient_view(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Who, with which role, when, what, with what outcome — newest first, 50 a page. Reading it is itself traced
    (without naming the patient in `patient_id`, so the page does not list its own readings as chart accesses)."""
    check_permission(request.user, Perm.AUDIT_READ)
    page = Paginator(patient_accesses(patient_id), PAGE_SIZE).get_page(request.GET.get("page"))
    audit_record(
        actor=request.user,
        action="audit.patient",
        object_type="patient",
        object_id=patient_id,
        detail={"page": page.number},
        request=request,
    )
    rows = [(event, ACCESS_LABELS.get(event.action, event.action)) for event in page.object_list]
    return render(request, "accounts/audit_patient.html", {"patient_id": patient_id, "page": page, "rows": rows})
