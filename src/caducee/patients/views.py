from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from caducee.accounts.permissions import Perm, check_permission
from caducee.patients.selectors import SearchError, patient_search

CONTACT_FIELDS = ("address_line", "postal_code", "city", "phone", "email")


def patient_list(request: HttpRequest) -> HttpResponse:
    check_permission(request.user, Perm.PATIENT_ADMIN)
    query = request.GET.get("q", "")
    error, patients = "", []
    try:
        patients = list(patient_search(query))
    except SearchError as exc:
        error = str(exc)
    template = "patients/_results.html" if request.headers.get("X-Partial") else "patients/list.html"
    return render(request, template, {"query": query, "patients": patients, "error": error})


def patient_new(request: HttpRequest) -> HttpResponse:
    """Step 1: avec ou sans carte Vitale."""
    check_permission(request.user, Perm.PATIENT_ADMIN)
    return render(request, "patients/new.html")
