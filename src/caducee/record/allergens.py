"""Allergy agents other than a drug product (issue 13 §2): substances and classes, with their ATC codes.

The list is data (`record/data/allergy_substances.tsv`, with its sources): what a French doctor names
(« pénicillines », « iode », « AINS », « latex ») and the ATC code recorded (a substance is the 5th level,
J01CA04; a class an upper level, J01C). The search offers this list first, then the labelled ATC concepts of
the loaded terminology, so any substance of the ATC can be found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from caducee.core.text import search_key

DATA = Path(__file__).parent / "data" / "allergy_substances.tsv"
# ATC codes: 1 letter (anatomical group) up to the 7-character substance.
ATC_CODE = re.compile(r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$")


@dataclass(frozen=True)
class Allergen:
    code: str  # ATC, '' when the substance has none (latex, foods…)
    label: str
    words: tuple[str, ...]

    def keys(self) -> tuple[str, ...]:
        """Each word of the label and of the other names, normalised (R17)."""
        keys: list[str] = []
        for text in (self.label, *self.words):
            keys.extend(k for k in (search_key(w) for w in re.split(r"[\s,()'’\-]+", text)) if k)
        return tuple(dict.fromkeys(keys))


@cache
def allergens() -> tuple[Allergen, ...]:
    rows = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, label, words = (line.split("\t") + [""] * 3)[:3]
        rows.append(Allergen(code.strip(), label.strip(), tuple(w.strip() for w in words.split(",") if w.strip())))
    return tuple(rows)


def allergen_search(text: str) -> list[Allergen]:
    """Entries of which every typed word starts a word of the label or of the other names."""
    typed = [k for k in (search_key(w) for w in re.split(r"[\s,()'’\-]+", text)) if k]
    if not typed:
        return []
    code = search_key(text)
    return [
        a
        for a in allergens()
        if (a.code and a.code.startswith(code)) or all(any(k.startswith(t) for k in a.keys()) for t in typed)
    ]


__all__ = ["ATC_CODE", "Allergen", "allergen_search", "allergens"]
