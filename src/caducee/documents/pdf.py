"""Human-readable PDF of a document, pure Python (fpdf2, no system library).

Identity block per INS rule R32: nom de naissance, premier prénom, date de naissance, sexe and, for a
qualified identity only (R28), the matricule INS followed by its nature. The INS DataMatrix of R32 is
not drawn yet (segno cannot draw DataMatrix) — see docs/conformity.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fpdf import FPDF

from caducee.accounts.models import Practice, User
from caducee.identity.ins import transmissible_ins
from caducee.identity.matricule import nature
from caducee.identity.models import Identity

# The PDF core fonts are Latin-1: characters outside it are transliterated, never dropped silently.
_TRANSLIT = str.maketrans(
    {
        "œ": "oe",
        "Œ": "OE",
        "’": "'",
        "‘": "'",
        "“": '"',
        "”": '"',
        "…": "...",
        "–": "-",
        "—": "-",
        "€": "EUR",
        "\u202f": " ",
        "\u00a0": " ",
    }
)


def _latin1(text: str) -> str:
    return text.translate(_TRANSLIT).encode("latin-1", "replace").decode("latin-1")


@dataclass
class PdfSection:
    heading: str
    lines: list[str] = field(default_factory=list)


def render_pdf(
    *, title: str, practice: Practice, author: User, identity: Identity, sections: list[PdfSection], date_text: str
) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(title))
    pdf.set_author(_latin1(author.display_name()))
    pdf.set_creator("Caducee")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 6, _latin1(practice.name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    address = f"{practice.address_line} {practice.postal_code} {practice.city}".strip()
    pdf.cell(0, 5, _latin1(address), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(
        0,
        5,
        _latin1(f"{author.display_name()} - RPPS {author.rpps}" if author.rpps else author.display_name()),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(4)
    pdf.set_fill_color(238, 241, 245)
    pdf.set_font("Helvetica", "B", 10)
    born = "Née" if identity.sex == "F" else "Né"
    pdf.cell(
        0,
        6,
        _latin1(
            f"{identity.birth_name} {identity.first_given_name} - {born} le "
            f"{identity.birth_date_display} - Sexe {identity.sex}"
        ),
        fill=True,
        new_x="LMARGIN",
        new_y="NEXT",
    )
    ins = transmissible_ins(identity)
    if ins is not None:
        pdf.set_font("Helvetica", "", 9)
        pdf.cell(0, 5, _latin1(f"INS : {ins.matricule} ({nature(ins.oid)})"), fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 7, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(0, 5, _latin1(date_text), new_x="LMARGIN", new_y="NEXT")
    for section in sections:
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 11)
        pdf.multi_cell(0, 6, _latin1(section.heading), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        for line in section.lines or ["Néant"]:
            pdf.multi_cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
