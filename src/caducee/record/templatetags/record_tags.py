from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

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
    """UCUM code -> the usual French notation ("mm[Hg]" -> "mmHg"); unknown codes shown as they are."""
    return _UCUM_DISPLAY.get(unit, unit)
