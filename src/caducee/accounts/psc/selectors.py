"""Reads of the Pro Santé Connect sessions for the clients above (`mss.tokens`), which pull rather than being told."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.models import PscSession

SITUATION_KEY = "psc_choose"  # the logged-in identity waiting for a work situation (session key)

# (id of the user's latest PSC session or 0, number of their PSC sessions that ended).
PscSessionMark = tuple[int, int]


def psc_session_mark(user_id: int) -> PscSessionMark:
    """What a cache must compare to know that a PSC session of the user started or ended since it last looked
    (SC.MSS/CONF.10 across processes: the process that ends a session cannot reach another process's memory).
    One indexed aggregate query; it changes whenever a session starts or ends, whichever process did it."""
    row = PscSession.objects.filter(user_id=user_id).aggregate(last=Max("pk"), ended=Count("ended_at"))
    return (row["last"] or 0, row["ended"] or 0)


def pending_situations(request: HttpRequest) -> list[dict[str, str]]:
    carried = request.session.get(SITUATION_KEY)
    return list(carried["identity"]["situations"]) if carried else []


def open_psc_session(user: Any) -> PscSession | None:
    """The user's live PSC session (the latest), or None."""
    if not getattr(user, "pk", None):
        return None
    return (
        PscSession.objects.filter(user_id=user.pk, ended_at__isnull=True, refresh_expires_at__gt=timezone.now())
        .order_by("-started_at")
        .first()
    )
