"""The chart's DMP tab (issue 4 §5): the patient's DMP status and documents, consent, open/mask/delete.

The page renders at once from what Caducée already knows (last TD0.2, documents listed before); the
"Interroger le DMP" action (run automatically by app.js when the last check is stale, SC.DMP/UX.07,
without blocking the page, UX.09/10) calls TD0.2 (+ TD0.3 when needed) then the incremental TD3.1 and
returns the refreshed part. Every screen works without JavaScript.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from caducee.accounts.models import User
from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_patient_read
from caducee.core.errors import SandboxDataError
from caducee.dmp.api import STATUS_ARCHIVED
from caducee.dmp.models import DmpEntry
from caducee.dmp.selectors import delivery_label, dmp_panel
from caducee.dmp.services import (
    DmpServiceError,
    dmp_archive,
    dmp_check,
    dmp_consent_record,
    dmp_delete,
    dmp_open,
    dmp_refresh,
    dmp_send_document,
    dmp_set_visibility,
)
from caducee.documents.models import Document
from caducee.documents.render import embedded_pdf, render_cda
from caducee.documents.selectors import document_for
from caducee.documents.xds_codes import VISIBILITY
from caducee.identity.ins import transmissible_ins
from caducee.patients.models import Patient

RECHECK_AFTER = dt.timedelta(minutes=5)


def _date(raw: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@dataclass(frozen=True)
class EntryRow:
    """A DMP entry as the tab shows it: its visibility in French, whether this user authored it."""

    entry: DmpEntry
    visibility_codes: tuple[str, ...]
    visibility_labels: tuple[str, ...]
    is_mine: bool
    status_label: str


def _rows(entries: list[DmpEntry], user: User) -> list[EntryRow]:
    national_id = getattr(user, "national_id", "")
    rows = []
    for entry in entries:
        flags = tuple(c for c in entry.confidentiality_codes if c in VISIBILITY)
        rows.append(
            EntryRow(
                entry=entry,
                visibility_codes=flags,
                visibility_labels=tuple(VISIBILITY[c] for c in flags),
                is_mine=bool(national_id) and entry.author_national_id == national_id,
                status_label="archivé" if entry.status == STATUS_ARCHIVED else "",
            )
        )
    return rows


def _ins_ok(patient: Patient) -> bool:
    try:
        return transmissible_ins(patient.identity) is not None
    except SandboxDataError:
        return False


def _panel_context(request: HttpRequest, patient: Patient) -> dict[str, object]:
    filters = {k: request.GET.get(k, "").strip() for k in ("type", "du", "au", "auteur")}
    panel = dmp_panel(
        patient,
        professional=request.user,  # the user's own access and list (issue 13 §3)
        type_code=filters["type"],
        date_from=_date(filters["du"]),
        date_to=_date(filters["au"]),
        author=filters["auteur"],
    )
    checked_at = panel.access.checked_at if panel.access is not None else None
    ins_ok = _ins_ok(patient)
    return {
        "patient": patient,
        "identity": patient.identity,
        "panel": panel,
        "rows": _rows(panel.entries, request.user),  # type: ignore[arg-type]
        "filters": filters,
        "ins_ok": ins_ok,
        # SC.DMP/UX.07: TD0.2 when the chart's DMP is opened, unless just done (the page asks in the background).
        "stale": ins_ok
        and (checked_at is None or timezone.now() - checked_at > RECHECK_AFTER or request.GET.get("interroger") == "1"),
        "deliveries": [(d, delivery_label(d)) for d in panel.deliveries],
    }


def dmp_view(request: HttpRequest, patient_id: int) -> HttpResponse:
    check_permission(request.user, Perm.CLINICAL_READ)
    patient = get_object_or_404(Patient.objects.select_related("identity"), pk=patient_id)
    audit_patient_read(request, "dmp.panel", patient.pk)
    return render(request, "dmp/panel.html", _panel_context(request, patient))


@require_POST
def dmp_query_view(request: HttpRequest, patient_id: int) -> HttpResponse:
    """TD0.2 (+ TD0.3 when the patient consents and the authorization lapsed), then the new documents."""
    patient = get_object_or_404(Patient.objects.select_related("identity"), pk=patient_id)
    try:
        access = dmp_check(actor=request.user, patient=patient, request=request)
        consent = getattr(patient, "dmp_consent", None)
        if access.exists and access.active and consent is not None and consent.consult_consent:
            dmp_refresh(actor=request.user, patient=patient, request=request)
    except DmpServiceError as exc:
        messages.error(request, str(exc))
    if request.headers.get("X-Partial"):
        return render(request, "dmp/_content.html", _panel_context(request, patient))
    return redirect("dmp:panel", patient_id=patient.pk)


@require_POST
def dmp_consent_view(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=patient_id)
    dmp_consent_record(
        actor=request.user,
        patient=patient,
        feed_opposed=request.POST.get("feed_opposed") == "1",
        consult_consent=request.POST.get("consult_consent") == "1",
        request=request,
    )
    messages.success(request, "Choix du patient enregistrés.")
    # A consent just given: the documents are fetched at once, in the background (UX.10).
    return redirect(reverse("dmp:panel", args=[patient.pk]) + "?interroger=1")


def _entry(entry_id: int) -> DmpEntry:
    return get_object_or_404(DmpEntry.objects.select_related("patient", "patient__identity"), pk=entry_id)


def dmp_entry_view(request: HttpRequest, entry_id: int) -> HttpResponse:
    """One DMP document: retrieved (TD3.2), its CDA rendered safely, the PDF of an N1 beside it."""
    entry = _entry(entry_id)
    try:
        content = dmp_open(actor=request.user, entry=entry, request=request)
    except DmpServiceError as exc:
        messages.error(request, str(exc))
        return redirect("dmp:panel", patient_id=entry.patient_id)
    return render(
        request,
        "dmp/entry.html",
        {
            "entry": entry,
            "patient": entry.patient,
            "identity": entry.patient.identity,
            "rendered": render_cda(content),
            "has_pdf": embedded_pdf(content) is not None,
        },
    )


def dmp_entry_pdf(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = _entry(entry_id)
    try:
        pdf = embedded_pdf(dmp_open(actor=request.user, entry=entry, request=request))
    except DmpServiceError as exc:
        return HttpResponse(str(exc), status=502, content_type="text/plain; charset=utf-8")
    if pdf is None:
        return HttpResponse("Pas de PDF pour ce document.", status=404, content_type="text/plain; charset=utf-8")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = 'inline; filename="document-dmp.pdf"'
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
    return response


@require_POST
def dmp_visibility_view(request: HttpRequest, entry_id: int) -> HttpResponse:
    """TD3.3a/b: the checkboxes as they are submitted (a one-click "Masquer" posts MASQUE_PS alone)."""
    entry = _entry(entry_id)
    chosen = set(request.POST.getlist("visibility"))
    try:
        dmp_set_visibility(
            actor=request.user,
            entry=entry,
            masked_ps="MASQUE_PS" in chosen,
            invisible_patient="INVISIBLE_PATIENT" in chosen,
            invisible_legal_reps="INVISIBLE_REPRESENTANTS_LEGAUX" in chosen,
            request=request,
        )
        messages.success(request, f"Visibilité de « {entry.title} » modifiée dans le DMP.")
    except DmpServiceError as exc:
        messages.error(request, str(exc))
    return redirect("dmp:panel", patient_id=entry.patient_id)


def _entry_action(request: HttpRequest, entry_id: int, action: Callable[..., object], done: str) -> HttpResponse:
    """Run a one-click action on a DMP document (TD3.3c/d), say how it went, back to the tab."""
    entry = _entry(entry_id)
    try:
        action(actor=request.user, entry=entry, request=request)
        messages.success(request, f"« {entry.title} » {done}.")
    except DmpServiceError as exc:
        messages.error(request, str(exc))
    return redirect("dmp:panel", patient_id=entry.patient_id)


@require_POST
def dmp_delete_view(request: HttpRequest, entry_id: int) -> HttpResponse:
    return _entry_action(request, entry_id, dmp_delete, "supprimé du DMP")


@require_POST
def dmp_archive_view(request: HttpRequest, entry_id: int) -> HttpResponse:
    return _entry_action(request, entry_id, dmp_archive, "archivé dans le DMP")


@require_POST
def document_send_view(request: HttpRequest, document_id: int) -> HttpResponse:
    """ "Envoyer au DMP" on any stored document: one click, the outbox does the rest."""
    # A document of confidentiality R/V goes only with someone who may open it (issue 6 §2).
    document = document_for(
        request.user,
        document_id,
        queryset=Document.objects.select_related("patient", "patient__identity"),
        request=request,
    )
    visibility = [v for v in request.POST.getlist("visibility") if v in VISIBILITY]
    try:
        dmp_send_document(actor=request.user, document=document, visibility=visibility, request=request)
        messages.success(request, f"« {document.title} » sera envoyé au DMP (voir Envois).")
    except DmpServiceError as exc:
        messages.error(request, str(exc))
    return redirect("documents:detail", document_id=document.pk)
