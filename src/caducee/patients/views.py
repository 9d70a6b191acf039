"""The administrative screens of the patients app: the home page (search, the user's patients of the day and
recent ones), the contact data form and the médecin traitant form (issue 13 §1). The chart and the care team's
directory search compose other apps: they are on the top floor (`cabinet/patient_views.py`)."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from caducee.accounts.models import User
from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_patient_read
from caducee.patients.contact import CONTACT_FIELDS, MAX_LENGTHS
from caducee.patients.correspondents import correspondent_unlink
from caducee.patients.errors import PatientConflict, PatientDataError
from caducee.patients.models import ContactPreference, Correspondent, Patient, PatientCorrespondent
from caducee.patients.selectors import (
    SearchError,
    patient_correspondents,
    patient_get,
    patient_search,
    recent_patients,
    todays_patients,
)
from caducee.patients.services import MEDECIN_TRAITANT_ROLES, patient_set_medecin_traitant, patient_update_contact

__all__ = ["CONTACT_FIELDS", "care_team_remove", "contact_edit", "medecin_traitant_edit", "patient_list", "patient_new"]


def patient_list(request: HttpRequest) -> HttpResponse:
    """The home page: the search (R17) and, for this user, the patients of the day and the recently opened ones."""
    check_permission(request.user, Perm.PATIENT_ADMIN)
    query = request.GET.get("q", "")
    error, patients = "", []
    try:
        patients = list(patient_search(query))
    except SearchError as exc:
        error = str(exc)
    if request.headers.get("X-Partial"):
        return render(request, "patients/_results.html", {"query": query, "patients": patients, "error": error})
    today = todays_patients(request.user)
    seen_today = {row.patient.pk for row in today}
    recent = [(p, at) for p, at in recent_patients(request.user) if p.pk not in seen_today]
    return render(
        request,
        "patients/list.html",
        {"query": query, "patients": patients, "error": error, "today": today, "recent": recent},
    )


def patient_new(request: HttpRequest) -> HttpResponse:
    """Step 1: avec ou sans carte Vitale."""
    check_permission(request.user, Perm.PATIENT_ADMIN)
    return render(request, "patients/new.html")


def _patient(patient_id: int) -> Patient:
    try:
        return patient_get(patient_id)
    except Patient.DoesNotExist as exc:
        raise Http404("Patient introuvable") from exc


def _version(request: HttpRequest) -> int:
    """The card's version the form showed; a missing or odd one is a bad request, never a server error."""
    value = request.POST.get("version", "").strip()
    if not (value.isascii() and value.isdigit() and len(value) < 10):
        raise Http404("Version du formulaire manquante : rechargez la fiche.")
    return int(value)


def contact_edit(request: HttpRequest, patient_id: int) -> HttpResponse:
    """« Modifier les coordonnées »: the secretary or a clinician changes the address, phones, e-mail and contact
    preferences; refused values come back as typed with a French message per field, a concurrent save is reported
    (nothing lost, nothing overwritten)."""
    check_permission(request.user, Perm.PATIENT_ADMIN)
    patient = _patient(patient_id)
    values = {name: getattr(patient, name) for name in CONTACT_FIELDS}
    errors: dict[str, str] = {}
    status = 200
    version = patient.version
    if request.method == "POST":
        values = {name: request.POST.get(name, "") for name in CONTACT_FIELDS}
        try:
            patient_update_contact(
                actor=request.user, patient=patient, contact=values, version=_version(request), request=request
            )
        except PatientDataError as exc:
            errors, status = exc.errors, 400
            version = _version(request)
        except PatientConflict as exc:
            messages.error(request, str(exc))
            status = 409  # the form shows what was typed and, beside it, the values saved meanwhile
        else:
            messages.success(request, "Coordonnées enregistrées.")
            return redirect("patients:chart", patient_id=patient.pk)
    else:
        audit_patient_read(request, "patient.contact.read", patient.pk)
    return render(
        request,
        "patients/contact_form.html",
        {
            "patient": patient,
            "identity": patient.identity,
            "values": values,
            "errors": errors,
            "version": version,
            "conflict": status == 409,
            "maxlengths": MAX_LENGTHS,
            "preferences": ContactPreference.choices,
        },
        status=status,
    )


def _date(value: str, field: str, errors: dict[str, str]) -> dt.date | None:
    """A date from <input type=date> (AAAA-MM-JJ) or typed as JJ/MM/AAAA; an error for anything else."""
    value = value.strip()
    if not value:
        return None
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    errors[field] = "Date invalide : JJ/MM/AAAA."
    return None


def medecin_traitant_edit(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The médecin traitant: a doctor of the practice, a correspondent of the care team or a name; since when; the
    declaration made to the Assurance Maladie and its date (issue 13 §1). What was typed comes back on error."""
    check_permission(request.user, Perm.PATIENT_ADMIN)
    patient = _patient(patient_id)
    doctors = list(User.objects.filter(role__in=MEDECIN_TRAITANT_ROLES, is_active=True).order_by("last_name"))
    team = [link.correspondent for link in patient_correspondents(patient)]
    team = list({c.pk: c for c in team}.values())
    if patient.medecin_traitant_correspondent is not None and patient.medecin_traitant_correspondent not in team:
        team.insert(0, patient.medecin_traitant_correspondent)
    choice = (
        f"u{patient.medecin_traitant_id}"
        if patient.medecin_traitant_id
        else f"c{patient.medecin_traitant_correspondent_id}"
        if patient.medecin_traitant_correspondent_id
        else "autre"
        if patient.medecin_traitant_externe
        else ""
    )
    values = {
        "choice": choice,
        "external": patient.medecin_traitant_externe if choice == "autre" else "",
        "since": patient.medecin_traitant_since.isoformat() if patient.medecin_traitant_since else "",
        "declared": "1" if patient.medecin_traitant_declared else "",
        "declared_on": patient.medecin_traitant_declared_on.isoformat() if patient.medecin_traitant_declared_on else "",
    }
    errors: dict[str, str] = {}
    status = 200
    version = patient.version
    if request.method == "POST":
        values = {name: request.POST.get(name, "") for name in values}
        version = _version(request)
        since = _date(values["since"], "since", errors)
        declared_on = _date(values["declared_on"], "declared_on", errors)
        doctor = next((d for d in doctors if f"u{d.pk}" == values["choice"]), None)
        correspondent: Correspondent | None = next((c for c in team if f"c{c.pk}" == values["choice"]), None)
        if values["choice"] not in ("", "autre") and doctor is None and correspondent is None:
            errors["choice"] = "Choix inconnu : choisissez dans la liste."
        if not errors:
            try:
                patient_set_medecin_traitant(
                    actor=request.user,
                    patient=patient,
                    version=version,
                    doctor=doctor,
                    correspondent=correspondent,
                    external=values["external"] if values["choice"] == "autre" else "",
                    since=since,
                    declared=values["declared"] == "1",
                    declared_on=declared_on,
                    request=request,
                )
            except PatientDataError as exc:
                errors = exc.errors
            except PatientConflict as exc:
                messages.error(request, str(exc))
                status, version = 409, patient.version  # the card as saved meanwhile is shown beside the form
            else:
                messages.success(request, "Médecin traitant enregistré.")
                return redirect("patients:chart", patient_id=patient.pk)
        if errors:
            status = 400
    else:
        audit_patient_read(request, "patient.medecin_traitant.read", patient.pk)
    return render(
        request,
        "patients/medecin_traitant_form.html",
        {
            "patient": patient,
            "identity": patient.identity,
            "values": values,
            "errors": errors,
            "version": version,
            "conflict": status == 409,
            "doctors": [(f"u{d.pk}", d.display_name()) for d in doctors],
            "team": [(f"c{c.pk}", c) for c in team],
            "external_max": Patient._meta.get_field("medecin_traitant_externe").max_length,
        },
        status=status,
    )


@require_POST
def care_team_remove(request: HttpRequest, patient_id: int, link_id: int) -> HttpResponse:
    """« Retirer » on a row of the care team: the link goes (audited), the correspondent stays in the address book."""
    check_permission(request.user, Perm.PATIENT_ADMIN)
    patient = _patient(patient_id)
    link = PatientCorrespondent.objects.filter(pk=link_id, patient=patient).select_related("correspondent").first()
    if link is None:
        raise Http404("Ce correspondant n'est plus dans l'équipe de soins.")
    correspondent_unlink(
        actor=request.user, patient=patient, correspondent=link.correspondent, role=link.role, request=request
    )
    messages.success(request, f"{link.correspondent} retiré de l'équipe de soins ({link.get_role_display()}).")
    return redirect(reverse("patients:chart", args=[patient.pk]) + "#h-equipe")
