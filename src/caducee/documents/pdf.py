"""Human-readable PDF of a document: PDF/A-1b, pure Python (fpdf2, no system library).

Issue 3 §4 asks for PDF/A-1b. fpdf2's own compliance mode (`FPDF(enforce_compliance="PDF/A-1B")`) does the
archival parts, so we do not rewrite the file afterwards: PDF 1.4, an XMP packet with `pdfaid:part` 1 and
`pdfaid:conformance` B (built from the title/author/creator set here, no Info dictionary to keep consistent),
an sRGB OutputIntent (GTS_PDFA1, fpdf2's built-in sRGB ICC v2 profile), a CIDSet for every font subset, a
trailer /ID. It raises on what PDF/A-1 forbids: the 14 non-embedded core fonts, encryption, transparency,
attachments, optional content. Nothing here draws images or annotations.

PDF/A needs every font embedded: Open Sans (Apache-2.0, shipped as TTF files by the `ttf-opensans` package,
not copied here), embedded as a subset. The text keeps its Unicode characters (œ, €, —, « »); a character
Open Sans has no glyph for is shown as U+FFFD, never dropped silently — but control characters, invisible and never
meant (issue 13 §4: `caducee.core.text.clean_text`), are removed first.

Identity block per INS rule R32: nom de naissance, premier prénom, date de naissance, sexe and, for a
qualified identity only (R28), the matricule INS followed by its nature. The INS DataMatrix of R32 is
not drawn yet (segno cannot draw DataMatrix) — see docs/conformity.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from django.utils import timezone
from fontTools.ttLib import TTFont  # fpdf2's own dependency (it parses and subsets fonts with it)
from fpdf import FPDF

from caducee.accounts.models import Practice, User
from caducee.accounts.replacement import signature_name
from caducee.core.text import clean_text
from caducee.identity.ins import transmissible_ins
from caducee.identity.matricule import nature
from caducee.identity.models import Identity
from caducee.record.models import Consultation

PDFA_LEVEL = "PDF/A-1B"
FONT_FAMILY = "OpenSans"
_FONT_FILES = {"": "OpenSans-Regular.ttf", "B": "OpenSans-Bold.ttf"}
REPLACEMENT = "\ufffd"

# Characters Open Sans lacks but that French text uses: typographic equivalents it has. The narrow no-break
# space (before ; : ! ? and in "12 €") becomes a no-break space, so lines still do not break there.
_EQUIVALENTS = str.maketrans(
    {
        "\u202f": "\u00a0",
        "\u2009": " ",
        "\t": "    ",
        "\r": "",
        "\u2192": "->",
        "\u2190": "<-",
        "\u21d2": "=>",
    }
)


@functools.cache
def font_path(style: str = "") -> Path:
    """The TTF file of a style ("" regular, "B" bold), inside the installed ttf-opensans package."""
    return Path(str(files("ttf_opensans") / "ttf" / _FONT_FILES[style]))


@functools.cache
def _covered() -> frozenset[int]:
    """Code points every style has a glyph for (read once per process)."""
    sets = [set(TTFont(font_path(style), lazy=True).getBestCmap()) for style in _FONT_FILES]
    return frozenset(set.intersection(*sets))


def printable(text: str) -> str:
    """`text` as the embedded fonts can draw it: equivalents first, then U+FFFD for what is left (visible)."""
    covered = _covered()
    text = clean_text(text, multiline=True).translate(_EQUIVALENTS)
    return "".join(ch if ch == "\n" or ord(ch) in covered else REPLACEMENT for ch in text)


@dataclass
class PdfSection:
    """A heading (none when empty) and its lines; `spacing` (mm) separates the lines, e.g. letter paragraphs."""

    heading: str
    lines: list[str] = field(default_factory=list)
    spacing: float = 0


def new_pdf(*, title: str, author: str) -> FPDF:
    """An A4 PDF/A-1b document with the embedded fonts registered and its XMP metadata set."""
    pdf = FPDF(format="A4", enforce_compliance=PDFA_LEVEL)
    for style in _FONT_FILES:
        pdf.add_font(FONT_FAMILY, style, font_path(style))
    # These become dc:title, dc:creator and xmp:CreatorTool in the XMP packet (PDF/A-1 metadata).
    pdf.set_title(printable(title))
    pdf.set_author(printable(author))
    pdf.set_creator("Caducée")
    pdf.set_lang("fr-FR")
    pdf.set_auto_page_break(auto=True, margin=18)
    return pdf


def render_pdf(
    *, title: str, practice: Practice, author: User, identity: Identity, sections: list[PdfSection], date_text: str
) -> bytes:
    pdf = new_pdf(title=title, author=author.display_name())
    pdf.add_page()
    pdf.set_font(FONT_FAMILY, "B", 12)
    pdf.cell(0, 6, printable(practice.name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT_FAMILY, "", 9)
    address = f"{practice.address_line} {practice.postal_code} {practice.city}".strip()
    pdf.cell(0, 5, printable(address), new_x="LMARGIN", new_y="NEXT")
    # The author signs with their own name and RPPS; while replacing a doctor, with the mention
    # « Dr <remplaçant>, remplaçant le Dr <remplacé> » (accounts.replacement), frozen in the stored PDF.
    signature = signature_name(author)
    pdf.multi_cell(
        0,
        5,
        printable(f"{signature} — RPPS {author.rpps}" if author.rpps else signature),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(4)
    # R32 identity block. An opaque fill colour (DeviceRGB under the sRGB OutputIntent): no transparency.
    pdf.set_fill_color(238, 241, 245)
    pdf.set_font(FONT_FAMILY, "B", 10)
    born = "Née" if identity.sex == "F" else "Né"
    pdf.cell(
        0,
        6,
        printable(
            f"{identity.birth_name} {identity.first_given_name} — {born} le "
            f"{identity.birth_date_display} — Sexe {identity.sex}"
        ),
        fill=True,
        new_x="LMARGIN",
        new_y="NEXT",
    )
    ins = transmissible_ins(identity)
    if ins is not None:
        pdf.set_font(FONT_FAMILY, "", 9)
        pdf.cell(
            0, 5, printable(f"INS : {ins.matricule} ({nature(ins.oid)})"), fill=True, new_x="LMARGIN", new_y="NEXT"
        )
    pdf.ln(5)
    pdf.set_font(FONT_FAMILY, "B", 14)
    pdf.multi_cell(0, 7, printable(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT_FAMILY, "", 9)
    pdf.cell(0, 5, printable(date_text), new_x="LMARGIN", new_y="NEXT")
    for section in sections:
        pdf.ln(3)
        if section.heading:
            pdf.set_font(FONT_FAMILY, "B", 11)
            pdf.multi_cell(0, 6, printable(section.heading), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(section.spacing)
        pdf.set_font(FONT_FAMILY, "", 10)
        for index, line in enumerate(section.lines or ["Néant"]):
            if index and section.spacing:
                pdf.ln(section.spacing)
            pdf.multi_cell(0, 5, printable(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def render_consultation_pdf(*, practice: Practice, consultation: Consultation, measures: list[str]) -> bytes:
    """A consultation printed (issue 13 §2): motif, observation, examination, conclusion, the measures taken at it,
    its author and date — for the patient's paper file or a colleague; not a stored document (no CDA, no DMP)."""
    state = "validée" if consultation.state == Consultation.State.VALIDATED else "brouillon, non validée"
    date = timezone.localtime(consultation.date)
    sections = [
        PdfSection("Motif", [consultation.motif] if consultation.motif else []),
        PdfSection("Observation", consultation.observation.splitlines() if consultation.observation else []),
        PdfSection("Examen", consultation.examination.splitlines() if consultation.examination else []),
        PdfSection("Conclusion", consultation.conclusion.splitlines() if consultation.conclusion else []),
        PdfSection("Mesures", measures),
    ]
    return render_pdf(
        title=f"Consultation du {date:%d/%m/%Y}",
        practice=practice,
        author=consultation.author,
        identity=consultation.patient.identity,
        sections=sections,
        date_text=f"Le {date:%d/%m/%Y à %H:%M} — {consultation.author.display_name()} — consultation {state}",
    )
