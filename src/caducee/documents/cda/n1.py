"""CDA R2 level 1 ("N1", non structuré): a PDF in `nonXMLBody` behind the CI-SIS header.

StrucMin rule: a document with a nonXMLBody has exactly three templateIds — HL7 France
(2.16.840.1.113883.2.8.2.1), CI-SIS (1.2.250.1.213.1.1.1.1) and IHE XDS-SD (1.3.6.1.4.1.19376.1.2.20) —
and its `code` comes from J07 (example `DOC_NON_STRUCTURE_CDA-R2-N1.xml`). Only the generic schematrons
apply to N1 documents (TCC LISEZ-MOI §5.2.1).
"""

from __future__ import annotations

import base64
import datetime as dt

from lxml import etree

from caducee.accounts.models import Practice, User
from caducee.documents.cda import codes
from caducee.documents.cda.codes import Code
from caducee.documents.cda.header import DocumentIdsLike, HeaderInput, MissingDataError, build_header
from caducee.documents.cda.xml import E
from caducee.patients.models import Patient

PDF_MAGIC = b"%PDF-"


def build_n1(
    *,
    ids: DocumentIdsLike,
    practice: Practice,
    author: User,
    patient: Patient,
    type_code: Code,
    title: str,
    pdf: bytes,
    effective_time: dt.datetime,
    confidentiality: str = "N",
    replaces: DocumentIdsLike | None = None,
    service_event_code: Code | None = None,
) -> bytes:
    """The N1 document (UTF-8 bytes with XML declaration) wrapping `pdf` in base64."""
    if not pdf.startswith(PDF_MAGIC):
        raise MissingDataError(["Le document joint n'est pas un fichier PDF."])
    doc = build_header(
        HeaderInput(
            ids=ids,
            practice=practice,
            author=author,
            patient=patient,
            effective_time=effective_time,
            type_code=type_code,
            title=title,
            template_ids=((codes.TPL_XDS_SD, None),),
            confidentiality=confidentiality,
            replaces=replaces,
            service_event_code=service_event_code,
        )
    )
    doc.append(
        E.component(
            E.nonXMLBody(
                E.text(base64.b64encode(pdf).decode("ascii"), mediaType="application/pdf", representation="B64")
            )
        )
    )
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")
