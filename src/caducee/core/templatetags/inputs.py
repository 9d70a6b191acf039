"""`{% maxlength %}`: the HTML maxlength of a form field, the database column's (issue 13 §4), so the page and the
server check (`caducee.core.inputs`) cannot drift."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from caducee.core.inputs import model_max_length

register = template.Library()


@register.simple_tag(takes_context=True)
def maxlength(context: Any, name: str, model: str = "") -> SafeString:
    """` maxlength="N"` for the field `name`: the column of `model` ("app.Model") when given, else the view's
    `maxlengths` (`caducee.core.inputs.max_lengths`); nothing when the field has no length."""
    length = model_max_length(model, name) if model else (context.get("maxlengths") or {}).get(name)
    return format_html(' maxlength="{}"', length) if length else SafeString("")
