"""What the MSSanté screens read (issue 5 §6): the inbox, the work list, the sent messages and their states, the
sender's mailbox and the recipients proposed on the "Envoyer" screen (with the patient's own address, SC.MSS.14).

Every list is one query (plus a prefetch) whatever its length, and bounded (`LIST_LIMIT`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from caducee.accounts.models import User
from caducee.core.errors import SandboxDataError
from caducee.core.text import normalize_trait
from caducee.identity.ins import transmissible_ins
from caducee.identity.models import Identity
from caducee.mss.compose import PATIENT_DOMAIN, patient_label
from caducee.mss.models import InboundMessage, Mailbox, MailboxKind, OutboundMessage, ReceivedDocument
from caducee.patients.models import CorrespondentRole, Patient
from caducee.patients.selectors import patient_correspondents

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


def earlier_copy(unique_id: str, *, exclude: int | None = None) -> ReceivedDocument | None:
    """SC.MSS/CDA.01: the same document (uniqueId) received before and not quarantined."""
    if not unique_id:
        return None
    found = ReceivedDocument.objects.filter(unique_id=unique_id).exclude(state=ReceivedDocument.State.QUARANTINED)
    if exclude is not None:
        found = found.exclude(pk=exclude)
    return found.order_by("created_at", "id").first()


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


# --- addresses and recipients -------------------------------------------------------------------------------------


def patient_mss_address(identity: Identity) -> str | None:
    """`<matricule INS>@patient.mssante.fr` for a QUAL identity, None otherwise (SC.MSS.14, R28)."""
    try:
        ins = transmissible_ins(identity)
    except SandboxDataError:  # R28: a test identity on a real service is not a patient's address
        return None
    return f"{ins.matricule}@{PATIENT_DOMAIN}" if ins is not None else None


def mailbox_for(user: User | None) -> Mailbox | None:
    """The user's personal (PER) mailbox, else the practice's organisational (ORG) one."""
    active = Mailbox.objects.filter(is_active=True)
    if user is not None and user.pk is not None:
        personal = active.filter(owner=user, kind=MailboxKind.PER).order_by("id").first()
        if personal is not None:
            return personal
    return active.filter(kind=MailboxKind.ORG).order_by("id").first()


@dataclass(frozen=True)
class Recipient:
    """A recipient proposed on the "Envoyer" screen."""

    address: str
    display_name: str
    role: str  # a CorrespondentRole (medecin_traitant, adresseur, specialiste, pharmacien…) or "patient"
    role_label: str
    is_patient: bool = False


def _user_mailbox(user: User | None) -> str:
    if user is None:
        return ""
    box = Mailbox.objects.filter(owner=user, kind=MailboxKind.PER, is_active=True).order_by("id").first()
    return box.address if box is not None else ""


def proposed_recipients(patient: Patient, author: User | None) -> list[Recipient]:
    """The recipients offered by default: the patient's care team first — the médecin traitant when the author is
    not the médecin traitant, then the adresseur, the specialists, the nurse, the pharmacist… (every correspondent of
    the patient with an MSSanté address, issue 13 §1: one picked from the Annuaire once is offered again) —, then the
    patient when the identity is QUAL (issue 5 §6; SC.MSS/UX.32). No duplicates, never the author. Offered is not
    ticked: the send form ticks per the arrêté (documents.sharing_matrix)."""
    own = {_user_mailbox(author).lower()} - {""}
    found: list[Recipient] = []
    seen: set[str] = set(own)

    def add(address: str, name: str, role: str, label: str, is_patient: bool = False) -> None:
        key = address.strip().lower()
        if key and key not in seen:
            seen.add(key)
            found.append(Recipient(address.strip(), name, role, label, is_patient))

    links = [
        link
        for link in patient_correspondents(patient)  # the care team, médecin traitant first (one query)
        if link.correspondent.mss_address
    ]
    author_is_mt = author is not None and patient.medecin_traitant_id == author.pk
    if not author_is_mt:
        mt = patient.medecin_traitant
        if mt is not None:
            add(_user_mailbox(mt), mt.display_name(), CorrespondentRole.MEDECIN_TRAITANT, "Médecin traitant")
    for link in links:
        if link.role == CorrespondentRole.MEDECIN_TRAITANT and author_is_mt:
            continue
        c = link.correspondent
        add(c.mss_address, str(c), link.role, link.get_role_display())
    patient_address = patient_mss_address(patient.identity)
    if patient_address:
        add(patient_address, patient_label(patient.identity), "patient", "Patient (Mon espace santé)", True)
    return found
