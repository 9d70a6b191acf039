"""The outbox (principle 5): committed with the document, retried with back-off, claimed by several
workers without double sends, and nothing lost or sent twice when a worker is killed at any moment."""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from caducee.core import outbox
from caducee.core.models import AuditEvent, Delivery
from caducee.core.outbox import (
    BACKOFF_CAP,
    PermanentDeliveryError,
    TransientDeliveryError,
    backoff_delay,
    delivery_claim,
    delivery_enqueue,
    delivery_process,
    delivery_retry,
    register_handler,
    run_worker,
    run_workers,
    unregister_handler,
)
from caducee.documents.models import Document
from caducee.documents.services import document_ids_new, document_store

CHANNEL = "test"


class Boom(Exception):
    pass


class FakeRemote:
    """A remote service that deduplicates on the idempotency key, like the DMP on the uniqueId."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stored: dict[str, str] = {}
        self.store_log: list[str] = []  # one entry per key actually *stored*
        self.calls: list[str] = []

    def receive(self, key: str) -> str:
        with self.lock:
            self.calls.append(key)
            if key not in self.stored:
                self.stored[key] = f"R{len(self.stored) + 1}"
                self.store_log.append(key)
            return self.stored[key]


@pytest.fixture
def remote() -> Iterator[FakeRemote]:
    fake = FakeRemote()
    register_handler(CHANNEL, lambda delivery, key: {"remote_id": fake.receive(key)})
    yield fake
    unregister_handler(CHANNEL)


def _document(actor: Any, patient: Any, practice: Any) -> Document:
    return document_store(
        actor=actor,
        patient=patient,
        ids=document_ids_new(practice=practice),
        model="n1",
        type_code="11488-4",
        type_code_system="2.16.840.1.113883.6.1",
        type_label="Compte rendu de consultation",
        title="CR",
        cda=b"<ClinicalDocument/>",
        pdf=b"%PDF-1.4",
    )


def _enqueued(actor: Any, patient: Any, practice: Any, count: int = 1) -> list[Delivery]:
    deliveries = []
    for _ in range(count):
        with transaction.atomic():
            document = _document(actor, patient, practice)
            deliveries.append(
                delivery_enqueue(channel=CHANNEL, document=document, action="send", payload={"visible": True})
            )
    return deliveries


def _expire_leases() -> None:
    Delivery.objects.filter(state=Delivery.State.SENDING).update(claimed_until=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db
def test_delivery_commits_with_its_document_or_not_at_all(doctor, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    with pytest.raises(Boom), transaction.atomic():
        document = _document(doctor, patient, practice)
        delivery_enqueue(channel=CHANNEL, document=document, action="send", payload={})
        raise Boom
    assert not Document.objects.exists() and not Delivery.objects.exists()

    (delivery,) = _enqueued(doctor, patient, practice)
    assert (delivery.state, delivery.attempts, delivery.payload) == ("pending", 0, {"visible": True})
    document = Document.objects.get()
    # No link up to documents (core is the ground floor): the uniqueId and the patient id, as values.
    assert delivery.document_unique_id == delivery.document_ref == document.unique_id
    assert delivery.patient_id == patient.pk
    assert delivery.idempotency_key == f"test:send:{delivery.document_unique_id}"


@pytest.mark.django_db
def test_enqueue_twice_returns_the_same_delivery(doctor, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    (first,) = _enqueued(doctor, make_patient(), practice)
    document = Document.objects.get()
    with transaction.atomic():
        again = delivery_enqueue(channel=CHANNEL, document=document, action="send", payload={"other": 1})
        other_action = delivery_enqueue(channel=CHANNEL, document=document, action="mask", payload={})
    assert again.pk == first.pk and again.payload == {"visible": True}
    assert other_action.pk != first.pk
    assert Delivery.objects.count() == 2


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    rng = random.Random(4)
    for attempts, ceiling in [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (30, 3600)]:
        delays = [backoff_delay(attempts, rng=rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1
    assert backoff_delay(100) <= BACKOFF_CAP


@pytest.mark.django_db
def test_transient_failures_are_retried_with_backoff_then_sent(doctor, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    (delivery,) = _enqueued(doctor, make_patient(), practice)
    outcomes = iter([TransientDeliveryError("Le DMP ne répond pas."), TransientDeliveryError(""), {"id": "X1"}])

    def handler(d: Delivery, key: str) -> dict[str, Any]:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    register_handler(CHANNEL, handler)
    try:
        before = timezone.now()
        assert run_worker(once=True).failed == 1
        delivery.refresh_from_db()
        assert (delivery.state, delivery.attempts, delivery.last_error) == ("failed", 1, "Le DMP ne répond pas.")
        assert before + timedelta(seconds=15) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=30)
        assert (delivery.claimed_by, delivery.claimed_until) == ("", None)

        assert run_worker(once=True).failed == 0  # not due yet
        Delivery.objects.update(next_attempt_at=timezone.now())
        run_worker(once=True)
        delivery.refresh_from_db()
        assert (delivery.state, delivery.attempts) == ("failed", 2)
        assert delivery.last_error == "Service momentanément indisponible."
        assert delivery.next_attempt_at >= timezone.now() + timedelta(seconds=29)

        Delivery.objects.update(next_attempt_at=timezone.now())
        assert run_worker(once=True).sent == 1
        delivery.refresh_from_db()
        assert (delivery.state, delivery.attempts, delivery.result, delivery.last_error) == (
            "sent",
            3,
            {"id": "X1"},
            "",
        )
        assert delivery.sent_at is not None
        assert AuditEvent.objects.filter(action="delivery.sent", object_id=str(delivery.pk)).count() == 1
    finally:
        unregister_handler(CHANNEL)


@pytest.mark.django_db
def test_permanent_failure_is_rejected_with_reason_then_the_user_retries(doctor, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    (delivery,) = _enqueued(doctor, patient, practice)
    refuse = [True]

    def handler(d: Delivery, key: str) -> dict[str, Any]:
        if refuse[0]:
            raise PermanentDeliveryError("Métadonnées refusées : code de type inconnu.")
        return {"id": "OK"}

    register_handler(CHANNEL, handler)
    try:
        assert run_worker(once=True).rejected == 1
        delivery.refresh_from_db()
        assert (delivery.state, delivery.last_error) == ("rejected", "Métadonnées refusées : code de type inconnu.")
        assert run_worker(once=True).rejected == 0  # a rejected delivery waits for the user
        event = AuditEvent.objects.get(action="delivery.rejected")
        assert (event.patient_id, event.outcome, event.actor_label) == (patient.pk, "refused", "système")

        refuse[0] = False
        delivery_retry(actor=doctor, delivery=delivery)
        delivery.refresh_from_db()
        assert delivery.state == "pending" and delivery.next_attempt_at <= timezone.now()
        event = AuditEvent.objects.get(action="delivery.retry")
        assert (event.actor, event.patient_id, event.detail["previous_state"]) == (doctor, patient.pk, "rejected")

        assert run_worker(once=True).sent == 1
        delivery.refresh_from_db()
        assert (delivery.state, delivery.attempts, delivery.result) == ("sent", 2, {"id": "OK"})
        with pytest.raises(ValueError, match="ne peut pas être relancé"):
            delivery_retry(actor=doctor, delivery=delivery)
    finally:
        unregister_handler(CHANNEL)


@pytest.mark.django_db
def test_an_expired_lease_is_claimed_again_after_a_crash(doctor, make_patient, practice, remote) -> None:  # type: ignore[no-untyped-def]
    (delivery,) = _enqueued(doctor, make_patient(), practice)
    (claimed,) = delivery_claim(worker_id="crashed")  # the worker dies before sending
    assert delivery_claim(worker_id="other") == []  # the lease still holds
    delivery.refresh_from_db()
    assert (delivery.state, delivery.claimed_by, delivery.attempts) == ("sending", "crashed", 1)

    _expire_leases()
    (again,) = delivery_claim(worker_id="other")
    assert (again.pk, again.claimed_by, again.attempts) == (delivery.pk, "other", 2)
    assert delivery_process(again, worker_id="other") == "sent"
    assert delivery_process(claimed, worker_id="crashed") == "sent"  # a late zombie does not overwrite
    delivery.refresh_from_db()
    assert (delivery.state, delivery.result) == ("sent", {"remote_id": "R1"})
    assert remote.store_log == [delivery.idempotency_key]


@pytest.mark.django_db
def test_killing_the_worker_at_any_moment_loses_nothing_and_sends_nothing_twice(  # type: ignore[no-untyped-def]
    doctor, make_patient, practice
) -> None:
    deliveries = _enqueued(doctor, make_patient(), practice, count=25)
    remote = FakeRemote()
    rng = random.Random(1234)
    kills = [0]

    def flaky(delivery: Delivery, key: str) -> dict[str, Any]:
        roll = rng.random()
        if roll < 0.25:
            kills[0] += 1
            raise SystemExit(1)  # killed before the remote received anything
        remote_id = remote.receive(key)
        if roll < 0.5:
            kills[0] += 1
            raise KeyboardInterrupt  # killed after the remote stored it, before we recorded it
        if roll < 0.6:
            raise TransientDeliveryError("Délai dépassé.")
        return {"remote_id": remote_id}

    register_handler(CHANNEL, flaky)
    try:
        for iteration in range(150):
            try:
                run_worker(once=True, batch=3)
            except (SystemExit, KeyboardInterrupt):
                pass
            if iteration % 3 == 0:  # time passes: dead workers' leases and back-offs run out
                _expire_leases()
                Delivery.objects.filter(state=Delivery.State.FAILED).update(next_attempt_at=timezone.now())
        assert kills[0] > 20
        register_handler(CHANNEL, lambda d, key: {"remote_id": remote.receive(key)})
        _expire_leases()
        Delivery.objects.filter(state=Delivery.State.FAILED).update(next_attempt_at=timezone.now())
        run_worker(until_idle=True)  # a fresh worker finishes the job
    finally:
        unregister_handler(CHANNEL)

    keys = sorted(d.idempotency_key for d in deliveries)
    assert sorted(remote.store_log) == keys  # every delivery stored exactly once
    assert len(remote.calls) > len(keys)  # … although some were sent more than once
    for delivery in Delivery.objects.all():
        assert delivery.state == "sent"
        assert delivery.result == {"remote_id": remote.stored[delivery.idempotency_key]}


@pytest.mark.django_db(transaction=True)
def test_enqueue_outside_a_transaction_is_refused(doctor, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    document = _document(doctor, make_patient(), practice)
    with pytest.raises(RuntimeError, match="dans la transaction"):
        delivery_enqueue(channel=CHANNEL, document=document, action="send", payload={})
    assert not Delivery.objects.exists()


@contextlib.contextmanager
def _threads_database(tmp_path: Path) -> Iterator[None]:
    """Threads need a database they can share: PostgreSQL's test database as it is; for SQLite, whose
    test database is in memory (shared cache, table locks), a file copy, as in production (WAL)."""
    if connection.vendor != "sqlite":
        yield
        return
    path = tmp_path / "threads.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    settings = connections.settings["default"]
    name = settings["NAME"]
    settings["NAME"] = str(path)  # connections opened by new threads
    try:
        yield
    finally:
        settings["NAME"] = name


def _in_thread(fn: Any) -> Any:
    box: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if errors:
        raise errors[0]
    return box[0]


@pytest.mark.django_db(transaction=True)
def test_two_workers_in_parallel_never_send_the_same_delivery(doctor, make_patient, practice, tmp_path) -> None:  # type: ignore[no-untyped-def]
    deliveries = _enqueued(doctor, make_patient(), practice, count=20)
    lock = threading.Lock()
    sends: list[tuple[str, str]] = []
    errors: list[BaseException] = []

    def handler(delivery: Delivery, key: str) -> dict[str, Any]:
        with lock:
            sends.append((key, delivery.claimed_by))
        threading.Event().wait(0.005)
        return {}

    def work(name: str) -> None:
        try:
            run_worker(until_idle=True, batch=2, worker_id=name)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    register_handler(CHANNEL, handler)
    try:
        with _threads_database(tmp_path):
            threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            states = _in_thread(lambda: sorted(set(Delivery.objects.values_list("state", flat=True))))
    finally:
        unregister_handler(CHANNEL)
    assert errors == []
    keys = [key for key, _ in sends]
    assert sorted(keys) == sorted(d.idempotency_key for d in deliveries)  # each sent exactly once
    assert {worker for _, worker in sends} == {"w0", "w1"}  # both took part
    assert states == ["sent"]


@pytest.mark.django_db(transaction=True)
def test_worker_threads_share_the_queue_and_a_thread_error_is_raised(  # type: ignore[no-untyped-def]
    doctor, make_patient, practice, tmp_path, monkeypatch
) -> None:
    """`caducee worker --threads N`: N claimers in one process, each delivery sent once; a crash is not swallowed."""
    deliveries = _enqueued(doctor, make_patient(), practice, count=12)
    lock = threading.Lock()
    sends: list[tuple[str, str]] = []

    def handler(delivery: Delivery, key: str) -> dict[str, Any]:
        with lock:
            sends.append((key, delivery.claimed_by))
        threading.Event().wait(0.005)
        return {}

    register_handler(CHANNEL, handler)
    try:
        with _threads_database(tmp_path):
            stats = _in_thread(lambda: run_workers(threads=3, stop_event=threading.Event(), until_idle=True, batch=1))
            assert stats.sent == 12

            def broken(**kwargs: Any) -> list[Delivery]:
                raise RuntimeError("base de données indisponible")

            monkeypatch.setattr(outbox, "delivery_claim", broken)  # not a delivery error: the worker stops
            with pytest.raises(RuntimeError, match="indisponible"):
                _in_thread(lambda: run_workers(threads=2, stop_event=threading.Event(), until_idle=True))
    finally:
        unregister_handler(CHANNEL)
    assert sorted(key for key, _ in sends) == sorted(d.idempotency_key for d in deliveries)
    assert len({worker for _, worker in sends}) > 1  # several threads took part


@pytest.mark.django_db
def test_worker_command_sends_until_idle(doctor, make_patient, practice, remote) -> None:  # type: ignore[no-untyped-def]
    from io import StringIO

    from django.core.management import call_command

    _enqueued(doctor, make_patient(), practice, count=3)
    out = StringIO()
    call_command("worker", "--until-idle", "--sleep", "0", stdout=out)
    assert out.getvalue().strip() == "Envois : 3 envoyé(s), 0 en échec, 0 rejeté(s)."
    assert len(remote.store_log) == 3


@pytest.mark.django_db
def test_claim_uses_skip_locked_on_postgresql(doctor, make_patient, practice, remote) -> None:  # type: ignore[no-untyped-def]
    from django.test.utils import CaptureQueriesContext

    _enqueued(doctor, make_patient(), practice)
    with CaptureQueriesContext(connection) as queries:
        assert len(delivery_claim(worker_id="w")) == 1
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    if connection.vendor == "postgresql":
        assert "FOR UPDATE SKIP LOCKED" in selects[0]
    else:
        assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
