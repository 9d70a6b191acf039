"""The patient screens that compose several apps: creation from the carte Vitale (teleservices), the chart
(identity panel, clinical record, consultations, the administrative card and the care team) and the care team's
search in the MSSanté directory (mss), from which a correspondent joins the patient's care team in two clicks."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from caducee.accounts.models import Practice, User
from caducee.accounts.permissions import Perm, check_permission, has_permission
from caducee.core.audit import audit_patient_read
from caducee.identity.models import Sex, french_date
from caducee.identity.selectors import accepted_documents, identity_panel
from caducee.identity.traits import TRAIT_LABELS, TraitsError, clean_traits
from caducee.mss.annuaire.search import directory_search
from caducee.mss.models import DirectoryEntry, Mailbox, MailboxKind
from caducee.patients.contact import CONTACT_FIELDS, MAX_LENGTHS, contact_clean
from caducee.patients.correspondents import correspondent_from_directory, correspondent_link
from caducee.patients.errors import PatientDataError
from caducee.patients.models import CorrespondentRole, Patient
from caducee.patients.selectors import contact_history, patient_correspondents, patient_get, role_for_profession
from caducee.patients.services import patient_create, patient_open
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
        contact = {k: values[k] for k in CONTACT_FIELDS}
        try:
            contact_clean(contact)  # the contact fields' errors shown with the traits' at once
        except PatientDataError as exc:
            errors.update(exc.errors)
        try:
            traits = clean_traits(values)
        except TraitsError as exc:
            errors.update(exc.errors)
        if not errors:
            patient = patient_create(
                actor=request.user,
                traits=traits,
                contact=contact,
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
            "maxlengths": MAX_LENGTHS,
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
        care_team=care_team(patient),
        contact_history=contact_history(patient),
    )
    context.update(record_context(request.user, patient))
    if has_permission(request.user, Perm.CLINICAL_READ):
        context["consultations"] = list(patient.consultations.select_related("author")[:10])
    return render(request, "patients/chart.html", context)


def care_team(patient: Patient) -> list[dict[str, object]]:
    """The chart's « Équipe de soins »: the médecin traitant of the practice (with his MSSanté mailbox) then the
    patient's correspondents by role (médecin traitant, adresseur, spécialistes, infirmier, pharmacien…)."""
    rows: list[dict[str, object]] = []
    doctor = patient.medecin_traitant
    if doctor is not None:
        box = Mailbox.objects.filter(owner=doctor, kind=MailboxKind.PER, is_active=True).order_by("id").first()
        rows.append(
            {
                "role": "Médecin traitant",
                "name": doctor.display_name(),
                "detail": "médecin du cabinet",
                "mss_address": box.address if box is not None else "",
                "link": None,
            }
        )
    for link in patient_correspondents(patient):
        c = link.correspondent
        rows.append(
            {
                "role": link.get_role_display(),
                "name": str(c),
                "detail": ", ".join(part for part in (c.specialty or c.profession, c.organisation, c.city) if part),
                "phone": c.phone,
                "mss_address": c.mss_address,
                "link": link,
            }
        )
    return rows


DIRECTORY_LIMIT = 20


def _directory_lookup(query: str) -> list[DirectoryEntry]:
    """ "ler lyon" or "ler cardio": the first letters of the name, then a city or a specialty, as on « Envoyer »."""
    words = query.split()
    if not words:
        return []
    name, rest = words[0], " ".join(words[1:])
    if not rest:
        return directory_search(name, limit=DIRECTORY_LIMIT)
    return directory_search(name, city=rest, limit=DIRECTORY_LIMIT) or directory_search(
        name, specialty=rest, limit=DIRECTORY_LIMIT
    )


def care_team_directory(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Add a correspondent to the care team from the MSSanté directory (Annuaire Santé): the chart's search field
    (click 1: Chercher) lists the entries with the role their profession suggests, « Ajouter » (click 2) saves the
    correspondent in the address book and links him to the patient, then back to the chart (issue 13 §1)."""
    check_permission(request.user, Perm.PATIENT_ADMIN)
    try:
        patient = patient_get(patient_id)
    except Patient.DoesNotExist as exc:
        raise Http404("Patient introuvable") from exc
    if request.method == "POST":
        entry_id = request.POST.get("entree", "")
        entry = (
            DirectoryEntry.objects.filter(pk=int(entry_id)).first()
            if entry_id.isascii() and entry_id.isdigit() and len(entry_id) < 19
            else None
        )
        role = request.POST.get("role", CorrespondentRole.AUTRE)
        if entry is None or role not in CorrespondentRole.values:
            raise Http404("Entrée de l'annuaire introuvable.")
        try:
            correspondent = correspondent_from_directory(entry=entry, actor=request.user, request=request)
            correspondent_link(
                actor=request.user, patient=patient, correspondent=correspondent, role=role, request=request
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            label = CorrespondentRole(role).label
            messages.success(request, f"{correspondent} ajouté à l'équipe de soins ({label}).")
            return redirect(reverse("patients:chart", args=[patient.pk]) + "#h-equipe")
    query = " ".join(request.GET.get("q", request.POST.get("q", "")).split())[:100]
    found = _directory_lookup(query)
    if request.method == "GET":
        audit_patient_read(request, "patient.care_team.search", patient.pk)
    return render(
        request,
        "patients/care_team_directory.html",
        {
            "patient": patient,
            "identity": patient.identity,
            "query": query,
            "rows": [(e, role_for_profession(e.profession, e.specialty)) for e in found],
            "roles": CorrespondentRole.choices,
            "limit_reached": len(found) >= DIRECTORY_LIMIT,
            "too_short": bool(query) and len(query.split()[0]) < 2,
        },
    )
