"""A letter's text (pure): its paragraphs as laid out in the PDF, and its title."""

from __future__ import annotations

import re

from caducee.documents.models import LetterTemplate

_PARAGRAPH_BREAK = re.compile(r"\n(?:[ \t]*\n)+")


def paragraphs(text: str) -> list[str]:
    """Blank lines separate paragraphs; single line breaks stay inside a paragraph (addresses, signatures)."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    return [block.strip("\n") for block in _PARAGRAPH_BREAK.split(normalized) if block.strip()]


def letter_title(template: LetterTemplate, correspondent: str) -> str:
    label = LetterTemplate.Kind(template.kind).label
    return f"{label} — {correspondent}" if correspondent else label
