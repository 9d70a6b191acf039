from django import template

from caducee.accounts.psc.endpoint import psc_configured

register = template.Library()


@register.simple_tag
def psc_available() -> bool:
    """Whether the login page offers Pro Santé Connect (configured, or published by the sandbox)."""
    return psc_configured()
