"""The practice's settings page (« Structure », URL name `accounts:practice`): see `caducee.cabinet.practice`."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from caducee.accounts.models import Practice
from caducee.accounts.permissions import Perm, check_permission
from caducee.cabinet.practice import practice_update_settings
from caducee.identity.models import ID_DOCUMENTS


def practice_view(request: HttpRequest) -> HttpResponse:
    """The practice's settings: the high-trust identity documents accepted (R19)."""
    check_permission(request.user, Perm.PRACTICE_MANAGE)
    practice = Practice.objects.first()
    if practice is None:
        return render(request, "404.html", status=404)
    if request.method == "POST":
        try:
            practice_update_settings(
                actor=request.user,
                practice=practice,
                documents=request.POST.getlist("documents"),
                summary_model=request.POST.get("summary_model", practice.summary_model),
                request=request,
            )
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Paramètres enregistrés.")
        return redirect("accounts:practice")
    return render(
        request,
        "accounts/practice.html",
        {
            "practice": practice,
            "documents": ID_DOCUMENTS,
            "summary_models": Practice.SummaryModel.choices,
        },
    )
