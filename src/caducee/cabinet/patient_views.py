"""The patient screens that compose several apps: creation from the carte Vitale (teleservices) and the chart
(identity panel, clinical record, consultations)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from caducee.accounts.models import Practice, User
from caducee.accounts.permissions import Perm, check_permission, has_permission
from caducee.identity.models import Sex, french_date
from caducee.identity.selectors import accepted_documents, identity_panel
from caducee.identity.traits import TRAIT_LABELS, TraitsError, clean_traits
from caducee.patients.models import Patient
from caducee.patients.services import patient_create, patient_open
from caducee.patients.views import CONTACT_FIELDS
from caducee.record.views import record_context
from caducee.teleservices.vitale import VitaleReaderError, find_beneficiary, vitale_reader


def patient_new_vitale(request: HttpRequest) -> HttpResponse:
    """Read the card and list its beneficiaries: one click picks the patient."""
    check_permission(request.user, Perm.PATIENT_ADMIN)
    try:
        cards = vitale_reader().read()
    except VitaleReaderError as exc:
        messages.error(request, str(exc))
        return redirect("patients:new")
    return render(request, "patients/vitale.html", {"cards": cards})


def patient_new_form(request: HttpRequest) -> HttpResponse:
    check_permission(request.user, Perm.PATIENT_ADMIN)
    values: dict[str, str] = {"birthplace_cog": ""}
    vitale = {
        "nir_od": "",
        "rang": "",
        "card": request.GET.get("carte", ""),
        "index": request.GET.get("b", ""),
    }
    if vitale["card"]:
        try:
            card, beneficiary = find_beneficiary(vitale["card"], int(vitale["index"] or 0))
        except (VitaleReaderError, ValueError) as exc:
            messages.error(request, str(exc))
            return redirect("patients:new")
        values.update(
            birth_name=beneficiary.birth_name,
            first_given_name=beneficiary.given_name,
            birth_date=french_date(beneficiary.birth_date),
            sex=beneficiary.sex,
            used_name=beneficiary.used_name,
        )
        vitale.update(nir_od=card.nir_od, rang=beneficiary.rang)
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in (*TRAIT_LABELS, *CONTACT_FIELDS)}
        vitale.update(nir_od=request.POST.get("vitale_nir_od", ""), rang=request.POST.get("vitale_rang", ""))
        try:
            traits = clean_traits(values)
        except TraitsError as exc:
            errors = exc.errors
        else:
            patient = patient_create(
                actor=request.user,
                traits=traits,
                contact={k: values[k].strip() for k in CONTACT_FIELDS},
                vitale_nir_od=vitale["nir_od"],
                vitale_rang=vitale["rang"],
                request=request,
            )
            messages.success(request, "Patient créé. Identité provisoire : interrogez INSi pour la récupérer.")
            return redirect("patients:chart", patient_id=patient.pk)
    return render(
        request,
        "patients/form.html",
        {
            "values": values,
            "errors": errors,
            "labels": TRAIT_LABELS,
            "sexes": Sex.choices,
            "vitale": vitale,
        },
        status=400 if errors else 200,
    )


def patient_chart(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The chart's identity panel: traits, status pastille, what remains to reach QUAL, INSi and document."""
    try:
        patient = patient_open(actor=request.user, patient_id=patient_id, request=request)
    except Patient.DoesNotExist as exc:
        raise Http404("Patient introuvable") from exc
    context = identity_panel(patient.identity)
    context.update(
        patient=patient,
        documents=accepted_documents(Practice.objects.first()),
        doctors=User.objects.filter(role__in=("medecin", "remplacant"), is_active=True),
        insi_url=reverse("identity:insi", args=[patient.identity.pk]),
        can_consult=has_permission(request.user, Perm.CLINICAL_WRITE),
    )
    context.update(record_context(request.user, patient))
    if has_permission(request.user, Perm.CLINICAL_READ):
        context["consultations"] = list(patient.consultations.select_related("author")[:10])
    return render(request, "patients/chart.html", context)
