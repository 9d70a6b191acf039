"""The « Remplacement » page: the doctor opens a replacement for a remplaçant and ends it on return.

Thin views: the services in `accounts.replacement` check who may do what and audit it.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from caducee.accounts.models import Replacement, Role, User
from caducee.accounts.permissions import Perm, has_permission
from caducee.accounts.replacement import (
    REMPLACANT_ROLES,
    ReplacementError,
    open_replacement_for,
    replacement_candidates,
    replacement_close,
    replacement_open,
    replacements_given,
    replacements_open,
    replacements_taken,
)
from caducee.core.inputs import parse_id

HISTORY_LIMIT = 50


def _may_see(user: object) -> bool:
    """The médecins and remplaçants (their replacements), the administrator (ends any); nobody else."""
    professional = has_permission(user, Perm.CLINICAL_WRITE) and getattr(user, "role", "") in REMPLACANT_ROLES
    return professional or has_permission(user, Perm.PRACTICE_MANAGE)


def replacement_page(request: HttpRequest) -> HttpResponse:
    """GET: the page; POST: open a replacement for the chosen remplaçant."""
    user = request.user
    if not _may_see(user):
        raise PermissionDenied("Action non autorisée pour ce profil.")
    if request.method == "POST":
        chosen = _int(request.POST.get("remplacant"))
        remplacant = User.objects.filter(pk=chosen).first() if chosen is not None else None
        if remplacant is None:
            messages.error(request, "Choisissez le remplaçant.")
            return redirect("replacement:page")
        try:
            replacement_open(actor=user, remplacant=remplacant, request=request)
        except ReplacementError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                f"Remplacement ouvert : {remplacant.display_name()} travaille désormais en votre remplacement.",
            )
        return redirect("replacement:page")
    given = list(replacements_given(user)[:HISTORY_LIMIT])
    context = {
        "can_open": getattr(user, "role", "") == Role.MEDECIN,
        "current_given": [r for r in given if r.closed_at is None],
        "past_given": [r for r in given if r.closed_at is not None],
        "candidates": replacement_candidates(user) if getattr(user, "role", "") == Role.MEDECIN else [],
        "taken_open": open_replacement_for(user),
        "taken": list(replacements_taken(user)[:HISTORY_LIMIT]),
        "is_admin": has_permission(user, Perm.PRACTICE_MANAGE),
        "all_open": list(replacements_open()) if has_permission(user, Perm.PRACTICE_MANAGE) else [],
    }
    return render(request, "accounts/replacement.html", context)


@require_POST
def replacement_end(request: HttpRequest, replacement_id: int) -> HttpResponse:
    """« Fin du remplacement »."""
    if not _may_see(request.user):
        raise PermissionDenied("Action non autorisée pour ce profil.")
    replacement = get_object_or_404(Replacement.objects.select_related("replaced", "remplacant"), pk=replacement_id)
    try:
        replacement_close(actor=request.user, replacement=replacement, request=request)
    except ReplacementError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Fin du remplacement de {replacement.remplacant.display_name()}.")
    return redirect("replacement:page")


def _int(value: str | None) -> int | None:
    return parse_id(value)  # ASCII digits in the database's range (issue 13 §4: "²".isdigit() made a 500)
