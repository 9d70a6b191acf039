"""What the MSSanté screens read (issue 5 §6): the inbox, the work list, the sent messages and their states.

Every list is one query (plus a prefetch) whatever its length, and bounded (`LIST_LIMIT`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from caducee.core.text import normalize_trait
from caducee.mss.models import InboundMessage, Mailbox, OutboundMessage, ReceivedDocument

LIST_LIMIT = 100


def user_mailboxes(user: Any) -> QuerySet[Mailbox]:
    """The mailboxes a user reads: their own (PER) and the practice's shared ones (ORG/APP)."""
    return Mailbox.objects.filter(Q(owner=user) | Q(owner__isnull=True), is_active=True)


def unread_count(user: Any) -> int:
    return InboundMessage.objects.filter(
        mailbox__in=user_mailboxes(user), is_read=False, kind=InboundMessage.Kind.MESSAGE
    ).count()


@dataclass(frozen=True)
class InboxFilters:
    tab: str = "pro"  # pro | patients (UX.25: patients' messages apart)
    unread: bool = False
    q: str = ""


def inbox(user: Any, filters: InboxFilters) -> list[InboundMessage]:
    messages = (
        InboundMessage.objects.filter(
            Q(mailbox__in=user_mailboxes(user)) | Q(mailbox__isnull=True), kind=InboundMessage.Kind.MESSAGE
        )
        .filter(from_patient=(filters.tab == "patients"))
        .select_related("mailbox", "patient__identity")
        .annotate(
            n_documents=Count("documents"),
            n_worklist=Count("documents", filter=Q(documents__state=ReceivedDocument.State.WORKLIST)),
            n_quarantined=Count("documents", filter=Q(documents__state=ReceivedDocument.State.QUARANTINED)),
        )
    )
    if filters.unread:
        messages = messages.filter(is_read=False)
    if filters.q.strip():
        for word in normalize_trait(filters.q).split():
            messages = messages.filter(search_text__contains=word)
    return list(messages.order_by("-received_at", "-id")[:LIST_LIMIT])


def worklist() -> list[ReceivedDocument]:
    """Documents waiting for a patient (UX.09–12), best candidate first."""
    return list(
        ReceivedDocument.objects.filter(state=ReceivedDocument.State.WORKLIST)
        .select_related("message")
        .order_by("-best_score", "-created_at")[:LIST_LIMIT]
    )


def sent_messages(user: Any, *, patient_id: int | None = None) -> list[OutboundMessage]:
    messages = OutboundMessage.objects.filter(mailbox__in=user_mailboxes(user))
    if patient_id is not None:
        messages = messages.filter(patient_id=patient_id)
    return list(
        messages.select_related("patient__identity", "mailbox")
        .prefetch_related("recipients")
        .order_by("-created_at", "-id")[:LIST_LIMIT]
    )


def state_label(state: str, reason: str = "") -> str:
    label = OutboundMessage.State(state).label if state in OutboundMessage.State.values else state
    return f"{label} ({reason})" if reason and state == OutboundMessage.State.ERROR else label
