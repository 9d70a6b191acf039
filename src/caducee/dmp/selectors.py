"""Read side of the DMP: the chart's DMP tab, the per-document "déjà envoyé au DMP" (SC.DMP/HISTO.01), the one
eligibility rule (R28, SC.DMP/CONF.06) and what a DMP call reads first (the practice, the caller, the patient's INS).

A fixed number of queries whatever the size of the DMP: `dmp_panel` reads the access, the consent, the entries
and the deliveries in 4 queries (`document_dmp_states` in 1 for a whole list of documents).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet, Subquery
from django.utils import timezone

from caducee.accounts.models import Practice, User
from caducee.core.dates import french_datetime
from caducee.core.errors import SandboxDataError
from caducee.core.models import Delivery
from caducee.dmp.api import STATUS_DELETED, STATUS_DEPRECATED, DmpCaller
from caducee.dmp.caller import CallerError, dmp_caller
from caducee.dmp.errors import DmpServiceError
from caducee.dmp.models import DmpAccess, DmpConsent, DmpEntry
from caducee.documents.models import Document
from caducee.documents.selectors import document_with_unique_id
from caducee.documents.xds import ins_cx
from caducee.identity.ins import transmissible_ins
from caducee.patients.models import Patient

CHANNEL = "dmp"
# Document models Caducée can send (their XDS formatCode is known: xds_codes.FORMAT_OF_TEMPLATE).
SENDABLE_MODELS = {"n1": "CDA N1 (PDF)", "vsm": "VSM 1.4", "ips": "IPS-FR"}

NOT_SENT = "Non envoyé au DMP"
PENDING = "En attente d'envoi au DMP"


@dataclass(frozen=True)
class DmpPanel:
    access: DmpAccess | None
    consent: DmpConsent | None
    entries: list[DmpEntry]
    new_count: int
    deliveries: Sequence[Delivery]  # each with `document_pk` and `document_title` (annotations)
    type_choices: list[tuple[str, str]] = field(default_factory=list)  # (type_code, label) present in the cache


def dmp_panel(
    patient: Patient,
    *,
    professional: Any = None,
    type_code: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    author: str = "",
) -> DmpPanel:
    """The DMP tab: access (last TD0.2), consent, cached entries newest first (filters: J07 type code, creation date
    range, author label or national id), number of new (unopened) entries, and the DMP deliveries of the patient's
    documents. 4 queries.

    The access and the entries are `professional`'s own (issue 13 §3): the DMP answers each professional in their
    context, so a colleague's « autorisation valide » or list is never shown as theirs; None shows none."""
    pro = professional if getattr(professional, "pk", None) is not None else None
    access = DmpAccess.objects.filter(patient=patient, professional=pro).first() if pro is not None else None
    consent = DmpConsent.objects.filter(patient=patient).first()
    all_entries = list(
        DmpEntry.objects.filter(patient=patient, professional=pro)
        .exclude(status__in=(STATUS_DELETED, STATUS_DEPRECATED))  # superseded by a replacement: not shown
        .order_by("-creation_time", "-id")
    )
    new_count = sum(1 for e in all_entries if not e.seen)
    types = sorted({(e.type_code, e.type_label or e.type_code) for e in all_entries}, key=lambda t: t[1])
    entries = [e for e in all_entries if _matches(e, type_code, date_from, date_to, author)]
    # The delivery keeps its document's uniqueId, not a link: its title and pk come in the same query.
    document = document_with_unique_id("document_ref").filter(patient_id=patient.pk)
    deliveries = list(
        Delivery.objects.filter(channel=CHANNEL, patient_id=patient.pk)
        .annotate(
            document_pk=Subquery(document.values("pk")[:1]), document_title=Subquery(document.values("title")[:1])
        )
        .only(
            "pk",
            "state",
            "document_ref",
            "document_unique_id",
            "created_at",
            "sent_at",
            "last_error",
            "next_attempt_at",
            "attempts",
            "action",
            "channel",
        )
        .order_by("-created_at", "-id")
    )
    return DmpPanel(access, consent, entries, new_count, deliveries, types)


def _matches(entry: DmpEntry, type_code: str, date_from: dt.date | None, date_to: dt.date | None, author: str) -> bool:
    if type_code and entry.type_code != type_code:
        return False
    created = timezone.localdate(entry.creation_time) if entry.creation_time else None
    if date_from and (created is None or created < date_from):
        return False
    if date_to and (created is None or created > date_to):
        return False
    if author:
        needle = author.casefold()
        if needle not in entry.author_label.casefold() and needle != entry.author_national_id:
            return False
    return True


def delivery_label(delivery: Delivery | None) -> str:
    """French state of a document's DMP delivery (HISTO.01)."""
    if delivery is None:
        return NOT_SENT
    if delivery.state == Delivery.State.SENT:
        when = timezone.localtime(delivery.sent_at) if delivery.sent_at else None
        return f"Envoyé au DMP le {french_datetime(when)}" if when else "Envoyé au DMP"
    if delivery.state == Delivery.State.REJECTED:
        return f"Rejeté par le DMP : {delivery.last_error or 'motif non précisé'}"
    if delivery.state == Delivery.State.FAILED:
        when = timezone.localtime(delivery.next_attempt_at)
        return f"En attente d'envoi au DMP (nouvel essai le {french_datetime(when)})"
    return PENDING


def _dmp_deliveries(unique_ids: Iterable[str]) -> QuerySet[Delivery]:
    return Delivery.objects.filter(channel=CHANNEL, document_ref__in=list(unique_ids)).only(
        "pk", "state", "document_ref", "sent_at", "last_error", "next_attempt_at", "created_at"
    )


def document_dmp_state(document: Document) -> str:
    """ "Non envoyé au DMP" / "En attente d'envoi au DMP" / "Envoyé au DMP le …" / "Rejeté par le DMP : …"."""
    return document_dmp_states([document])[document.pk]


def document_dmp_states(documents: Iterable[Document]) -> dict[int, str]:
    """The same for a list of documents, in one query: {document pk: label}."""
    by_unique_id = {d.unique_id: d.pk for d in documents}
    latest: dict[int, Delivery] = {}
    for delivery in _dmp_deliveries(by_unique_id).order_by("created_at", "id"):
        latest[by_unique_id[delivery.document_ref]] = delivery
    return {pk: delivery_label(latest.get(pk)) for pk in by_unique_id.values()}


# The reasons of the one eligibility rule below, for the screens, the services and the handler.
NOT_QUALIFIED = (
    "L'identité du patient n'est pas qualifiée (statut QUAL) : le DMP ne peut pas être alimenté (règle 28). "
    "Qualifiez l'identité (appel INSi et justificatif d'identité) pour l'alimenter."
)
OPPOSED = "Le patient s'est opposé à l'alimentation de son DMP (SC.DMP/CONF.06) : rien ne lui est envoyé."


def dmp_feed_refusal(patient: Patient) -> str:
    """THE rule "may this patient's documents go to the DMP now" ("" when they may, else the French reason).

    R28: only a QUAL identity's INS leaves the system (`identity.ins.transmissible_ins`, which also refuses the test
    identities of a practice that ran on the sandbox: `SandboxDataError`); SC.DMP/CONF.06: the patient did not
    object to the feed. Used by the validation panel (the DMP box is offered, or not with this reason), by
    `consultation_validate`, by `dmp_document_feed_refusal` and again by the outbox handler at send time."""
    try:
        ins = transmissible_ins(patient.identity)
    except SandboxDataError as exc:
        return str(exc)
    if ins is None:
        return NOT_QUALIFIED
    if DmpConsent.objects.filter(patient_id=patient.pk, feed_opposed=True).exists():
        return OPPOSED
    return ""


def dmp_document_feed_refusal(document: Document) -> str:
    """Why this document cannot be sent to the DMP now ("" when it can): a model the DMP takes, then the one
    patient rule `dmp_feed_refusal` (R28, SC.DMP/CONF.06). Used by the service and again by the handler."""
    if document.model not in SENDABLE_MODELS:
        return f"Ce type de document ({document.model}) ne peut pas être envoyé au DMP."
    return dmp_feed_refusal(document.patient)


# --- what a DMP call reads first (DmpServiceError with the French reason otherwise) --------------------------------


def dmp_practice() -> Practice:
    """The practice the DMP calls are made for."""
    practice = Practice.objects.first()
    if practice is None:
        raise DmpServiceError("Aucun cabinet n'est configuré.")
    return practice


def dmp_caller_for(user: User, *, practice: Practice | None = None) -> DmpCaller:
    """The professional and structure a DMP call is made as (the VIHF's subject, `dmp.caller.dmp_caller`)."""
    try:
        return dmp_caller(user, practice or dmp_practice())
    except CallerError as exc:
        raise DmpServiceError(str(exc)) from exc


def dmp_patient_ins(patient: Patient) -> str:
    """The patient's INS as a CX, or DmpServiceError: only a QUAL identity is sent to the DMP (R28)."""
    try:
        ins = transmissible_ins(patient.identity)
    except SandboxDataError as exc:  # R28: test data of a sandbox practice never reaches a real service
        raise DmpServiceError(str(exc)) from exc
    if ins is None:
        raise DmpServiceError(
            "L'identité du patient n'est pas qualifiée (statut QUAL) : le DMP ne peut être ni consulté ni alimenté. "
            "Qualifiez l'identité (appel INSi et justificatif d'identité) puis réessayez."
        )
    return ins_cx(ins.matricule, ins.oid)
