from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from caducee.record.dose_units import dose_unit_label

register = template.Library()


@register.filter
def lookup(mapping: dict[str, Any] | None, key: str) -> Any:
    """{{ labels|lookup:code }}: a dict entry by a variable key ('' when absent)."""
    return (mapping or {}).get(key, "")


@register.filter
def num(value: Decimal | str | None) -> str:
    """82.50 -> "82,5", 1000.000 -> "1000": French decimal comma, no trailing zeros (also for the
    decimal strings of RecordHistory snapshots)."""
    if value is None or value == "":
        return ""
    try:
        text = format(Decimal(value).normalize(), "f")
    except (ArithmeticError, ValueError, TypeError):
        return str(value)
    return text.replace(".", ",")


# How a French doctor reads the UCUM units the record stores (display only; the CDA keeps UCUM).
_UCUM_DISPLAY = {
    "{pack}/a": "paquets-années",
    "{drink}/wk": "verres par semaine",
    "{drink}/d": "verres par jour",
    "mm[Hg]": "mmHg",
    "kg/m2": "kg/m²",
    "Cel": "°C",
    "[iU]": "UI",
    "[IU]": "UI",
    "ug": "µg",
    "{dose}": "dose",
    "/min": "/min",
}


@register.filter
def ucum(unit: str) -> str:
    """UCUM code -> the usual French notation ("mm[Hg]" -> "mmHg", "{tablet}" -> "comprimé"); unknown codes
    shown as they are."""
    if unit in _UCUM_DISPLAY:
        return _UCUM_DISPLAY[unit]
    return dose_unit_label(unit)


@register.filter
def dose(quantity: Decimal | str | None, unit: str) -> str:
    """{{ t.dose_quantity|dose:t.dose_unit }} -> "2 comprimés", "1000 mg", "0,5 comprimé" (issue 13 §2)."""
    if quantity is None or quantity == "":
        return ""
    return f"{num(quantity)} {dose_unit_label(unit, quantity)}".strip()
