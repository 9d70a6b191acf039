"""Producing documents from the record: the medical summary (consultation validation, documents menu, bulk command).

One place builds the summary and stores it with its PDF, so the entry points cannot drift apart. Which summary is
produced is a practice setting (`Practice.summary_model`): the VSM 1.4 by default, or its successor IPS-FR 2024.01
"Synthèse médicale"; both come from the same record with the same element keys (`cda.entries`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.models import Practice, User
from caducee.accounts.permissions import Perm, check_permission
from caducee.core.dates import french_date
from caducee.documents.cda import codes, ips, vsm
from caducee.documents.cda.codes import Code
from caducee.documents.cda.entries import LabelCache, SummaryElement
from caducee.documents.cda.header import DocumentIdsLike
from caducee.documents.ids import document_ids_of
from caducee.documents.models import Document
from caducee.documents.pdf import PdfSection, render_pdf
from caducee.documents.services import document_ids_new, document_store
from caducee.patients.models import Patient
from caducee.record.selectors import RecordSummary, record_summary

VSM_TITLE = vsm.TITLE
IPS_TITLE = ips.TITLE


class SummaryBuilder(Protocol):
    def __call__(
        self,
        *,
        summary: RecordSummary,
        ids: DocumentIdsLike,
        practice: Practice,
        author: User,
        effective_time: dt.datetime,
        exclude: Iterable[str] = (),
        confidentiality: str = "N",
        replaces: DocumentIdsLike | None = None,
        label_cache: LabelCache | None = None,
    ) -> bytes: ...


@dataclass(frozen=True)
class SummaryModel:
    """One medical summary model: what `Document.model` stores, its J07 type code, title and builders."""

    model: str
    type_code: Code
    title: str
    build: SummaryBuilder
    elements: Callable[[RecordSummary], list[SummaryElement]]
    problems: Callable[..., list[str]]


SUMMARY_MODELS: dict[str, SummaryModel] = {
    # VSM 1.4: J07 SYNTH "Synthèse" (1.2.250.1.213.1.1.4.12).
    Practice.SummaryModel.VSM: SummaryModel(
        "vsm", codes.DOC_SYNTH, VSM_TITLE, vsm.build_vsm, vsm.vsm_elements, vsm.vsm_problems
    ),
    # IPS-FR 2024.01: J07 LOINC 60591-5 "Synthèse médicale".
    Practice.SummaryModel.IPS: SummaryModel(
        "ips", codes.DOC_PATIENT_SUMMARY, IPS_TITLE, ips.build_ips, ips.ips_elements, ips.ips_problems
    ),
}


def summary_model(practice: Practice | None) -> SummaryModel:
    """The summary model the practice chose (VSM when unset or unknown)."""
    choice = practice.summary_model if practice is not None else Practice.SummaryModel.VSM
    return SUMMARY_MODELS.get(choice, SUMMARY_MODELS[Practice.SummaryModel.VSM])


def vsm_pdf_sections(
    summary: RecordSummary, exclude: set[str], elements: Callable[[RecordSummary], list[SummaryElement]] | None = None
) -> list[PdfSection]:
    """The PDF shows exactly what the CDA carries: the same elements, minus the unticked ones."""
    sections: dict[str, PdfSection] = {}
    for element in (elements or vsm.vsm_elements)(summary):
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
    """Build the medical summary (CDA + PDF) of `patient` in the practice's model (VSM 1.4 or IPS-FR, see
    `summary_model`) and store it. MissingDataError (plain French list) when mandatory data is missing: nothing is
    stored then. A new summary replaces the patient's previous one of the same model (same setId, version + 1)."""
    check_permission(actor, Perm.CLINICAL_WRITE)  # before anything is read or built
    practice = Practice.objects.get()
    chosen = summary_model(practice)
    summary = record_summary(patient)
    excluded = set(exclude)
    now = timezone.now()
    with transaction.atomic():
        previous = Document.objects.filter(patient=patient, model=chosen.model).order_by("-created_at", "-id").first()
        ids = document_ids_new(practice=practice, replaces=previous)
        cda = chosen.build(
            summary=summary,
            ids=ids,
            practice=practice,
            author=actor,
            effective_time=now,
            exclude=excluded,
            replaces=document_ids_of(previous) if previous else None,
        )
        pdf = render_pdf(
            title=chosen.title,
            practice=practice,
            author=actor,
            identity=patient.identity,
            sections=vsm_pdf_sections(summary, excluded, chosen.elements),
            date_text=f"Établi le {french_date(now)}",
        )
        return document_store(
            actor=actor,
            patient=patient,
            ids=ids,
            model=chosen.model,
            type_code=chosen.type_code.code,
            type_code_system=chosen.type_code.system,
            type_label=chosen.title,
            title=chosen.title,
            cda=cda,
            pdf=pdf,
            category=Document.Category.OTHER,
            consultation=consultation,
            replaces=previous,
            request=request,
        )
