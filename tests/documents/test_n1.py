"""CDA N1: a PDF in nonXMLBody with exactly the three templateIds (StrucMin) and a J07 type code."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from caducee.documents.cda import codes
from caducee.documents.cda.header import DocumentIds, MissingDataError
from caducee.documents.cda.n1 import build_n1
from tests.documents.cda_records import parse, xp

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n% \xe2\xe3\xcf\xd3 binary bytes\n%%EOF\n"
IDS = DocumentIds("1.2.250.1.999.1.1", "9", "1.2.250.1.999.1.1", "9", 1)
WHEN = dt.datetime(2026, 1, 5, 8, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "type_code", [codes.DOC_CONSULTATION_REPORT, codes.DOC_REFERRAL_LETTER, codes.DOC_MEDICAL_CERTIFICATE]
)
def test_n1_wraps_the_pdf_and_is_conformant(cda_validator, practice, doctor, make_patient, type_code) -> None:  # type: ignore[no-untyped-def]
    xml = build_n1(
        ids=IDS,
        practice=practice,
        author=doctor,
        patient=make_patient(),
        type_code=type_code,
        title=type_code.display,
        pdf=PDF,
        effective_time=WHEN,
    )
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = parse(xml)
    assert xp(root, "/h:ClinicalDocument/h:templateId/@root") == [
        "2.16.840.1.113883.2.8.2.1",
        "1.2.250.1.213.1.1.1.1",
        "1.3.6.1.4.1.19376.1.2.20",
    ]
    assert xp(root, "/h:ClinicalDocument/h:code/@code") == [type_code.code]
    text = xp(root, "/h:ClinicalDocument/h:component/h:nonXMLBody/h:text")[0]
    assert (text.get("mediaType"), text.get("representation")) == ("application/pdf", "B64")
    assert base64.b64decode(text.text) == PDF
    assert not xp(root, "//h:structuredBody")
    report = cda_validator.validate(xml)
    assert report.is_valid, report.format()
    assert report.volets == []  # volet schematrons are for N3 documents only


def test_n1_refuses_what_is_not_a_pdf(practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MissingDataError, match="PDF"):
        build_n1(
            ids=IDS,
            practice=practice,
            author=doctor,
            patient=make_patient(),
            type_code=codes.DOC_CONSULTATION_REPORT,
            title="CR",
            pdf=b"<html>not a pdf</html>",
            effective_time=WHEN,
        )
