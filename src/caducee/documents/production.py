"""Producing documents from the record: the VSM (consultation validation, documents menu, bulk command).

One place builds a VSM and stores it with its PDF, so the three entry points cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.models import Practice
from caducee.accounts.permissions import Perm, check_permission
from caducee.documents.cda import codes
from caducee.documents.cda.vsm import build_vsm, vsm_elements
from caducee.documents.models import Document
from caducee.documents.pdf import PdfSection, render_pdf
from caducee.documents.services import document_ids_new, document_store
from caducee.patients.models import Patient
from caducee.record.selectors import RecordSummary, record_summary

VSM_TITLE = "Volet de synthèse médicale"


def vsm_pdf_sections(summary: RecordSummary, exclude: set[str]) -> list[PdfSection]:
    """The PDF shows exactly what the CDA carries: the same elements, minus the unticked ones."""
    sections: dict[str, PdfSection] = {}
    for element in vsm_elements(summary):
        section = sections.setdefault(element.section_label, PdfSection(element.section_label))
        if element.key not in exclude:
            section.lines.append(element.text)
    return list(sections.values())


def vsm_create(
    *,
    actor: Any,
    patient: Patient,
    exclude: Iterable[str] = (),
    consultation: Any = None,
    request: HttpRequest | None = None,
) -> Document:
    """Build the VSM (CDA + PDF) of `patient` and store it. MissingDataError (plain French list) when mandatory
    data is missing: nothing is stored then."""
    check_permission(actor, Perm.CLINICAL_WRITE)  # before anything is read or built
    practice = Practice.objects.get()
    summary = record_summary(patient)
    excluded = set(exclude)
    now = timezone.now()
    with transaction.atomic():
        previous = Document.objects.filter(patient=patient, model="vsm").order_by("-created_at", "-id").first()
        ids = document_ids_new(practice=practice, replaces=previous)
        cda = build_vsm(
            summary=summary,
            ids=ids,
            practice=practice,
            author=actor,
            effective_time=now,
            exclude=excluded,
            replaces=previous_ids(previous),
        )
        pdf = render_pdf(
            title=VSM_TITLE,
            practice=practice,
            author=actor,
            identity=patient.identity,
            sections=vsm_pdf_sections(summary, excluded),
            date_text=f"Établi le {timezone.localtime(now):%d/%m/%Y}",
        )
        return document_store(
            actor=actor,
            patient=patient,
            ids=ids,
            model="vsm",
            type_code=codes.DOC_SYNTH.code,
            type_code_system=codes.DOC_SYNTH.system,
            type_label=VSM_TITLE,
            title=VSM_TITLE,
            cda=cda,
            pdf=pdf,
            category=Document.Category.OTHER,
            consultation=consultation,
            replaces=previous,
            request=request,
        )


def previous_ids(previous: Document | None) -> Any:
    if previous is None:
        return None
    from caducee.documents.cda.header import DocumentIds

    return DocumentIds(
        previous.unique_id_root,
        previous.unique_id_ext,
        previous.set_id_root,
        previous.set_id_ext,
        previous.version_number,
    )
