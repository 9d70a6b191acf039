"""Template filters of identity: `{% load identity_tags %}`."""

from django import template

from caducee.identity.models import french_date

register = template.Library()


@register.filter
def frdate(iso: str) -> str:
    """AAAA-MM-JJ → JJ/MM/AAAA, 00 kept for an unknown day or month (RNIV partial dates)."""
    return french_date(iso or "")


@register.filter
def birthplace_label(value: str) -> str:
    """A stored COG code shown with its place (« Ajaccio (2A) — 2A020 »), which the form reads back as the code;
    anything else (what was typed, 99999, a code not in the table) unchanged. Issue 13 §1."""
    from caducee.identity.cog import COG_RE, place_label
    from caducee.identity.models import UNKNOWN_BIRTHPLACE, CogPlace

    if not value or value == UNKNOWN_BIRTHPLACE or not COG_RE.match(value):
        return value or ""
    order = ["COM", "ARM", "PAYS", "COMD", "COMA", "ANC"]
    places = sorted(CogPlace.objects.filter(code=value), key=lambda p: order.index(p.kind) if p.kind in order else 9)
    return place_label(places[0]) if places else value
