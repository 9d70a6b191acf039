"""Letter screens: choose a template (and the correspondent), edit the merged text, save it as an N1 document.

Three clicks from the patient's documents: "Nouveau courrier", the template, "Enregistrer".
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_patient_read
from caducee.core.inputs import id_or_404
from caducee.documents.cda.header import MissingDataError
from caducee.documents.letters.merge import FIELDS, MergeError
from caducee.documents.letters.services import CORRESPONDENT_MAX, LetterError, letter_create, letter_draft
from caducee.documents.models import LetterTemplate
from caducee.patients.models import Patient


def _patient(patient_id: int) -> Patient:
    return get_object_or_404(Patient.objects.select_related("identity", "medecin_traitant"), pk=patient_id)


def _template(raw: str | None) -> LetterTemplate:
    template_id = id_or_404(raw, "Modèle de courrier inconnu.")  # ASCII digits only: "²".isdigit() (issue 13 §4)
    return get_object_or_404(LetterTemplate, pk=template_id, is_active=True)


def _audit_read(request: HttpRequest, patient: Patient, action: str) -> None:
    """The letter screens show the patient's data (merged into the text): a read of the record (issue 6 §2)."""
    audit_patient_read(request, action, patient.pk)


def suggested_correspondent(patient: Patient, author: Any) -> str:
    """The patient's médecin traitant, when it is someone else than the author (who writes to them)."""
    if patient.medecin_traitant is not None and patient.medecin_traitant != author:
        return patient.medecin_traitant.display_name()
    return patient.medecin_traitant_externe


def letter_choose(request: HttpRequest, patient_id: int) -> HttpResponse:
    check_permission(request.user, Perm.CLINICAL_WRITE)
    patient = _patient(patient_id)
    _audit_read(request, patient, "letter.new")
    return render(
        request,
        "documents/letters/choose.html",
        {
            "patient": patient,
            "identity": patient.identity,
            "templates": LetterTemplate.objects.filter(is_active=True),
            "correspondent": suggested_correspondent(patient, request.user),
            "correspondent_max": CORRESPONDENT_MAX,
        },
    )


def letter_write(request: HttpRequest, patient_id: int) -> HttpResponse:
    check_permission(request.user, Perm.CLINICAL_WRITE)
    patient = _patient(patient_id)
    errors: list[str] = []
    if request.method == "POST":
        template = _template(request.POST.get("modele"))
        correspondent = request.POST.get("correspondant", "")
        body = request.POST.get("texte", "")
        try:
            document = letter_create(
                actor=request.user,
                patient=patient,
                template=template,
                correspondent=correspondent,
                body=body,
                request=request,
            )
        except MissingDataError as exc:
            errors = ["Courrier non enregistré, des données obligatoires manquent :", *exc.problems]
        except (MergeError, LetterError) as exc:
            errors = [str(exc)]
        else:
            messages.success(request, f"Courrier enregistré : {document.title}.")
            return redirect("documents:detail", document_id=document.pk)
    else:
        template = _template(request.GET.get("modele"))
        correspondent = request.GET.get("correspondant", "")
        _audit_read(request, patient, "letter.draft")
        try:
            body = letter_draft(actor=request.user, patient=patient, template=template, correspondent=correspondent)
        except MergeError as exc:
            # The template itself is wrong: show it unmerged, with the error, so the doctor can still write.
            body = template.body
            errors = [str(exc)]
    return render(
        request,
        "documents/letters/write.html",
        {
            "patient": patient,
            "identity": patient.identity,
            "template": template,
            "correspondent": correspondent,
            "correspondent_max": CORRESPONDENT_MAX,
            "body": body,
            "errors": errors,
            "fields": FIELDS.items(),
        },
        status=400 if errors and request.method == "POST" else 200,
    )
