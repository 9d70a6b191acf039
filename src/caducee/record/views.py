"""Screens of the structured record: the "Dossier médical" section (chart and its own page), small add
forms, soft delete, and the JSON terminology search behind search-as-you-type.

Views stay thin: permission checks (CLINICAL_READ to see anything clinical, the services check
CLINICAL_WRITE again), form parsing, one service call, redirect. The secretary never sees clinical
content: `record_context` gives her nothing to render and every view here answers 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from caducee.accounts.permissions import Perm, check_permission, has_permission
from caducee.core.audit import audit_patient_read
from caducee.core.inputs import limit_form_to_model, local_path
from caducee.patients.models import Ald, Patient
from caducee.patients.services import patient_open
from caducee.record import forms as record_forms
from caducee.record import services
from caducee.record.models import (
    Allergy,
    FamilyHistory,
    History,
    Lifestyle,
    LongTermTreatment,
    Problem,
    ProfessionalRisk,
    VigilancePoint,
    Vital,
)
from caducee.record.selectors import (
    allergen_suggestions,
    concept_labels,
    concept_search,
    dose_unit_suggestions,
    record_history,
    record_summary,
)
from caducee.record.terminology import TerminologyError


@dataclass(frozen=True)
class Kind:
    """One category of the record as the screens know it (URL slug, form, services)."""

    form: type[record_forms.RecordForm]
    create: Callable[..., Any]
    model: type[models.Model]
    delete: Callable[..., None]
    added: str  # success message


def _del(service: Callable[..., None], name: str) -> Callable[..., None]:
    return lambda *, actor, entry, request: service(actor=actor, request=request, **{name: entry})


KINDS: dict[str, Kind] = {
    "probleme": Kind(
        record_forms.ProblemForm, services.problem_create, Problem, _del(services.problem_delete, "problem"),
        "Pathologie ajoutée.",
    ),
    "antecedent": Kind(
        record_forms.HistoryForm, services.history_create, History, _del(services.history_delete, "history"),
        "Antécédent ajouté.",
    ),
    "familial": Kind(
        record_forms.FamilyHistoryForm, services.family_history_create, FamilyHistory,
        _del(services.family_history_delete, "family_history"), "Antécédent familial ajouté.",
    ),
    "allergie": Kind(
        record_forms.AllergyForm, services.allergy_create, Allergy, _del(services.allergy_delete, "allergy"),
        "Allergie ajoutée.",
    ),
    "risque": Kind(
        record_forms.ProfessionalRiskForm, services.professional_risk_create, ProfessionalRisk,
        _del(services.professional_risk_delete, "professional_risk"), "Facteur de risque ajouté.",
    ),
    "habitus": Kind(
        record_forms.LifestyleForm, services.lifestyle_create, Lifestyle, _del(services.lifestyle_delete, "lifestyle"),
        "Habitus ajouté.",
    ),
    "vigilance": Kind(
        record_forms.VigilancePointForm, services.vigilance_point_create, VigilancePoint,
        _del(services.vigilance_point_delete, "vigilance_point"), "Point de vigilance ajouté.",
    ),
    "traitement": Kind(
        record_forms.TreatmentForm, services.treatment_create, LongTermTreatment,
        _del(services.treatment_delete, "treatment"), "Traitement ajouté.",
    ),
    "constantes": Kind(
        record_forms.VitalsForm, services.vital_record, Vital, _del(services.vital_delete, "vital"),
        "Mesures enregistrées.",
    ),
    "ald": Kind(record_forms.AldForm, services.ald_create, Ald, _del(services.ald_delete, "ald"), "ALD ajoutée."),
}  # fmt: skip


def _form(kind: str, data: Any = None) -> record_forms.RecordForm:
    # Distinct ids per form (several forms on one page), plain field names (the services' arguments).
    form = KINDS[kind].form(data, auto_id=f"rec-{kind}-%s")
    limit_form_to_model(form, KINDS[kind].model)  # the columns' lengths, checked and rendered (issue 13 §4)
    return form


def record_context(user: Any, patient: Patient) -> dict[str, Any]:
    """Context of templates/record/_summary.html, for the chart: `record` is None for a user without
    CLINICAL_READ (the template then renders nothing at all)."""
    if not has_permission(user, Perm.CLINICAL_READ):
        return {"record": None, "record_forms": {}, "record_can_write": False, "record_routes": {}}
    can_write = has_permission(user, Perm.CLINICAL_WRITE)
    summary = record_summary(patient)
    route_codes = sorted({t.route_code for t in summary.treatments if t.route_code})
    return {
        "record": summary,
        "record_forms": {kind: _form(kind) for kind in KINDS} if can_write else {},
        "record_can_write": can_write,
        # EDQM route labels of the treatments shown (one query, only when there are routes).
        "record_routes": concept_labels("edqm", route_codes) if route_codes else {},
    }


def _open(request: HttpRequest, patient_id: int, perm: Perm) -> Patient:
    check_permission(request.user, perm)
    try:
        return patient_open(actor=request.user, patient_id=patient_id, request=request)
    except Patient.DoesNotExist as exc:
        raise Http404("Patient introuvable") from exc


def _page(request: HttpRequest, patient: Patient, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = record_context(request.user, patient)
    forms_ = dict(context["record_forms"])
    if "bound" in extra:  # re-display what was typed, with its messages, in the right form
        forms_[extra["bound_kind"]] = extra["bound"]
    context.update(
        patient=patient,
        identity=patient.identity,
        record_forms=forms_,
        # Where the forms send the user back: the page they came from, never this POST URL.
        record_next=_safe_next(request) or reverse("record:page", args=[patient.pk]),
        **extra,
    )
    return render(request, "record/page.html", context, status=status)


def record_page(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The "Dossier médical" on its own page (the chart shows the same section)."""
    patient = _open(request, patient_id, Perm.CLINICAL_READ)
    audit_patient_read(request, "record.read", patient.pk)
    return _page(request, patient)


def _safe_next(request: HttpRequest) -> str:
    # A path of this site only (issue 13 §4: "٣٤" or "-1" were reversed as URL names, a 500).
    return local_path(request, request.POST.get("next", "")).split("#")[0]


def _back(request: HttpRequest, patient: Patient, anchor: str) -> HttpResponse:
    target = _safe_next(request) or reverse("record:page", args=[patient.pk])
    return redirect(f"{target}#{anchor}")


def _errors(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [message for messages_ in exc.message_dict.values() for message in messages_]
    return list(exc.messages)


@require_POST
def entry_add(request: HttpRequest, patient_id: int, kind: str) -> HttpResponse:
    if kind not in KINDS:
        raise Http404
    patient = _open(request, patient_id, Perm.CLINICAL_WRITE)
    form = _form(kind, request.POST)
    if form.is_valid():
        try:
            KINDS[kind].create(actor=request.user, patient=patient, request=request, **form.cleaned_data)
        except ValidationError as exc:
            # The services' messages go next to the field they concern when the form has it.
            for field, field_messages in (
                exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
            ).items():
                for message in field_messages:
                    form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(request, KINDS[kind].added)
            return _back(request, patient, f"dossier-{kind}")
    return _page(request, patient, status=400, bound=form, bound_kind=kind, open_kind=kind)


def _entry(kind: str, patient: Patient, entry_id: int) -> Any:
    """The entry of THIS patient (an id from another record is a 404, not a cross-patient write)."""
    model = KINDS[kind].model
    entries = model._default_manager.filter(pk=entry_id, patient=patient)
    if model is not Ald:
        entries = entries.filter(deleted_at__isnull=True)
    entry = entries.first()
    if entry is None:
        raise Http404("Information introuvable")
    return entry


@require_POST
def entry_delete(request: HttpRequest, patient_id: int, kind: str, entry_id: int) -> HttpResponse:
    if kind not in KINDS:
        raise Http404
    patient = _open(request, patient_id, Perm.CLINICAL_WRITE)
    KINDS[kind].delete(actor=request.user, entry=_entry(kind, patient, entry_id), request=request)
    messages.success(request, "Information supprimée du dossier (conservée dans l'historique).")
    return _back(request, patient, f"dossier-{kind}")


@require_POST
def problem_resolve(request: HttpRequest, patient_id: int, entry_id: int) -> HttpResponse:
    patient = _open(request, patient_id, Perm.CLINICAL_WRITE)
    services.problem_resolve(actor=request.user, problem=_entry("probleme", patient, entry_id), request=request)
    messages.success(request, "Pathologie marquée comme résolue.")
    return _back(request, patient, "dossier-probleme")


@require_POST
def treatment_stop(request: HttpRequest, patient_id: int, entry_id: int) -> HttpResponse:
    patient = _open(request, patient_id, Perm.CLINICAL_WRITE)
    services.treatment_stop(actor=request.user, treatment=_entry("traitement", patient, entry_id), request=request)
    messages.success(request, "Traitement arrêté à la date du jour.")
    return _back(request, patient, "dossier-traitement")


@require_POST
def allergy_statement(request: HttpRequest, patient_id: int) -> HttpResponse:
    """ "Aucune allergie connue" (none_known=1) or back to "non renseigné" (none_known=0)."""
    patient = _open(request, patient_id, Perm.CLINICAL_WRITE)
    if request.POST.get("none_known") == "1":
        try:
            services.allergy_none_known(actor=request.user, patient=patient, request=request)
        except ValidationError as exc:
            for message in _errors(exc):
                messages.error(request, message)
        else:
            messages.success(request, "« Aucune allergie connue » enregistré.")
    else:
        services.allergy_statement_withdraw(actor=request.user, patient=patient, request=request)
        messages.success(request, "Allergies : non renseigné.")
    return _back(request, patient, "dossier-allergie")


def record_changes(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Every change of the record: who, when, what (RecordHistory)."""
    patient = _open(request, patient_id, Perm.CLINICAL_READ)
    audit_patient_read(request, "record.history_read", patient.pk)
    return render(
        request,
        "record/history.html",
        {"patient": patient, "identity": patient.identity, "changes": record_history(patient)},
    )


@require_GET
def terminology_search(request: HttpRequest) -> JsonResponse:
    """GET ?systeme=cim10|ccam|atc|edqm|route|ucum|cis|dose|allergene[&type=drug|substance|other]&q=…
    ->  {"results": [{"code", "label"[, "value"]}…]}."""
    if not has_permission(request.user, Perm.CLINICAL_READ):
        raise PermissionDenied("Recherche réservée aux professionnels de santé.")
    text = request.GET.get("q", "")[:100]
    system = request.GET.get("systeme", "cim10")
    if system == "dose":  # French dose units, the code behind (issue 13 §2)
        return JsonResponse({"results": dose_unit_suggestions(text)})
    if system == "allergene":  # an allergy's agent: drug products, or substances and classes (issue 13 §2)
        if request.GET.get("type", Allergy.AgentKind.DRUG) != Allergy.AgentKind.DRUG:
            return JsonResponse({"results": allergen_suggestions(text)})
        system = "cis"
    try:
        hits = concept_search(system, text, limit=int(request.GET.get("n", 15) or 15))
    except (TerminologyError, ValueError):
        return JsonResponse({"error": "Terminologie inconnue.", "results": []}, status=400)
    return JsonResponse({"results": [{"code": c.code, "label": c.label} for c in hits]})
