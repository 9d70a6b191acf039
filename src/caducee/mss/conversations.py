"""The conversation with one patient through Mon espace santé (issue 13 §3; SC.MSS citoyenne rules): what the
practice's mailboxes of the user sent to the patient and what the patient answered, oldest first — a read, as the
selectors are.

A conversation is closed by a message carrying `X-MSS-MES: FIN` (SC.MSS/CONF.21): the patient can no longer answer
it; only a professional starts a new one (notes §2.5), so a later message to the patient reopens it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from caducee.mss.compose import display_subject
from caducee.mss.models import InboundMessage, OutboundMessage
from caducee.mss.selectors import LIST_LIMIT, state_label, user_mailboxes
from caducee.patients.models import Patient


@dataclass(frozen=True)
class ConversationEntry:
    at: dt.datetime
    from_patient: bool
    subject: str
    body: str
    who: str  # the sender: the professional's mailbox, or the patient's address
    state: str = ""  # an outbound message's state, in French
    ends_conversation: bool = False
    message_id: int | None = None  # the received message's id (for its page)


@dataclass(frozen=True)
class Conversation:
    entries: list[ConversationEntry]
    closed_at: dt.datetime | None  # the FIN message when it is the last word of the practice


def patient_conversation(user: Any, patient: Patient) -> Conversation:
    """Two bounded queries: the messages sent to the patient from the user's mailboxes (UX.25: the patients' messages
    apart) and the patient's own messages received in them; merged by date."""
    boxes = user_mailboxes(user)
    sent = OutboundMessage.objects.filter(patient=patient, to_patient=True, mailbox__in=boxes).select_related("mailbox")
    received = InboundMessage.objects.filter(  # as the inbox: the user's mailboxes, or a message not filed to one
        Q(mailbox__in=boxes) | Q(mailbox__isnull=True),
        patient=patient,
        from_patient=True,
        kind=InboundMessage.Kind.MESSAGE,
    )
    entries = [
        ConversationEntry(
            at=m.created_at,
            from_patient=False,
            subject=display_subject(m.subject),
            body=m.body_text,
            who=m.mailbox.display_name or m.mailbox.address,
            state=state_label(m.state, m.state_reason),
            ends_conversation=m.ends_conversation,
        )
        for m in sent.order_by("-created_at", "-id")[:LIST_LIMIT]
    ] + [
        ConversationEntry(
            at=m.received_at,
            from_patient=True,
            subject=display_subject(m.subject),
            body=m.body_text,
            who=m.sender_name or m.sender,
            message_id=m.pk,
        )
        for m in received.order_by("-received_at", "-id")[:LIST_LIMIT]
    ]
    entries.sort(key=lambda e: e.at)
    last_sent = next((e for e in reversed(entries) if not e.from_patient), None)
    closed = last_sent.at if last_sent is not None and last_sent.ends_conversation else None
    return Conversation(entries=entries, closed_at=closed)
