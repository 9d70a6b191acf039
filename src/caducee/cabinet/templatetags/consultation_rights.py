"""What the user may do with the consultation on screen (issue 13 §2): the services decide; this shows it."""

from __future__ import annotations

from typing import Any

from django import template

from caducee.record.consultations import consultation_editor_basis, consultation_is_empty
from caducee.record.models import Consultation

register = template.Library()


@register.simple_tag
def consultation_rights(consultation: Consultation, user: Any) -> dict[str, Any]:
    """{"edit": may change the draft, "delete": may delete it (the author, an empty draft), "for_author": the
    remplaçant works on the replaced author's draft}."""
    is_open = consultation.state == Consultation.State.OPEN
    basis = consultation_editor_basis(user, consultation) if is_open else None
    return {
        "edit": basis is not None,
        "for_author": bool(basis),
        "delete": is_open and user.pk == consultation.author_id and consultation_is_empty(consultation),
    }
