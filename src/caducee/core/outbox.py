"""The outbox: a durable delivery queue for every send to a national service (DMP, MSS…).

Principle 5, "nothing lost": a `Delivery` is written in the same transaction as the document it
delivers (`delivery_enqueue`), so either both exist or neither does. Workers (`caducee worker`,
`run_worker`) claim due deliveries atomically with a lease — `SELECT … FOR UPDATE SKIP LOCKED` on
PostgreSQL, the IMMEDIATE transaction mode on SQLite (one writer at a time) — call the channel's
handler outside any transaction, and record the outcome. A worker killed mid-send leaves its
delivery in "sending" with a lease that expires; the next worker claims it again and resends.

The contract with handlers (`register_handler`):

- A handler is called as ``handler(delivery, idempotency_key)`` and returns a JSON-serialisable
  dict (e.g. the remote id), stored in `Delivery.result`, or None.
- It MUST be safe to call again for the same delivery: a resend after a crash (the remote may have
  received the first call) must not create a duplicate on the remote side. The remote deduplicates
  on the document uniqueId (the DMP does, per XDS); the handler passes it along unchanged, and
  treats "already registered with this uniqueId" as success.
- It raises `TransientDeliveryError` for failures worth retrying (service down, timeout, TLS…):
  the delivery is retried with exponential back-off and jitter. It raises
  `PermanentDeliveryError` when retrying cannot help (rejected metadata, patient opposed…): the
  delivery is rejected, the reason kept for the user, who may retry by hand (`delivery_retry`).
  Both messages are in French: they are shown to the user as they are.
- Any other exception is treated as transient (logged with its traceback).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from caducee.core.audit import audit_record
from caducee.core.models import Delivery

logger = logging.getLogger(__name__)

Handler = Callable[[Delivery, str], "dict[str, Any] | None"]

BACKOFF_CAP = 3600.0  # seconds: the back-off grows up to one hour
BATCH = 5


class DeliveryError(Exception):
    """Base of the errors a handler raises; the message is French and shown to the user."""


class TransientDeliveryError(DeliveryError):
    """Worth retrying later: service unavailable, timeout, network or TLS failure."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help: the remote service refused the delivery."""


class Carried(Protocol):
    """What the outbox keeps of the document a delivery carries (a `documents.Document`; core does not import it)."""

    @property
    def unique_id(self) -> str: ...

    @property
    def patient_id(self) -> int | None: ...


_handlers: dict[str, Handler] = {}


def register_handler(channel: str, fn: Handler) -> None:
    """Declare the function that sends deliveries of `channel` (see the module docstring for the contract)."""
    _handlers[channel] = fn


def unregister_handler(channel: str) -> None:
    _handlers.pop(channel, None)


def registered_channels() -> list[str]:
    return sorted(_handlers)


def idempotency_key(delivery: Delivery) -> str:
    return delivery.idempotency_key


def backoff_delay(attempts: int, *, rng: random.Random | None = None) -> float:
    """Seconds before the next attempt after `attempts` tries: 30 s · 2^(n-1) capped at 1 h, equal jitter."""
    ceiling = min(BACKOFF_CAP, settings.OUTBOX_BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def delivery_enqueue(
    *,
    channel: str,
    document: Carried | None,
    action: str,
    payload: dict[str, Any] | None = None,
    unique_id: str = "",
) -> Delivery:
    """Queue a send of `document` on `channel`; call it inside the transaction that stores the document.

    Idempotent: (channel, document uniqueId, action) identifies the delivery, and enqueuing it again
    returns the existing row unchanged. `unique_id` replaces the document's uniqueId as that key for
    deliveries that are not the document itself (an MSSanté message: its Message-ID). The delivery keeps
    the document's uniqueId and patient id (`document_ref`, `patient_id`), not a link to it.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("delivery_enqueue doit être appelé dans la transaction qui enregistre le document.")
    ref = document.unique_id if document is not None else ""
    key = unique_id or ref
    if not key:
        raise ValueError("Un envoi doit porter l'identifiant unique du document.")
    delivery, _ = Delivery.objects.get_or_create(
        channel=channel,
        document_unique_id=key,
        action=action,
        defaults={
            "document_ref": ref,
            "patient_id": document.patient_id if document is not None else None,
            "payload": payload or {},
        },
    )
    return delivery


def delivery_retry(*, actor: Any, delivery: Delivery) -> Delivery:
    """The user's "Réessayer" button: a rejected or failed delivery goes back to pending, due now."""
    with transaction.atomic():
        locked = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if locked.state not in (Delivery.State.REJECTED, Delivery.State.FAILED):
            raise ValueError(f"Cet envoi ne peut pas être relancé (état : {locked.get_state_display()}).")
        previous = locked.state
        locked.state = Delivery.State.PENDING
        locked.next_attempt_at = timezone.now()
        locked.claimed_by, locked.claimed_until = "", None
        locked.save(update_fields=["state", "next_attempt_at", "claimed_by", "claimed_until"])
        audit_record(
            actor=actor,
            action="delivery.retry",
            object_type="delivery",
            object_id=locked.pk,
            patient_id=locked.patient_id,
            detail={"channel": locked.channel, "action": locked.action, "previous_state": previous},
        )
    return locked


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _due(now: Any) -> Q:
    waiting = Q(state__in=[Delivery.State.PENDING, Delivery.State.FAILED], next_attempt_at__lte=now)
    abandoned = Q(state=Delivery.State.SENDING, claimed_until__lt=now)  # the worker died mid-send
    return waiting | abandoned


def delivery_claim(*, worker_id: str, limit: int = BATCH, lease: timedelta | None = None) -> list[Delivery]:
    """Atomically take up to `limit` due deliveries of the registered channels, with a lease.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent workers take disjoint rows without waiting.
    SQLite: FOR UPDATE is not emitted, but the IMMEDIATE transaction mode takes the write lock at
    BEGIN, so claims are serialised and the second worker sees the first one's lease.
    """
    channels = registered_channels()
    if not channels:
        return []
    lease = lease if lease is not None else timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    with transaction.atomic():
        now = timezone.now()
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(_due(now), channel__in=channels)
            .order_by("next_attempt_at", "id")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        rows = list(Delivery.objects.filter(pk__in=ids).order_by("next_attempt_at", "id"))
        for row in rows:
            row.state = Delivery.State.SENDING
            row.claimed_by = worker_id
            row.claimed_until = now + lease
            row.attempts += 1
        Delivery.objects.bulk_update(rows, ["state", "claimed_by", "claimed_until", "attempts"])
    return rows


def _finish(delivery: Delivery, worker_id: str, **fields: Any) -> bool:
    """Record the outcome if the claim is still ours (a lease taken over by another worker is left to it)."""
    updated = Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.SENDING, claimed_by=worker_id).update(
        claimed_by="", claimed_until=None, **fields
    )
    for name, value in fields.items():
        setattr(delivery, name, value)
    return bool(updated)


def delivery_release(*, delivery: Delivery, worker_id: str) -> None:
    """Give back a claimed delivery that was not attempted (graceful stop): due again at once."""
    Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.SENDING, claimed_by=worker_id).update(
        state=Delivery.State.PENDING, claimed_by="", claimed_until=None, attempts=delivery.attempts - 1
    )


def delivery_process(delivery: Delivery, *, worker_id: str) -> str:
    """Send one claimed delivery through its handler and record the outcome; returns the new state.

    SystemExit and KeyboardInterrupt are not caught: the delivery stays claimed and its lease expires.
    """
    handler = _handlers.get(delivery.channel)
    now = timezone.now
    try:
        if handler is None:
            raise TransientDeliveryError(f"Aucun service d'envoi « {delivery.channel} » n'est configuré.")
        result = handler(delivery, delivery.idempotency_key)
    except PermanentDeliveryError as exc:
        _finish(delivery, worker_id, state=Delivery.State.REJECTED, last_error=str(exc) or "Envoi refusé.")
        audit_record(
            actor=None,
            action="delivery.rejected",
            object_type="delivery",
            object_id=delivery.pk,
            patient_id=delivery.patient_id,
            outcome="refused",
            detail={"channel": delivery.channel, "action": delivery.action, "reason": str(exc)},
        )
        return Delivery.State.REJECTED
    except Exception as exc:
        if isinstance(exc, TransientDeliveryError):
            message = str(exc) or "Service momentanément indisponible."
        else:
            logger.exception("delivery %s: unexpected error", delivery.pk)
            message = f"Erreur inattendue : {exc}"
        delay = backoff_delay(delivery.attempts)
        _finish(
            delivery,
            worker_id,
            state=Delivery.State.FAILED,
            last_error=message,
            next_attempt_at=now() + timedelta(seconds=delay),
        )
        return Delivery.State.FAILED
    _finish(delivery, worker_id, state=Delivery.State.SENT, sent_at=now(), result=result or {}, last_error="")
    audit_record(
        actor=None,
        action="delivery.sent",
        object_type="delivery",
        object_id=delivery.pk,
        patient_id=delivery.patient_id,
        detail={"channel": delivery.channel, "action": delivery.action, "unique_id": delivery.document_unique_id},
    )
    return Delivery.State.SENT


@dataclass
class WorkerStats:
    sent: int = 0
    failed: int = 0
    rejected: int = 0

    def count(self, state: str) -> None:
        if state == Delivery.State.SENT:
            self.sent += 1
        elif state == Delivery.State.REJECTED:
            self.rejected += 1
        else:
            self.failed += 1


def run_worker(
    *,
    once: bool = False,
    until_idle: bool = False,
    sleep: float = 1.0,
    stop_event: threading.Event | None = None,
    worker_id: str | None = None,
    batch: int = BATCH,
) -> WorkerStats:
    """Process due deliveries in small batches until `stop_event` is set.

    `once`: one batch then return. `until_idle`: return when nothing is due. A stop request lets the
    delivery being sent finish; the rest of the batch is released for another worker.
    """
    stop = stop_event or threading.Event()
    me = worker_id or new_worker_id()
    stats = WorkerStats()
    while not stop.is_set():
        claimed = delivery_claim(worker_id=me, limit=batch)
        for index, delivery in enumerate(claimed):
            if stop.is_set():
                for rest in claimed[index:]:
                    delivery_release(delivery=rest, worker_id=me)
                break
            stats.count(delivery_process(delivery, worker_id=me))
        if once or (until_idle and not claimed):
            break
        if not claimed:
            stop.wait(sleep)
    return stats


def run_workers(*, threads: int, stop_event: threading.Event, **options: Any) -> WorkerStats:
    """`run_worker` in `threads` threads of this process (each its own worker id and database connection).

    A send is mostly waiting (TLS round trips, the remote's processing): threads overlap those waits. Claims
    stay atomic, so threads — like processes — take disjoint deliveries.
    """
    if threads <= 1:
        return run_worker(stop_event=stop_event, **options)
    base = new_worker_id()
    results: list[WorkerStats] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        try:
            stats = run_worker(stop_event=stop_event, worker_id=f"{base}/{index}", **options)
            with lock:
                results.append(stats)
        except BaseException as exc:
            stop_event.set()  # the other threads finish their send and stop
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=work, args=(i,), name=f"caducee-worker-{i}") for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        while thread.is_alive():
            thread.join(0.5)  # the main thread stays responsive to SIGTERM / Ctrl-C
    if errors:
        raise errors[0]
    total = WorkerStats()
    for stats in results:
        total.sent += stats.sent
        total.failed += stats.failed
        total.rejected += stats.rejected
    return total
