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
def num(value: Decimal | None) -> str:
    """82.50 -> "82,5", 1000.000 -> "1000": French decimal comma, no trailing zeros."""
    if value is None:
        return ""
    text = format(Decimal(value).normalize(), "f")
    return text.replace(".", ",")
