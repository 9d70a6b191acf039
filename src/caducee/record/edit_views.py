"""Edit screens of the "Dossier médical": one entry of one patient, its add form pre-filled, the
`<entity>_update` service on POST.

Thin like record/views.py, whose categories (`KINDS`: forms, models), patient opening and entry lookup
are reused: CLINICAL_WRITE checked before anything is shown (the services check it again), an entry of
another patient or a deleted one is a 404, the services' messages are shown next to their field.
Vitals are measurements, never edited (deleted and measured again): no edit screen for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from caducee.accounts.permissions import Perm
from caducee.core.inputs import limit_form_to_model
from caducee.patients.models import Patient
from caducee.record import services
from caducee.record.dose_units import dose_unit_label
from caducee.record.selectors import concept_labels
from caducee.record.views import KINDS, _entry, _open


@dataclass(frozen=True)
class Edit:
    """How one category is changed: its update service, the service's keyword for the entry, the heading."""

    update: Callable[..., Any]
    entry_arg: str
    title: str


EDITS: dict[str, Edit] = {
    "probleme": Edit(services.problem_update, "problem", "Modifier une pathologie"),
    "ald": Edit(services.ald_update, "ald", "Modifier une affection de longue durée"),
    "traitement": Edit(services.treatment_update, "treatment", "Modifier un traitement au long cours"),
    "allergie": Edit(services.allergy_update, "allergy", "Modifier une allergie ou intolérance"),
    "antecedent": Edit(services.history_update, "history", "Modifier un antécédent"),
    "familial": Edit(services.family_history_update, "family_history", "Modifier un antécédent familial"),
    "habitus": Edit(services.lifestyle_update, "lifestyle", "Modifier un habitus"),
    "risque": Edit(services.professional_risk_update, "professional_risk", "Modifier un facteur de risque"),
    "vigilance": Edit(services.vigilance_point_update, "vigilance_point", "Modifier un point de vigilance"),
}


def _initial(kind: str, entry: Any) -> dict[str, Any]:
    """The entry's current values, field by field of the category's form."""
    initial = {name: getattr(entry, name) for name in KINDS[kind].form.base_fields if hasattr(entry, name)}
    for name, value in initial.items():  # "1000", "82,5": not the column's "1000,000"
        if isinstance(value, Decimal):
            initial[name] = value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()
    if kind == "traitement" and entry.dose_unit:  # the unit shown in French, its code stored (issue 13 §2)
        initial["dose_unit"] = dose_unit_label(entry.dose_unit, initial.get("dose_quantity"))
    if kind == "traitement" and entry.route_code:  # the route is stored as its EDQM code only
        initial["route_label"] = concept_labels("edqm", [entry.route_code]).get(entry.route_code, "")
    return initial


def _form(kind: str, entry: Any, data: Any = None) -> forms.Form:
    form = KINDS[kind].form(data, initial=_initial(kind, entry), auto_id=f"edit-{kind}-%s")
    limit_form_to_model(form, KINDS[kind].model)  # the columns' lengths, checked and rendered (issue 13 §4)
    return form


def _add_errors(form: forms.Form, exc: ValidationError) -> None:
    """The services' messages next to the field they concern when the form has it, above the form otherwise."""
    by_field = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
    for field, field_messages in by_field.items():
        for message in field_messages:
            form.add_error(field if field in form.fields else None, message)


def chart_url(patient: Patient, kind: str) -> str:
    """The chart, at the category's place in its "Dossier médical" section (as after an add)."""
    return reverse("patients:chart", args=[patient.pk]) + f"#dossier-{kind}"


@require_http_methods(["GET", "POST"])
def entry_edit(request: HttpRequest, patient_id: int, kind: str, entry_id: int) -> HttpResponse:
    if kind not in EDITS:
        raise Http404
    patient = _open(request, patient_id, Perm.CLINICAL_WRITE)
    entry = _entry(kind, patient, entry_id)
    edit = EDITS[kind]
    form = _form(kind, entry, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            edit.update(actor=request.user, request=request, **{edit.entry_arg: entry}, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Information modifiée (l'ancienne version reste dans l'historique).")
            return redirect(chart_url(patient, kind))
    return render(
        request,
        "record/edit.html",
        {
            "patient": patient,
            "identity": patient.identity,
            "kind": kind,
            "entry": entry,
            "form": form,
            "title": edit.title,
            "back_url": chart_url(patient, kind),
        },
        status=400 if form.is_bound else 200,
    )
