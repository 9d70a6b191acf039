from __future__ import annotations

import unicodedata

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_patient_read
from caducee.core.inputs import id_or_404, model_max_length, too_long
from caducee.identity.matricule import nature
from caducee.identity.models import Identity, InsiCall, Sex, VigilanceCase, french_date
from caducee.identity.selectors import differing_traits, identity_panel, insi_call_for, open_vigilance_cases
from caducee.identity.services import (
    IdentityError,
    identity_accept_insi,
    identity_check_document,
    identity_query_insi,
    identity_set_attributes,
    identity_update,
    vigilance_resolve,
)
from caducee.identity.traits import STRICT_TRAITS, TRAIT_LABELS, TraitsError, clean_traits


def _identity(identity_id: int) -> Identity:
    return get_object_or_404(Identity.objects.select_related("patient"), pk=identity_id)


def _audit_read(request: HttpRequest, identity: Identity) -> None:
    """Showing an identity is a read of the patient's record (issue 6 §2: every read audited, naming the patient)."""
    audit_patient_read(request, "identity.read", identity.patient.pk, object_type="identity", object_id=identity.pk)


def _back(identity: Identity) -> HttpResponse:
    return redirect("patients:chart", patient_id=identity.patient.pk)


def _version(request: HttpRequest) -> int:
    # ASCII digits in the database's range (issue 13 §4: int() took "٣" and a 25-digit version overflowed).
    return id_or_404(request.POST.get("version", ""), "Version manquante")


@require_POST
def insi_query(request: HttpRequest, identity_id: int) -> HttpResponse:
    identity = _identity(identity_id)
    try:
        call = identity_query_insi(actor=request.user, identity=identity, request=request)
    except IdentityError as exc:
        messages.error(request, str(exc))
        return _back(identity)
    return redirect("identity:insi_result", identity_id=identity.pk, call_id=call.pk)


def _insi_detail(call: InsiCall) -> str:
    """INSi's own message when it adds to the outcome's label; "" when it repeats it (issue 13 §3: « Aucune identité
    trouvée — Aucune identite trouvee » was shown twice, INSi's label being the same words without accents)."""
    if call.outcome == InsiCall.Outcome.FOUND or not call.message:
        return ""
    return "" if _folded(call.message) == _folded(call.get_outcome_display()) else call.message


def _folded(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold().strip()


def insi_result(request: HttpRequest, identity_id: int, call_id: int) -> HttpResponse:
    """INSi's traits beside the local ones; accept in one click."""
    check_permission(request.user, Perm.IDENTITY_MANAGE)
    identity = _identity(identity_id)
    call = insi_call_for(identity, call_id)
    if call is None:
        raise Http404("Appel INSi introuvable")
    _audit_read(request, identity)
    rows = []
    if call.result:
        returned = {
            "birth_name": call.result.get("birth_name"),
            "birth_given_names": call.result.get("given_names"),
            "first_given_name": call.result.get("first_given_name"),
            "birth_date": call.result.get("birth_date"),
            "sex": call.result.get("sex"),
            "birthplace_cog": call.result.get("birthplace_cog") or "99999",
        }
        differ = set(differing_traits(identity, call))
        shown = {"birth_date": french_date}
        rows = [
            (
                TRAIT_LABELS[f],
                shown.get(f, str)(getattr(identity, f)),
                shown.get(f, str)(returned[f] or ""),
                f in differ,
            )
            for f in STRICT_TRAITS
        ]
    first_ok = not call.result or identity.first_given_name in (call.result.get("given_names") or "").split()
    return render(
        request,
        "identity/insi_result.html",
        {
            "identity": identity,
            "call": call,
            "insi_detail": _insi_detail(call),
            "rows": rows,
            "nature": nature(call.result.get("oid", "")),
            "first_name_consistent": first_ok,
        },
    )


@require_POST
def insi_accept(request: HttpRequest, identity_id: int, call_id: int) -> HttpResponse:
    identity = _identity(identity_id)
    try:
        identity = identity_accept_insi(
            actor=request.user, identity=identity, call_id=call_id, version=_version(request), request=request
        )
    except IdentityError as exc:
        messages.error(request, str(exc))
        return _back(identity)
    messages.success(request, f"Identité INSi intégrée : {identity.get_status_display().lower()}.")
    return _back(identity)


@require_POST
def document_check(request: HttpRequest, identity_id: int) -> HttpResponse:
    identity = _identity(identity_id)
    if request.POST.get("checked") != "1":
        messages.error(request, "Cochez « J'ai vérifié la pièce d'identité » pour valider.")
        return _back(identity)
    try:
        identity = identity_check_document(
            actor=request.user,
            identity=identity,
            version=_version(request),
            document=request.POST.get("document", ""),
            request=request,
        )
    except IdentityError as exc:
        messages.error(request, str(exc))
        return _back(identity)
    messages.success(request, f"Justificatif enregistré : {identity.get_status_display().lower()}.")
    return _back(identity)


def identity_edit(request: HttpRequest, identity_id: int) -> HttpResponse:
    check_permission(request.user, Perm.IDENTITY_MANAGE)
    identity = _identity(identity_id)
    values = {f: getattr(identity, f) for f in TRAIT_LABELS}
    values["birth_date"] = identity.birth_date_display
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {f: request.POST.get(f, values[f]) for f in TRAIT_LABELS}
        try:
            identity = identity_update(
                actor=request.user,
                identity=identity,
                version=_version(request),
                traits=clean_traits(values),
                request=request,
            )
        except TraitsError as exc:
            errors = exc.errors
        except (IdentityError, PermissionDenied) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Identité enregistrée.")
            return _back(identity)
    if request.method != "POST":
        _audit_read(request, identity)
    locked = identity.status in ("RECUP", "QUAL") and not request.user.is_identity_superuser  # type: ignore[union-attr]
    return render(
        request,
        "identity/edit.html",
        {
            **identity_panel(identity),
            "values": values,
            "errors": errors,
            "labels": TRAIT_LABELS,
            "sexes": Sex.choices,
            "locked": locked,
        },
        status=400 if errors else 200,
    )


@require_POST
def identity_attributes(request: HttpRequest, identity_id: int) -> HttpResponse:
    identity = _identity(identity_id)
    try:
        identity_set_attributes(
            actor=request.user,
            identity=identity,
            version=_version(request),
            doubtful=request.POST.get("doubtful") == "1",
            fictitious=request.POST.get("fictitious") == "1",
            request=request,
        )
    except IdentityError as exc:  # a stale version (the form sent twice, or changed elsewhere): the French reason
        messages.error(request, str(exc))
        return _back(identity)
    messages.success(request, "Attributs d'identité enregistrés.")
    return _back(identity)


def vigilance_list(request: HttpRequest) -> HttpResponse:
    check_permission(request.user, Perm.IDENTITY_VIGILANCE)
    return render(request, "identity/vigilance.html", {"cases": open_vigilance_cases()})


@require_POST
def vigilance_close(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_object_or_404(VigilanceCase, pk=case_id)
    resolution = request.POST.get("resolution", "Traité")
    if error := too_long(resolution.strip(), model_max_length(VigilanceCase, "resolution")):
        # Issue 13 §4: refused, not cut; the list comes back with the text typed in the case's field.
        check_permission(request.user, Perm.IDENTITY_VIGILANCE)
        messages.error(request, f"Résolution : {error}")
        context = {"cases": open_vigilance_cases(), "typed": {"case": case.pk, "resolution": resolution}}
        return render(request, "identity/vigilance.html", context, status=400)
    vigilance_resolve(actor=request.user, case=case, resolution=resolution, request=request)
    messages.success(request, "Signalement clos.")
    return redirect("identity:vigilance")
