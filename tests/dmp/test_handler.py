"""The outbox handler of the "dmp" channel with the real worker and the FakeDmp: checks at send time (R28, CONF.06,
CONF.01), transient/permanent mapping, idempotent resend, RPLC for a new version, consultation_validate(send_dmp)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from caducee.accounts.models import Role, User
from caducee.cabinet.consultations import consultation_validate
from caducee.core.models import AuditEvent, Delivery
from caducee.core.outbox import registered_channels, run_worker
from caducee.dmp.api import STATUS_APPROVED, STATUS_DEPRECATED, DmpInvalidResponse, DmpRejected, DmpUnavailable
from caducee.dmp.models import DmpAccess, DmpConsent
from caducee.dmp.selectors import dmp_feed_refusal, document_dmp_states
from caducee.dmp.services import dmp_send_document
from caducee.identity.models import Status
from caducee.record.consultations import consultation_open
from caducee.record.models import Consultation
from tests.dmp.fake_dmp import (
    INS_CX,
    MATCHING_IDENTITY,
    FakeDmp,
    fake_dmp,  # noqa: F401 — fixture
    store_n1,
)
from tests.documents.cda_records import qualify

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(make_patient, settings):  # type: ignore[no-untyped-def]
    settings.SANDBOX = True
    return qualify(make_patient())


@pytest.fixture
def dmp(fake_dmp: FakeDmp) -> FakeDmp:  # noqa: F811
    fake_dmp.add_patient(INS_CX, identity=MATCHING_IDENTITY)
    return fake_dmp


def queued(doctor, practice, patient, **kwargs):  # type: ignore[no-untyped-def]
    document = store_n1(practice=practice, author=doctor, patient=patient, **kwargs)
    return document, dmp_send_document(actor=doctor, document=document)


def due_again(delivery: Delivery) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_the_channel_is_registered() -> None:
    assert "dmp" in registered_channels()


def test_publish_checks_existence_first_and_is_idempotent(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    document, delivery = queued(doctor, practice, patient)
    stats = run_worker(until_idle=True)
    assert stats.sent == 1
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT
    assert dmp.methods() == ["test_existence", "provide_and_register"]  # CONF.01: TD0.2 before the feed
    stored = dmp.documents[document.unique_id]
    assert stored.content == bytes(document.cda)
    assert stored.document.format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"
    assert stored.document.author_national_id == "889970012345"
    assert delivery.result["document_unique_ids"] == [document.unique_id]
    assert delivery.result["already_registered"] is False
    assert delivery.result["submission_set_unique_id"].startswith("1.")
    assert DmpAccess.objects.get(patient=patient).exists
    assert AuditEvent.objects.filter(action="dmp.feed", patient_id=patient.pk, outcome="ok").count() == 1
    # A resend after a crash (the DMP had received it): success, no duplicate.
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.PENDING)
    run_worker(until_idle=True)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT and delivery.result["already_registered"] is True
    assert list(dmp.documents) == [document.unique_id]


def test_visibility_chosen_at_send_time_is_sent(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    document = store_n1(practice=practice, author=doctor, patient=patient)
    dmp_send_document(actor=doctor, document=document, visibility=["INVISIBLE_PATIENT"])
    run_worker(until_idle=True)
    assert dmp.documents[document.unique_id].document.confidentiality == ("N", "INVISIBLE_PATIENT")


def test_identity_no_longer_qualified_at_send_time_is_rejected(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    _, delivery = queued(doctor, practice, patient)
    identity = patient.identity
    identity.status = Status.VALI
    identity.save()
    run_worker(until_idle=True)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.REJECTED and "qualifiée" in delivery.last_error
    assert dmp.calls == []


def test_opposition_recorded_after_enqueue_stops_the_send(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    _, delivery = queued(doctor, practice, patient)
    DmpConsent.objects.create(patient=patient, feed_opposed=True)
    run_worker(until_idle=True)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.REJECTED and "opposé" in delivery.last_error
    assert dmp.calls == []


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda d: d.patients.pop(INS_CX), "n'a pas de DMP"),
        (lambda d: setattr(d.patients[INS_CX], "active", False), "fermé"),
    ],
)
def test_no_dmp_or_closed_dmp_is_a_permanent_refusal(doctor, practice, patient, dmp, setup, reason) -> None:  # type: ignore[no-untyped-def]
    document, delivery = queued(doctor, practice, patient)
    setup(dmp)
    run_worker(until_idle=True)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.REJECTED and reason in delivery.last_error
    assert "provide_and_register" not in dmp.methods()
    assert document_dmp_states([document])[document.pk].startswith("Rejeté par le DMP : ")


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("test_existence", DmpUnavailable("Le service DMP est indisponible.")),
        ("provide_and_register", DmpUnavailable("Délai dépassé.")),
        ("provide_and_register", DmpInvalidResponse("Réponse illisible du DMP.")),
    ],
)
def test_transient_failures_are_retried(doctor, practice, patient, dmp, method, error) -> None:  # type: ignore[no-untyped-def]
    document, delivery = queued(doctor, practice, patient)
    dmp.fail(method, error)
    stats = run_worker(until_idle=True)
    assert stats.failed == 1
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.FAILED and delivery.last_error == str(error)
    assert delivery.next_attempt_at > timezone.now()
    assert "nouvel essai" in document_dmp_states([document])[document.pk]
    due_again(delivery)
    run_worker(until_idle=True)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT
    assert document.unique_id in dmp.documents


def test_a_rejection_is_permanent(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    _, delivery = queued(doctor, practice, patient)
    dmp.fail("provide_and_register", DmpRejected("Métadonnées refusées par le DMP.", code="XDSRegistryMetadataError"))
    run_worker(until_idle=True)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.REJECTED and delivery.last_error == "Métadonnées refusées par le DMP."


def test_a_new_version_replaces_the_previous_one(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    # The lookup of the replaced entry (TD3.1b) needs no authorization: our own document, found by its uniqueId.
    first, _ = queued(doctor, practice, patient)
    run_worker(until_idle=True)
    assert dmp.methods() == ["test_existence", "provide_and_register"]  # feeding needs no authorization
    old_uuid = dmp.documents[first.unique_id].document.entry_uuid
    second, delivery = queued(doctor, practice, patient, replaces=first)
    run_worker(until_idle=True)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT and delivery.result["replaces_entry_uuid"] == old_uuid
    assert dmp.methods()[2:] == ["test_existence", "find_by_unique_id", "provide_and_register"]
    assert not AuditEvent.objects.filter(action="dmp.authorization", patient_id=patient.pk).exists()
    assert dmp.documents[first.unique_id].document.status == STATUS_DEPRECATED
    assert dmp.documents[second.unique_id].document.status == STATUS_APPROVED
    # A resend of the new version: already registered, the (deprecated) old one is not replaced twice.
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.PENDING)
    run_worker(until_idle=True)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT and delivery.result["already_registered"] is True


def test_a_replacement_of_a_document_never_sent_is_a_first_publication(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    first = store_n1(practice=practice, author=doctor, patient=patient)
    second, delivery = queued(doctor, practice, patient, replaces=first)
    run_worker(until_idle=True)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT and delivery.result["replaces_entry_uuid"] == ""
    assert list(dmp.documents) == [second.unique_id]


# --- consultation_validate(send_dmp) ---------------------------------------------------------------------------


def test_validation_with_send_dmp_queues_the_vsm_in_the_same_transaction(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    consultation = consultation_open(actor=doctor, patient=patient)
    (vsm,) = consultation_validate(
        actor=doctor,
        consultation=consultation,
        make_vsm=True,
        vsm_exclude=set(),
        send_dmp=True,
        dmp_visibility=frozenset({"MASQUE_PS"}),
    )
    delivery = Delivery.objects.get(document_ref=vsm.unique_id, patient_id=patient.pk)
    assert delivery.payload["visibility"] == ["MASQUE_PS"]
    assert dmp_feed_refusal(patient) == ""
    run_worker(until_idle=True)
    stored = dmp.documents[vsm.unique_id].document
    assert stored.format_code.code == "urn:asip:ci-sis:vsm:2012"
    assert "MASQUE_PS" in stored.confidentiality


def test_validation_of_a_non_qualified_patient_feeds_nothing_and_says_why(doctor, practice, make_patient, dmp) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    consultation = consultation_open(actor=doctor, patient=patient)
    produced = consultation_validate(
        actor=doctor, consultation=consultation, make_vsm=True, vsm_exclude=set(), send_dmp=True
    )
    consultation.refresh_from_db()
    assert len(produced) == 1 and consultation.state == Consultation.State.VALIDATED
    assert not Delivery.objects.exists()
    assert "n'est pas qualifiée" in dmp_feed_refusal(patient)
    assert document_dmp_states(produced) == {produced[0].pk: "Non envoyé au DMP"}


def test_validation_without_send_dmp_queues_nothing(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    consultation = consultation_open(actor=doctor, patient=patient)
    consultation_validate(actor=doctor, consultation=consultation, make_vsm=True, vsm_exclude=set())
    assert not Delivery.objects.exists()


def test_a_colleagues_document_is_not_found_without_authorization(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    """TD3.1b returns the caller's own documents only: another author's version is published unlinked."""
    first, _ = queued(doctor, practice, patient)
    run_worker(until_idle=True)
    colleague = User.objects.create_user(
        username="confrere", role=Role.MEDECIN, rpps="89970099999", profession_code="10", last_name="CONFRERE"
    )
    second, delivery = queued(colleague, practice, patient, replaces=first)
    run_worker(until_idle=True)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT and delivery.result["replaces_entry_uuid"] == ""
    assert "set_authorization" not in dmp.methods()
    assert dmp.documents[second.unique_id].document.status == STATUS_APPROVED


def test_a_refused_lookup_does_not_block_the_replacement(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    first, _ = queued(doctor, practice, patient)
    run_worker(until_idle=True)
    dmp.fail("find_by_unique_id", DmpRejected("Accès refusé.", code="DMP_ACCES_INTERDIT"))
    second, delivery = queued(doctor, practice, patient, replaces=first)
    run_worker(until_idle=True)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT and "Accès refusé" in delivery.result["replacement_unresolved"]
    # ... but an unavailable DMP during the lookup is retried.
    _, delivery = queued(doctor, practice, patient, replaces=second)
    dmp.fail("find_by_unique_id", DmpUnavailable("Délai dépassé."))
    run_worker(until_idle=True)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.FAILED
