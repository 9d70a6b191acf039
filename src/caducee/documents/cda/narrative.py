"""Narrative blocks (section `text`, CDA StrucDoc) of the N3 documents.

Every coded entry points to its narrative through `originalText/reference value="#ID"` (CI-SIS rule on
FR-Probleme, FR-Allergie, FR-Produit-de-sante…); the IDs are put on `content` elements here.
"""

from __future__ import annotations

from collections.abc import Sequence

from caducee.core.dates import french_date  # noqa: F401 — re-exported for the CDA narratives
from caducee.documents.cda.xml import E, Element

Cell = str | Element | None


def content(text: str, anchor: str) -> Element:
    """A `content` carrying the ID an entry references."""
    return E.content(text, ID=anchor)


def _cell(tag: str, value: Cell) -> Element:
    if value is None or value == "":
        return E(tag, "-")
    if isinstance(value, str):
        return E(tag, value)
    return E(tag, value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> Element:
    """A bordered-less table as in the CI-SIS examples: thead with th, one tr per element."""
    body = E.tbody(*[E.tr(*[_cell("td", value) for value in row]) for row in rows])
    if headers:
        return E.table(E.thead(E.tr(*[E.th(header) for header in headers])), body, border="0")
    return E.table(body, border="0")


def text_block(*children: Element) -> Element:
    return E.text(*children)


def paragraph(value: str | Element) -> Element:
    return E.paragraph(value)
