"""« Importer des documents » (issue 13 §2): paper or received documents into the chart, several at once.

One form for the batch — type, date, origin, and the files (dropped on the zone or chosen); each file is checked by
its content (`core.uploads.check_upload`) and imported on its own: the page then says, file by file, what was stored
and what was refused with the reason. A refused file never blocks the others.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from caducee.accounts.permissions import Perm, check_permission
from caducee.core.uploads import UploadError, check_upload
from caducee.documents.cda.header import MissingDataError
from caducee.documents.imports import IMPORT_TYPES, DocumentImportError, document_import
from caducee.patients.models import Patient

ACCEPTED = ("pdf", "jpeg", "png")
MAX_FILES = settings.DATA_UPLOAD_MAX_NUMBER_FILES


def _file_max_bytes() -> int:
    """Per file (the whole request is bounded by UPLOAD_MAX_BYTES in the middleware): 10 Mo unless configured."""
    return min(getattr(settings, "IMPORT_FILE_MAX_BYTES", 10 * 1024 * 1024), settings.UPLOAD_MAX_BYTES)


def _date(raw: str) -> dt.date | None:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(raw.strip(), fmt).date()
        except ValueError:
            continue
    return None


def document_import_view(request: HttpRequest, patient_id: int) -> HttpResponse:
    check_permission(request.user, Perm.CLINICAL_WRITE)
    patient = get_object_or_404(Patient.objects.select_related("identity"), pk=patient_id)
    form = {
        "type": request.POST.get("type", "courrier"),
        "date": request.POST.get("date", timezone.localdate().isoformat()),
        "origin": request.POST.get("origine", ""),
        "title": request.POST.get("titre", ""),
    }
    results: list[tuple[str, str, bool]] = []  # (file name, what happened, stored)
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        files = request.FILES.getlist("fichiers")
        document_date = _date(form["date"])
        if form["type"] not in IMPORT_TYPES:
            errors.append("Choisissez le type du document.")
        if document_date is None:
            errors.append("Date du document illisible (JJ/MM/AAAA).")
        if not files:
            errors.append("Aucun fichier reçu : déposez ou choisissez au moins un fichier.")
        if len(files) > MAX_FILES:
            errors.append(f"{len(files)} fichiers : {MAX_FILES} au maximum par envoi.")
        stored = 0
        if not errors and document_date is not None:
            for upload in files:
                name = (upload.name or "fichier")[:120]
                try:
                    kind = check_upload(upload, kinds=ACCEPTED, max_bytes=_file_max_bytes())
                    document_import(
                        actor=request.user,
                        patient=patient,
                        data=upload.read(),
                        kind=kind,
                        type_key=form["type"],
                        document_date=document_date,
                        origin=form["origin"],
                        title=form["title"],
                        request=request,
                    )
                except (UploadError, DocumentImportError) as exc:
                    results.append((name, str(exc), False))
                except MissingDataError as exc:
                    results.append((name, f"Non importé : {exc}", False))
                else:
                    stored += 1
                    results.append((name, "Importé", True))
        if stored and stored == len(files):
            messages.success(request, f"{stored} document(s) importé(s).")
            return redirect("documents:list", patient_id=patient.pk)
        status = 400 if (errors or not stored) else 200
    return render(
        request,
        "documents/import.html",
        {
            "patient": patient,
            "identity": patient.identity,
            "types": [(key, t.label) for key, t in IMPORT_TYPES.items()],
            "form": form,
            "errors": errors,
            "results": results,
            "max_mb": _file_max_bytes() // (1024 * 1024),
            "total_mb": settings.UPLOAD_MAX_BYTES // (1024 * 1024),
            "max_files": MAX_FILES,
        },
        status=status,
    )
