from __future__ import annotations

from typing import Any

from caducee.identity import status as machine
from caducee.identity.models import Identity, InsiCall, Status, VigilanceCase
from caducee.identity.traits import STRICT_TRAITS


def identity_panel(identity: Identity) -> dict[str, Any]:
    """Everything the identity panel shows, in a bounded number of queries."""
    return {
        "identity": identity,
        "remaining": machine.remaining_steps(identity.status),
        # R26: strict traits shown read-only once RECUP or QUAL.
        "strict_locked": identity.status in (Status.RECUP, Status.QUAL),
        "strict_traits": STRICT_TRAITS,
        "status_changes": list(identity.status_changes.select_related("by")[:10]),
        "insi_calls": list(identity.insi_calls.all()[:5]),
        "open_cases": list(identity.vigilance_cases.filter(resolved_at=None).select_related("other")),
        "insi_blocked": identity.is_doubtful or identity.is_fictitious,
    }


def open_vigilance_cases() -> list[VigilanceCase]:
    return list(
        VigilanceCase.objects.filter(resolved_at=None)
        .select_related("identity", "identity__patient", "other", "other__patient")
        .order_by("-created_at")[:200]
    )


def insi_call_for(identity: Identity, call_id: int) -> InsiCall | None:
    return identity.insi_calls.filter(pk=call_id).first()
