"""Consultation screens: the consultation and its one-click validation panel (issue 3 §2, issue 4, issue 5 §6)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from caducee.accounts.models import Practice
from caducee.accounts.permissions import Perm, check_permission
from caducee.cabinet.consultations import Findings, consultation_validate
from caducee.cabinet.selectors import vsm_default
from caducee.core.audit import audit_record
from caducee.core.inputs import model_max_length, parse_id, too_long
from caducee.dmp.selectors import dmp_feed_refusal
from caducee.documents.cda.header import MissingDataError
from caducee.documents.production import summary_model
from caducee.documents.sharing_matrix import dmp_default, mss_to_medecin_traitant_default
from caducee.mss.selectors import proposed_recipients
from caducee.mss.services import MssServiceError
from caducee.patients.models import Patient
from caducee.record.consultations import ConsultationError, consultation_open, consultation_save
from caducee.record.models import Consultation, Problem
from caducee.record.selectors import record_changed_since, record_summary


@require_POST
def consultation_new(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=patient_id)
    consultation = consultation_open(actor=request.user, patient=patient, request=request)
    return redirect("consultations:detail", consultation_id=consultation.pk)


def consultation_detail(request: HttpRequest, consultation_id: int) -> HttpResponse:
    """The consultation with its validation panel pre-filled: VSM ticked when it should be, every VSM
    element listed with a box the doctor can untick."""
    check_permission(request.user, Perm.CLINICAL_READ)
    consultation = get_object_or_404(
        Consultation.objects.select_related("patient", "patient__identity", "author"), pk=consultation_id
    )
    return _detail(request, consultation)


def _detail(request: HttpRequest, consultation: Consultation, *, status: int = 200) -> HttpResponse:
    patient = consultation.patient
    audit_record(
        actor=request.user,
        action="consultation.read",
        object_type="consultation",
        object_id=consultation.pk,
        patient_id=patient.pk,
        request=request,
    )
    summary = record_summary(patient)
    sections: dict[str, list] = {}
    model = summary_model(Practice.objects.first())
    # The elements of the summary model the practice produces (VSM 1.4 or IPS-FR), so every one can be unticked.
    for element in model.elements(summary):
        sections.setdefault(element.section_label, []).append(element)
    # "Envoyer au DMP": offered only when the one rule allows it (QUAL identity R28, no opposition SC.DMP/CONF.06),
    # otherwise the panel says why; pre-ticked per the arrêté of 26 April 2022 matrix and the forfait structure
    # policy (caducee.documents.sharing_matrix).
    dmp_refusal = dmp_feed_refusal(patient)
    dmp_offered = not dmp_refusal
    # MSSanté (issue 5 §6): the recipients proposed for this patient; the médecin traitant pre-ticked when the arrêté
    # asks for an MSSanté send of this document and the author is not the médecin traitant (LGC.MSS.03).
    author_is_mt = patient.medecin_traitant_id == request.user.pk
    mt_default = mss_to_medecin_traitant_default(
        model.type_code.code, model.type_code.system, consultation.date, author_is_mt=author_is_mt
    )
    mss_recipients = [
        (r, mt_default and r.role == "medecin_traitant")
        for r in proposed_recipients(patient, request.user)  # type: ignore[arg-type]
    ]
    return render(
        request,
        "record/consultation.html",
        {
            "consultation": consultation,
            "patient": patient,
            "identity": patient.identity,
            "vsm_ticked": vsm_default(patient, changed_since=record_changed_since),
            "vsm_sections": sections,
            "dmp_offered": dmp_offered,
            "dmp_refusal": dmp_refusal,
            "dmp_ticked": dmp_offered
            and dmp_default(model.type_code.code, model.type_code.system, on=consultation.date),
            "documents": list(consultation.documents.all()),
            "mss_recipients": mss_recipients,
        },
        status=status,
    )


@require_POST
def consultation_submit(request: HttpRequest, consultation_id: int) -> HttpResponse:
    """'Enregistrer' saves the draft; 'Valider' saves and validates with the panel's choices, in one click."""
    consultation = get_object_or_404(Consultation.objects.select_related("patient"), pk=consultation_id)
    version, refused = _typed_refusal(request)
    if refused:
        # Issue 13 §4: refused with the French reason, and the page comes back with everything typed (not saved).
        check_permission(request.user, Perm.CLINICAL_WRITE)
        for name in TEXT_FIELDS:
            setattr(consultation, name, request.POST.get(name, getattr(consultation, name)))
        for message in refused:
            messages.error(request, message)
        return _detail(request, consultation, status=400)
    try:
        consultation = consultation_save(
            actor=request.user,
            consultation=consultation,
            version=version,
            fields=request.POST.dict(),
            request=request,
        )
        if request.POST.get("action") != "validate":
            messages.success(request, "Consultation enregistrée.")
            return redirect("consultations:detail", consultation_id=consultation.pk)
        findings = _findings(request)
        keep = set(request.POST.getlist("vsm_keep"))
        listed = set(request.POST.getlist("vsm_listed"))
        produced = consultation_validate(
            actor=request.user,
            consultation=consultation,
            make_vsm=request.POST.get("vsm") == "1",
            vsm_exclude=listed - keep,
            findings=findings,
            send_dmp=request.POST.get("dmp") == "1",
            dmp_visibility=frozenset(request.POST.getlist("dmp_visibility")) & DMP_VISIBILITY,
            mss_recipients=request.POST.getlist("mss_to"),
            request=request,
        )
    except MissingDataError as exc:
        messages.error(request, f"Consultation non validée, rien n'a été enregistré : {exc}")
        return redirect("consultations:detail", consultation_id=consultation.pk)
    except ValidationError as exc:
        messages.error(request, "Consultation non validée : " + " ".join(exc.messages))
        return redirect("consultations:detail", consultation_id=consultation.pk)
    except (ConsultationError, MssServiceError, ValueError) as exc:
        messages.error(request, str(exc))
        return redirect("consultations:detail", consultation_id=consultation.pk)
    names = ", ".join(d.title for d in produced)
    messages.success(request, "Consultation validée." + (f" Documents : {names}." if names else ""))
    if produced and request.POST.get("dmp") == "1":
        # Asked for, nothing queued: the doctor is told why, with the reason of the one rule (R28, CONF.06).
        refusal = dmp_feed_refusal(consultation.patient)
        if refusal:
            messages.warning(request, f"DMP non alimenté : {refusal}")
    return redirect("patients:chart", patient_id=consultation.patient_id)


DMP_VISIBILITY = frozenset({"MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"})

TEXT_FIELDS = ("motif", "observation", "examination", "conclusion")
# The form's fields stored in a column of limited length: the consultation's, and the diagnosis added to the problems.
LIMITED_FIELDS = {
    "motif": ("Motif", Consultation, "motif"),
    "diagnostic": ("Diagnostic", Problem, "label"),
    "diagnostic_code": ("Code CIM-10", Problem, "cim10_code"),
}


def _typed_refusal(request: HttpRequest) -> tuple[int, list[str]]:
    """The form's version, and the French reasons to refuse what was typed before anything is saved (issue 13 §4: a
    301-character motif was a 500 on PostgreSQL and the typing was lost)."""
    refused = []
    for name, (label, model, column) in LIMITED_FIELDS.items():
        if error := too_long(request.POST.get(name, "").strip(), model_max_length(model, column)):
            refused.append(f"{label} : {error}")
    version = parse_id(request.POST.get("version", ""))
    if version is None:
        refused.append("Formulaire incomplet (version illisible) : rechargez la page de la consultation.")
    return version or 0, refused


# Measurement fields of the consultation form → vital_record keywords.
MEASURE_FIELDS = {
    "poids": "weight_kg",
    "taille": "height_cm",
    "pas": "systolic",
    "pad": "diastolic",
    "fc": "heart_rate",
}


def _findings(request: HttpRequest) -> Findings:
    measures = {}
    for name, keyword in MEASURE_FIELDS.items():
        raw = request.POST.get(name, "").strip().replace(",", ".")
        if raw:
            try:
                measures[keyword] = Decimal(raw)
            except InvalidOperation as exc:
                raise ValidationError(f"Valeur illisible : {raw}") from exc
    return Findings(
        measures=measures,
        diagnosis_code=request.POST.get("diagnostic_code", "").strip().upper(),
        diagnosis_label=request.POST.get("diagnostic", "").strip(),
    )
