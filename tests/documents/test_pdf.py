"""Generated PDFs are PDF/A-1b (issue 3 §4): XMP pdfaid 1/B, sRGB OutputIntent, every font embedded, Unicode kept."""

from __future__ import annotations

import io
import re

import pikepdf  # test-only dependency (reads the structure back)
import pytest

from caducee.documents.pdf import REPLACEMENT, PdfSection, printable, render_pdf

pytestmark = pytest.mark.django_db


def _render(doctor, identity, practice, **extra) -> bytes:  # type: ignore[no-untyped-def]
    arguments = {
        "title": "Synthèse – cœur",
        "practice": practice,
        "author": doctor,
        "identity": identity,
        "sections": [PdfSection("Allergies", ["Pénicilline — urticaire, 12\u202f€ « sœur »"])],
        "date_text": "Établi le 22/11/2026",
    }
    arguments.update(extra)
    return render_pdf(**arguments)


def _to_unicode(font) -> dict[int, str]:  # type: ignore[no-untyped-def]
    cmap = font.ToUnicode.read_bytes().decode("ascii")
    return {
        int(code, 16): bytes.fromhex(text).decode("utf-16-be")
        for code, text in re.findall(r"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]+)>", cmap.split("beginbfchar", 1)[1])
    }


def pdf_text(data: bytes) -> str:
    """The text drawn on every page, decoded through each font's ToUnicode map (one line per text object)."""
    lines: list[str] = []
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            maps = {str(name): _to_unicode(font) for name, font in page.Resources.Font.items()}
            current: dict[int, str] = {}
            for operands, operator in pikepdf.parse_content_stream(page):
                if str(operator) == "Tf":
                    current = maps[str(operands[0])]
                elif str(operator) == "Tj":
                    raw = bytes(operands[0])
                    lines.append("".join(current[int.from_bytes(raw[i : i + 2], "big")] for i in range(0, len(raw), 2)))
    return "\n".join(lines)


def test_pdf_is_pdfa_1b_with_embedded_fonts_and_srgb_intent(doctor, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    data = _render(doctor, make_patient().identity, practice)
    assert data.startswith(b"%PDF-1.4\n%")
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert pdf.pdf_version == "1.4"
        assert not pdf.is_encrypted and "/Encrypt" not in pdf.trailer
        assert len(pdf.trailer.ID) == 2  # PDF/A-1 6.1.3: the trailer has a file identifier
        # XMP metadata, uncompressed, with the PDF/A identification schema.
        assert "/Filter" not in pdf.Root.Metadata.stream_dict
        meta = pdf.open_metadata()
        assert (meta["pdfaid:part"], meta["pdfaid:conformance"]) == ("1", "B")
        assert meta["dc:title"] == "Synthèse – cœur"
        assert meta["dc:creator"] == ["Dr MEDECIN"]
        # No Info dictionary, so nothing in it can disagree with the XMP (PDF/A-1 6.7.3).
        assert "/Info" not in pdf.trailer
        # One sRGB output intent with its ICC profile (3 components).
        (intent,) = list(pdf.Root.OutputIntents)
        assert intent.S == "/GTS_PDFA1"
        assert str(intent.OutputConditionIdentifier) == "sRGB"
        assert intent.DestOutputProfile.stream_dict.N == 3
        assert intent.DestOutputProfile.read_bytes()[36:40] == b"acsp"  # an ICC profile signature
        # Every font is an embedded TrueType subset (no base-14 font, which PDF/A-1 forbids unembedded).
        fonts = list(pdf.pages[0].Resources.Font.values())
        assert len(fonts) == 2
        for font in fonts:
            assert font.Subtype == "/Type0"
            (descendant,) = list(font.DescendantFonts)
            descriptor = descendant.FontDescriptor
            assert "/FontFile2" in descriptor and len(descriptor.FontFile2.read_bytes()) > 1000
            assert "/CIDSet" in descriptor  # PDF/A-1 6.3.5: subsets list their CIDs
            assert re.fullmatch(r"/[A-Z]{6}\+OpenSans(Bold)?", str(font.BaseFont))
        # No transparency: no soft mask or constant alpha anywhere.
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Dictionary):
                assert "/SMask" not in obj and "/CA" not in obj and "/ca" not in obj


def test_pdf_keeps_french_text_and_the_r32_identity_block(doctor, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    identity = make_patient().identity
    text = pdf_text(_render(doctor, identity, practice))
    assert "MSP de test" in text
    assert "Dr MEDECIN — RPPS 89970012345" in text
    # R32: nom de naissance, premier prénom, date de naissance, sexe (no INS: the identity is not QUAL, R28).
    assert "ADRTROIS DOMINIQUE — Née le 26/02/1997 — Sexe F" in text
    assert "INS" not in text
    assert "Synthèse – cœur" in text
    # œ, €, — and « » kept as written; the narrow no-break space drawn as a no-break space (which shares the
    # space glyph in Open Sans, so it reads back as a space).
    assert "Pénicilline — urticaire, 12 € « sœur »" in text


def test_section_without_heading_and_paragraph_spacing(doctor, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    sections = [PdfSection("", ["Cher confrère,", "Je vous adresse…"], spacing=3)]
    text = pdf_text(_render(doctor, make_patient().identity, practice, sections=sections))
    assert "Cher confrère,\nJe vous adresse…" in text
    assert "Néant" not in text


def test_characters_without_glyph_are_shown_not_dropped() -> None:
    assert printable("a\u202fb\u2009c") == "a\u00a0b c"
    assert printable("x → y") == "x -> y"
    assert printable("ligne 1\nligne 2\tfin") == "ligne 1\nligne 2    fin"
    assert printable("vérifié ✓ 日") == f"vérifié {REPLACEMENT} {REPLACEMENT}"
