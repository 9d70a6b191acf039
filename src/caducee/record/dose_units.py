"""Dose units in French (issue 13 §2): what the doctor types and reads, the code stored and sent.

The table is data (`record/data/dose_units.tsv`, with its sources): a unit has its UCUM code — stored in
`LongTermTreatment.dose_unit` and written as the CDA doseQuantity/@unit —, its French singular and plural, the
abbreviations doctors type (« cp », « gél », « gtt »…) and its EDQM "unit of presentation" code when known.
Dose forms are UCUM annotations in lower-case ASCII (`{tablet}`, as the ANS examples write them): the CI-SIS
terminologie.sch rule is-code-ucum-exist removes `\\{.[a-z]*.\\}` before checking the UCUM table, so an
accented annotation such as `{gélule}` would be refused there. Older rows holding `{comprimé}` are read as
`{tablet}` (same unit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from caducee.core.text import search_key

DATA = Path(__file__).parent / "data" / "dose_units.tsv"


def _key(text: str) -> str:
    """search_key (R17), the micro sign read as "u" (« µg » is "ug", not "g")."""
    return search_key(text.replace("µ", "u").replace("μ", "u"))


@dataclass(frozen=True)
class DoseUnit:
    code: str  # UCUM
    singular: str
    plural: str
    abbreviations: tuple[str, ...]
    edqm: str  # EDQM Standard Terms unit of presentation, '' when not known

    def keys(self) -> tuple[str, ...]:
        """Accent- and case-insensitive forms the doctor may type."""
        words = (self.singular, self.plural, self.code, *self.abbreviations)
        return tuple(dict.fromkeys(k for k in (_key(w) for w in words) if k))


@cache
def dose_units() -> tuple[DoseUnit, ...]:
    units = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, singular, plural, abbreviations, edqm = (line.split("\t") + [""] * 5)[:5]
        words = tuple(a.strip() for a in abbreviations.split(",") if a.strip())
        units.append(DoseUnit(code, singular, plural, words, edqm.strip()))
    return tuple(units)


@cache
def _by_code() -> dict[str, DoseUnit]:
    return {u.code: u for u in dose_units()}


@cache
def _by_key() -> dict[str, DoseUnit]:
    index: dict[str, DoseUnit] = {}
    for unit in dose_units():
        for key in unit.keys():
            index.setdefault(key, unit)
    return index


# Annotations typed or stored in other spellings of the same units (older rows, the ANS examples' English).
_ALIASES = {"{comprimé}": "{tablet}", "{comprime}": "{tablet}", "{cp}": "{tablet}", "{gélule}": "{capsule}"}
_ANNOTATION = re.compile(r"^\{(.+)\}$")


def dose_unit(code_or_text: str) -> DoseUnit | None:
    """The table's unit for a stored code or a typed word (« comprimés », « CP », « {comprimé} », « µg »)."""
    text = (code_or_text or "").strip()
    if not text:
        return None
    text = _ALIASES.get(text, text)
    if text in _by_code():  # codes first, case-sensitive (UCUM: "mg" is not "Mg")
        return _by_code()[text]
    annotation = _ANNOTATION.match(text)
    return _by_key().get(_key(annotation.group(1) if annotation else text))


def dose_unit_code(code_or_text: str) -> str:
    """The code to store for what was typed: the table's code, or the text itself (a UCUM code, checked
    by the service against the UCUM table)."""
    unit = dose_unit(code_or_text)
    return unit.code if unit else (code_or_text or "").strip()


def _plural(quantity: Decimal | str | float | None) -> bool:
    # French: plural from 2 (« 1,5 comprimé », « 2 comprimés »).
    try:
        return quantity is not None and quantity != "" and Decimal(str(quantity)) >= 2
    except (InvalidOperation, ValueError):
        return False


def dose_unit_label(code: str, quantity: Decimal | str | float | None = None) -> str:
    """How a French doctor reads the unit (« comprimés » for 2); unknown codes as they are."""
    unit = dose_unit(code) if code else None
    if unit is None:
        return code or ""
    return unit.plural if _plural(quantity) else unit.singular


def dose_unit_search(text: str, limit: int = 15) -> list[DoseUnit]:
    """Units whose name, plural, code or abbreviation starts with what was typed (accents and case ignored);
    exact matches first, then the table's order (the usual forms first)."""
    key = _key(text)
    if not key:
        return []
    exact = [u for u in dose_units() if key in u.keys()]
    prefix = [u for u in dose_units() if u not in exact and any(k.startswith(key) for k in u.keys())]
    return (exact + prefix)[:limit]


__all__ = ["DoseUnit", "dose_unit", "dose_unit_code", "dose_unit_label", "dose_unit_search", "dose_units"]
