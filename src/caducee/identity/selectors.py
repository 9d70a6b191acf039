from __future__ import annotations

from typing import Any

from caducee.accounts.models import Practice
from caducee.core.text import search_tokens
from caducee.identity import status as machine
from caducee.identity.models import DEFAULT_ID_DOCUMENTS, ID_DOCUMENTS, Identity, InsiCall, Status, VigilanceCase
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


def identity_tokens(identity: Identity) -> set[str]:
    """R17: every prénom and nom (birth and used), normalised, for prefix search."""
    return search_tokens(
        identity.birth_name,
        identity.used_name,
        identity.birth_given_names,
        identity.first_given_name,
        identity.used_given_name,
    )


def differing_traits(identity: Identity, call: InsiCall) -> list[str]:
    """Strict traits on which INSi's answer differs from the local identity (shown side by side)."""
    returned = returned_traits(call)
    return [f for f in STRICT_TRAITS if returned.get(f) != getattr(identity, f)]


def accepted_documents(practice: Practice | None) -> dict[str, str]:
    """R19: the high-trust documents this site accepts (configurable per practice)."""
    codes = (practice.accepted_id_documents if practice else None) or DEFAULT_ID_DOCUMENTS
    return {code: ID_DOCUMENTS[code] for code in codes if code in ID_DOCUMENTS}


def returned_traits(call: InsiCall) -> dict[str, str]:
    r = call.result
    return {
        "birth_name": r.get("birth_name", ""),
        "birth_given_names": r.get("given_names", ""),
        "first_given_name": r.get("first_given_name", ""),
        "birth_date": r.get("birth_date", ""),
        "sex": r.get("sex", ""),
        "birthplace_cog": r.get("birthplace_cog") or "99999",
    }
