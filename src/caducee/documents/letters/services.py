"""Letters: merge a template, render the PDF/A, wrap it in a CDA N1 and store it (issue 3 §3).

Same shape as `documents.production.vsm_create`: permission first, mandatory data checked before anything
is built, then ids, PDF, CDA and the stored document in one transaction, so an error stores nothing (and
gives no sequence number away).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.models import Practice
from caducee.accounts.permissions import Perm, check_permission
from caducee.core.dates import french_date
from caducee.documents.cda import codes
from caducee.documents.cda.codes import Code
from caducee.documents.cda.header import check_header
from caducee.documents.cda.n1 import build_n1
from caducee.documents.letters.defaults import seed_default_templates
from caducee.documents.letters.merge import letter_context, merge
from caducee.documents.letters.text import letter_title, paragraphs
from caducee.documents.models import Document, LetterTemplate
from caducee.documents.pdf import PdfSection, render_pdf
from caducee.documents.services import document_ids_new, document_store
from caducee.patients.models import Patient

Kind = LetterTemplate.Kind

# J07 XdsTypeCode of each kind (JDV_J07_XdsTypeCode_CISIS). J07 has no generic "courrier" concept: a free letter
# about a patient seen in consultation is filed as a consultation report, the nearest type the DMP knows.
KIND_TYPE_CODES: dict[str, Code] = {
    Kind.REFERRAL: codes.DOC_REFERRAL_LETTER,
    Kind.CONSULTATION_REPORT: codes.DOC_CONSULTATION_REPORT,
    Kind.CERTIFICATE: codes.DOC_MEDICAL_CERTIFICATE,
    Kind.FREE: codes.DOC_CONSULTATION_REPORT,
}

CORRESPONDENT_MAX = Document._meta.get_field("correspondent").max_length or 200


class LetterError(ValueError):
    """The letter cannot be stored as written (empty text…): a plain French message for the form."""


def letters_seed_defaults() -> int:
    """Create the default French templates that are missing (idempotent); how many were created.

    Migration 0003 already seeds them; this is for a database emptied since (demo reset, tests)."""
    return seed_default_templates(LetterTemplate)


def letter_draft(*, actor: Any, patient: Patient, template: LetterTemplate, correspondent: str) -> str:
    """The template's text merged for this patient, to pre-fill the editor. MergeError on an unknown field."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    practice = Practice.objects.get()
    return merge(
        template.body, letter_context(patient=patient, practice=practice, author=actor, correspondent=correspondent)
    )


def letter_create(
    *,
    actor: Any,
    patient: Patient,
    template: LetterTemplate,
    correspondent: str,
    body: str,
    request: HttpRequest | None = None,
) -> Document:
    """Store the letter as a validated CDA N1 document (category courrier) wrapping its PDF/A.

    `body` is the doctor's final text; merge fields still in it (typed in the editor) are filled too.
    Raises PermissionDenied, MergeError, LetterError or MissingDataError (header data): nothing is stored then.
    """
    check_permission(actor, Perm.CLINICAL_WRITE)  # before anything is read or built
    correspondent = " ".join(correspondent.split())
    if len(correspondent) > CORRESPONDENT_MAX:
        raise LetterError(f"Le correspondant ne peut dépasser {CORRESPONDENT_MAX} caractères.")
    practice = Practice.objects.get()
    text = merge(body, letter_context(patient=patient, practice=practice, author=actor, correspondent=correspondent))
    blocks = paragraphs(text)
    if not blocks:
        raise LetterError("Le courrier est vide : rien n'a été enregistré.")
    check_header(practice=practice, author=actor, patient=patient)  # missing data listed before generation
    type_code = KIND_TYPE_CODES[template.kind]
    title = letter_title(template, correspondent)
    now = timezone.now()
    heading = f"À l'attention de {correspondent}" if correspondent else ""
    place = f"{practice.city}, le" if practice.city.strip() else "Le"
    pdf = render_pdf(
        title=Kind(template.kind).label,  # the correspondent is the heading just below
        practice=practice,
        author=actor,
        identity=patient.identity,
        sections=[PdfSection(heading, blocks, spacing=3)],
        date_text=f"{place} {french_date(now)}",
    )
    with transaction.atomic():
        ids = document_ids_new(practice=practice)
        cda = build_n1(
            ids=ids,
            practice=practice,
            author=actor,
            patient=patient,
            type_code=type_code,
            title=title,
            pdf=pdf,
            effective_time=now,
        )
        document = document_store(
            actor=actor,
            patient=patient,
            ids=ids,
            model="n1",
            type_code=type_code.code,
            type_code_system=type_code.system,
            type_label=type_code.display,
            title=title,
            cda=cda,
            pdf=pdf,
            category=Document.Category.LETTER,
            theme=Kind(template.kind).label,
            correspondent=correspondent,
            request=request,
        )
    return document
