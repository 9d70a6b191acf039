"""Template filters of identity: `{% load identity_tags %}`."""

from django import template

from caducee.identity.models import french_date

register = template.Library()


@register.filter
def frdate(iso: str) -> str:
    """AAAA-MM-JJ → JJ/MM/AAAA, 00 kept for an unknown day or month (RNIV partial dates)."""
    return french_date(iso or "")
