"""The "Envois" screen (issue 4 §3): every delivery of the outbox with its state in French, and "Renvoyer".

States as the user sees them: en attente, envoi en cours, envoyé, en échec (nouvel essai le …),
rejeté (motif). A failed or rejected delivery can be sent again by hand (`delivery_retry`, audited).
`document_deliveries` gives the same rows for one document (partial `documents/_deliveries.html`).
A delivery keeps the uniqueId of the document it carries (`Delivery.document_ref`), not a link: the list loads the
documents of its page in one query (`documents_by_unique_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from caducee.accounts.permissions import Perm, check_permission, has_permission
from caducee.core.audit import audit_record
from caducee.core.inputs import local_path
from caducee.core.models import Delivery
from caducee.core.outbox import delivery_retry
from caducee.documents.models import Document
from caducee.documents.selectors import documents_by_unique_id

LIST_LIMIT = 200

STATE_LABELS: dict[str, str] = {
    Delivery.State.PENDING: "en attente",
    Delivery.State.SENDING: "envoi en cours",
    Delivery.State.SENT: "envoyé",
    Delivery.State.FAILED: "en échec",
    Delivery.State.REJECTED: "rejeté",
}
RETRYABLE = frozenset({Delivery.State.FAILED, Delivery.State.REJECTED})
CHANNEL_LABELS: dict[str, str] = {"dmp": "DMP", "mss": "Messagerie sécurisée"}


# What each delivery does, in French (issue 13 §3: the page showed the outbox's own words « send », « mdn »,
# « publish »). Keys are (channel, action) as the services queue them; an unknown pair is shown as
# « Autre (<action>) » so that nothing is hidden.
ACTION_LABELS: dict[tuple[str, str], str] = {
    ("mss", "send"): "Envoi du message",
    ("mss", "mdn"): "Accusé de lecture",
    ("dmp", "publish"): "Dépôt dans le DMP",
    ("dmp", "dmp.send"): "Dépôt dans le DMP",
}


def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel)


def action_label(channel: str, action: str) -> str:
    return ACTION_LABELS.get((channel, action), f"Autre ({action})")


def state_label(delivery: Delivery) -> str:
    """The state in French, with the next attempt time (failed) or the reason (rejected)."""
    label = STATE_LABELS.get(delivery.state, delivery.state)
    if delivery.state == Delivery.State.FAILED and delivery.next_attempt_at:
        when = timezone.localtime(delivery.next_attempt_at)
        return f"{label} (nouvel essai le {when:%d/%m/%Y à %H:%M})"
    if delivery.state == Delivery.State.REJECTED:
        return f"{label} ({delivery.last_error or 'motif non précisé'})"
    return label


@dataclass(frozen=True)
class DeliveryRow:
    delivery: Delivery
    label: str
    channel: str
    can_retry: bool
    action: str = ""  # what it does, in French (ACTION_LABELS)
    document: Document | None = None  # the stored document it carries, when there is one


def _rows(
    deliveries: QuerySet[Delivery] | list[Delivery], user: Any, documents: dict[str, Document] | None = None
) -> list[DeliveryRow]:
    can_write = has_permission(user, Perm.CLINICAL_WRITE)
    return [
        DeliveryRow(
            delivery=d,
            label=state_label(d),
            channel=channel_label(d.channel),
            action=action_label(d.channel, d.action),
            can_retry=can_write and d.state in RETRYABLE,
            document=(documents or {}).get(d.document_ref),
        )
        for d in deliveries
    ]


def document_deliveries(document: Document, user: Any) -> list[DeliveryRow]:
    """The deliveries of one document, newest first, for `documents/_deliveries.html` (one query)."""
    deliveries = Delivery.objects.filter(document_ref=document.unique_id).order_by("-created_at", "-id")
    return _rows(deliveries, user, {document.unique_id: document})


def deliveries_view(request: HttpRequest) -> HttpResponse:
    check_permission(request.user, Perm.CLINICAL_READ)
    filters = {k: request.GET.get(k, "") for k in ("etat", "canal")}
    deliveries = Delivery.objects.all()
    if filters["etat"] in STATE_LABELS:
        deliveries = deliveries.filter(state=filters["etat"])
    if filters["canal"]:
        deliveries = deliveries.filter(channel=filters["canal"])
    page = list(deliveries.order_by("-created_at", "-id")[:LIST_LIMIT])
    documents = documents_by_unique_id(  # the page's documents, one query
        (d.document_ref for d in page),
        queryset=Document.objects.select_related("patient__identity").defer("cda", "pdf"),
    )
    rows = _rows(page, request.user, documents)
    channels = list(Delivery.objects.order_by("channel").values_list("channel", flat=True).distinct())
    audit_record(actor=request.user, action="delivery.list", object_type="delivery", request=request)
    return render(
        request,
        "documents/deliveries.html",
        {
            "rows": rows,
            "filters": filters,
            "states": list(STATE_LABELS.items()),
            "channels": [(c, channel_label(c)) for c in channels],
            "limit": LIST_LIMIT,
        },
    )


@require_POST
def delivery_resend(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """The "Renvoyer" button: a failed or rejected delivery goes back to pending (audited by `delivery_retry`)."""
    check_permission(request.user, Perm.CLINICAL_WRITE)
    delivery = get_object_or_404(Delivery, pk=delivery_id)
    try:
        delivery_retry(actor=request.user, delivery=delivery)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Envoi relancé : il repart en attente.")
    return redirect(local_path(request, request.POST.get("next", "")) or "deliveries:list")  # issue 13 §4
