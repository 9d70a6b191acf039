"""Import a paper or received document into the chart (issue 13 §2, « Importation de document »): a PDF or a scan
(JPEG or PNG image) stored as a CDA N1 document, with its type, date, origin and category, so that it can go to the
DMP or by MSSanté like any document of the practice.

The file's type is read from its first bytes (`core.uploads.check_upload`), never from its name or the browser's
Content-Type. A scan is decoded by Pillow (size in pixels bounded before decoding: no decompression bomb), flattened
to RGB JPEG and laid on an A4 PDF/A page: N1 carries a PDF (`cda.n1.build_n1`). The importing professional is the
author of the N1 (he vouches it belongs to this patient); the origin (laboratory, hospital, colleague) is kept as the
document's correspondent and in its title.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.models import Practice
from caducee.accounts.permissions import Perm, check_permission
from caducee.documents.cda import codes
from caducee.documents.cda.codes import Code
from caducee.documents.cda.header import check_header
from caducee.documents.cda.n1 import build_n1
from caducee.documents.models import Document
from caducee.documents.pdf import new_pdf, printable
from caducee.documents.services import document_ids_new, document_store
from caducee.patients.models import Patient

MAX_PIXELS = 40_000_000  # a 600-dpi A4 scan is about 35 Mpx
ORIGIN_MAX = Document._meta.get_field("correspondent").max_length or 200
TITLE_MAX = 200


@dataclass(frozen=True)
class ImportType:
    label: str
    code: Code
    category: str


# What a practice imports, with the CI-SIS document type (J07, LOINC) and the list's category.
IMPORT_TYPES: dict[str, ImportType] = {
    "courrier": ImportType("Courrier reçu", codes.DOC_CONSULTATION_REPORT, Document.Category.LETTER),
    "cr_consultation": ImportType(
        "Compte rendu de consultation", codes.DOC_CONSULTATION_REPORT, Document.Category.LETTER
    ),
    "biologie": ImportType(
        "Compte rendu d'examens biologiques",
        Code("11502-2", codes.LOINC, "CR d'examens biologiques", "LOINC"),
        Document.Category.LAB,
    ),
    "imagerie": ImportType(
        "Compte rendu d'imagerie médicale",
        Code("18748-4", codes.LOINC, "CR d'imagerie médicale", "LOINC"),
        Document.Category.OTHER,
    ),
    "ordonnance": ImportType("Ordonnance", codes.DOC_DRUG_PRESCRIPTION, Document.Category.PRESCRIPTION),
    "certificat": ImportType("Certificat médical", codes.DOC_MEDICAL_CERTIFICATE, Document.Category.OTHER),
}


class DocumentImportError(ValueError):
    """The document cannot be imported; the message is French, for the user."""


def image_to_pdf(data: bytes, *, title: str, author: str) -> bytes:
    """A scan (JPEG/PNG bytes) on an A4 PDF/A page, scaled to fit, flattened to RGB (PDF/A-1 has no transparency)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            if width * height > MAX_PIXELS:
                raise DocumentImportError(f"Image trop grande ({width} × {height} pixels) : 40 mégapixels au maximum.")
            probe.load()
            image = probe.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, DocumentImportError):
            raise
        raise DocumentImportError("Image illisible ou endommagée.") from exc
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG", quality=90)
    pdf = new_pdf(title=title, author=author)
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    margin = 10
    box_w, box_h = pdf.w - 2 * margin, pdf.h - 2 * margin
    scale = min(box_w / image.width, box_h / image.height)
    pdf.image(jpeg, x=margin, y=margin, w=image.width * scale, h=image.height * scale)
    return bytes(pdf.output())


def document_import(
    *,
    actor: Any,
    patient: Patient,
    data: bytes,
    kind: str,
    type_key: str,
    document_date: dt.date,
    origin: str,
    title: str = "",
    request: HttpRequest | None = None,
) -> Document:
    """Store one imported file (`kind` "pdf", "jpeg" or "png", already checked by its content) as an N1 document."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    if type_key not in IMPORT_TYPES:
        raise DocumentImportError("Type de document inconnu.")
    doc_type = IMPORT_TYPES[type_key]
    origin = " ".join(printable(origin).split())
    if len(origin) > ORIGIN_MAX:
        raise DocumentImportError(f"L'origine ne peut dépasser {ORIGIN_MAX} caractères.")
    if document_date > timezone.localdate():
        raise DocumentImportError("La date du document est dans le futur.")
    title = " ".join(printable(title).split()) or doc_type.label
    title = f"{title} — {origin}" if origin else title
    title = f"{title} du {document_date:%d/%m/%Y}"[:TITLE_MAX]
    practice = Practice.objects.get()
    check_header(practice=practice, author=actor, patient=patient)
    if kind == "pdf":
        pdf = data
    elif kind in ("jpeg", "png"):
        pdf = image_to_pdf(data, title=title, author=actor.display_name())
    else:
        raise DocumentImportError("Type de fichier refusé : PDF, JPEG ou PNG seulement.")
    now = timezone.now()
    with transaction.atomic():
        ids = document_ids_new(practice=practice)
        cda = build_n1(
            ids=ids,
            practice=practice,
            author=actor,
            patient=patient,
            type_code=doc_type.code,
            title=title,
            pdf=pdf,
            effective_time=now,
        )
        return document_store(
            actor=actor,
            patient=patient,
            ids=ids,
            model="n1",
            type_code=doc_type.code.code,
            type_code_system=doc_type.code.system,
            type_label=doc_type.code.display,
            title=title,
            cda=cda,
            pdf=pdf,
            category=doc_type.category,
            theme=doc_type.label,
            correspondent=origin,
            request=request,
        )
