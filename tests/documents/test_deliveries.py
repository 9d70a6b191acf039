"""Issue 4 §3: the "Envois" screen — states in French, filters, "Renvoyer" (audited, CLINICAL_WRITE only)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from caducee.core.models import AuditEvent, Delivery
from caducee.core.outbox import delivery_enqueue
from caducee.documents.deliveries import document_deliveries
from caducee.documents.selectors import document_by_unique_id
from caducee.documents.services import document_ids_new, document_store

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.documents.deliveries_urls")]

NEXT_TRY = timezone.make_aware(dt.datetime(2031, 3, 4, 15, 30))


def _deliver(actor, patient, practice, *, title: str = "CR", channel: str = "dmp", **state):  # type: ignore[no-untyped-def]
    with transaction.atomic():
        document = document_store(
            actor=actor,
            patient=patient,
            ids=document_ids_new(practice=practice),
            model="n1",
            type_code="11488-4",
            type_code_system="2.16.840.1.113883.6.1",
            type_label="Compte rendu de consultation",
            title=title,
            cda=b"<ClinicalDocument/>",
            pdf=b"%PDF-1.4",
        )
        delivery = delivery_enqueue(channel=channel, document=document, action="register")
    if state:
        Delivery.objects.filter(pk=delivery.pk).update(**state)
        delivery.refresh_from_db()
    return delivery


@pytest.fixture
def every_state(doctor, make_patient, practice):  # type: ignore[no-untyped-def]
    patient = make_patient()
    return {
        "pending": _deliver(doctor, patient, practice, title="Doc attente"),
        "sending": _deliver(doctor, patient, practice, title="Doc en cours", state=Delivery.State.SENDING),
        "sent": _deliver(doctor, patient, practice, title="Doc envoyé", state=Delivery.State.SENT),
        "failed": _deliver(
            doctor,
            patient,
            practice,
            title="Doc échec",
            state=Delivery.State.FAILED,
            attempts=2,
            next_attempt_at=NEXT_TRY,
            last_error="Service momentanément indisponible.",
        ),
        "rejected": _deliver(
            doctor,
            patient,
            practice,
            title="Doc rejeté",
            channel="mss",
            state=Delivery.State.REJECTED,
            attempts=1,
            last_error="Métadonnées refusées : code de classe inconnu.",
        ),
    }


def test_states_rendered_in_french_newest_first(client: Client, doctor, every_state) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    page = client.get("/envois/").content.decode()
    for label in (
        "en attente",
        "envoi en cours",
        "envoyé",
        "en échec (nouvel essai le 04/03/2031 à 15:30)",
        "rejeté (Métadonnées refusées : code de classe inconnu.)",
    ):
        assert label in page
    titles = ["Doc rejeté", "Doc échec", "Doc envoyé", "Doc en cours", "Doc attente"]
    positions = [page.index(t) for t in titles]
    assert positions == sorted(positions)
    # "Renvoyer" only for the failed and the rejected ones.
    assert page.count(">Renvoyer</button>") == 2
    assert "<script>" not in page and "style=" not in page


def test_filters_by_state_and_channel(client: Client, doctor, every_state) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    page = client.get("/envois/?etat=failed").content.decode()
    assert "Doc échec" in page and "Doc rejeté" not in page and "Doc attente" not in page
    page = client.get("/envois/?canal=mss").content.decode()
    assert "Doc rejeté" in page and "Doc échec" not in page
    assert "Aucun envoi." in client.get("/envois/?etat=sent&canal=mss").content.decode()


def test_list_in_a_bounded_number_of_queries(
    client: Client, doctor, make_patient, practice, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        patient = make_patient(birth_name=f"PATIENT{'ABC'[i]}")
        for j in range(5):
            _deliver(doctor, patient, practice, title=f"Doc {i}-{j}")
    client.force_login(doctor)
    client.get("/envois/")
    # Measured 11 whatever the count: session, user, deliveries, the page's documents with their patient and
    # identity (one query: a delivery keeps the uniqueId, not a link), channels, audit insert, session save (a
    # savepoint, the update, its release), the messaging unread counter and the replacement banner of the top bar.
    with django_assert_max_num_queries(11):
        page = client.get("/envois/").content.decode()
    assert page.count("<tr>") == 1 + 15 and "PATIENTC" in page


def test_retry_resets_a_rejected_delivery_to_pending_and_is_audited(client: Client, doctor, every_state) -> None:  # type: ignore[no-untyped-def]
    rejected = every_state["rejected"]
    client.force_login(doctor)
    response = client.post(f"/envois/{rejected.pk}/renvoyer/")
    assert response.status_code == 302 and response["Location"] == "/envois/"
    rejected.refresh_from_db()
    assert rejected.state == Delivery.State.PENDING and rejected.next_attempt_at <= timezone.now()
    event = AuditEvent.objects.get(action="delivery.retry", object_id=str(rejected.pk))
    assert rejected.patient_id is not None
    assert event.actor == doctor and event.patient_id == rejected.patient_id
    assert event.detail["previous_state"] == Delivery.State.REJECTED
    assert "Envoi relancé" in client.get("/envois/").content.decode()


def test_retry_of_a_sent_delivery_is_refused_with_a_message(client: Client, doctor, every_state) -> None:  # type: ignore[no-untyped-def]
    sent = every_state["sent"]
    client.force_login(doctor)
    page = client.post(f"/envois/{sent.pk}/renvoyer/", follow=True).content.decode()
    assert "ne peut pas être relancé" in page
    sent.refresh_from_db()
    assert sent.state == Delivery.State.SENT
    assert not AuditEvent.objects.filter(action="delivery.retry").exists()


def test_secretary_is_refused_and_nothing_changes(client: Client, secretary, every_state) -> None:  # type: ignore[no-untyped-def]
    rejected = every_state["rejected"]
    client.force_login(secretary)
    assert client.get("/envois/").status_code == 403
    assert client.post(f"/envois/{rejected.pk}/renvoyer/").status_code == 403
    rejected.refresh_from_db()
    assert rejected.state == Delivery.State.REJECTED and rejected.last_error
    assert not AuditEvent.objects.filter(action__in=["delivery.retry", "delivery.list"]).exists()


def test_retry_is_post_only(client: Client, doctor, every_state) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    assert client.get(f"/envois/{every_state['rejected'].pk}/renvoyer/").status_code == 405


def test_document_partial_lists_its_deliveries_and_returns_to_the_document(
    client: Client, doctor, every_state, rf
) -> None:  # type: ignore[no-untyped-def]
    failed = every_state["failed"]
    document = document_by_unique_id(failed.document_ref)
    assert document is not None and document.title == "Doc échec"
    request = rf.get(f"/documents/{document.pk}/")
    request.user = doctor
    html = render_to_string(
        "documents/_deliveries.html",
        {"deliveries": document_deliveries(document, doctor)},
        request=request,
    )
    assert "en échec (nouvel essai le 04/03/2031 à 15:30)" in html and ">Renvoyer</button>" in html
    assert "Doc rejeté" not in html and f'value="/documents/{document.pk}/"' in html
    client.force_login(doctor)
    response = client.post(f"/envois/{failed.pk}/renvoyer/", {"next": f"/documents/{document.pk}/"})
    assert response["Location"] == f"/documents/{document.pk}/"
    evil = client.post(f"/envois/{every_state['rejected'].pk}/renvoyer/", {"next": "https://evil.example/"})
    assert evil["Location"] == "/envois/"


def test_a_message_delivery_shows_the_document_it_carries(client: Client, doctor, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    """An MSSanté delivery's key is the Message-ID, not the document's uniqueId: the list still shows the document
    it carries (`Delivery.document_ref`) and its patient, and the document's page lists it."""
    patient = make_patient(birth_name="MESSAGER")
    with transaction.atomic():
        document = document_store(
            actor=doctor,
            patient=patient,
            ids=document_ids_new(practice=practice),
            model="n1",
            type_code="11488-4",
            type_code_system="2.16.840.1.113883.6.1",
            type_label="Compte rendu de consultation",
            title="Lettre envoyée",
            cda=b"<ClinicalDocument/>",
            pdf=b"%PDF-1.4",
        )
        delivery = delivery_enqueue(channel="mss", document=document, action="send", unique_id="<m1@test.mssante.fr>")
    assert (delivery.document_unique_id, delivery.document_ref) == ("<m1@test.mssante.fr>", document.unique_id)
    client.force_login(doctor)
    page = client.get("/envois/").content.decode()
    assert f'href="/documents/{document.pk}/">Lettre envoyée</a>' in page and "MESSAGER" in page
    assert [row.delivery for row in document_deliveries(document, doctor)] == [delivery]


def test_actions_are_named_in_french(client: Client, doctor, make_patient, practice) -> None:  # type: ignore[no-untyped-def]
    """Issue 13 §3: the « Envois » page showed the outbox's words « send », « mdn », « publish »; it now says what
    each delivery does in French (documents.deliveries.ACTION_LABELS). Fails before the fix (raw action shown)."""
    patient = make_patient()
    for channel, action in (("mss", "send"), ("mss", "mdn"), ("dmp", "publish")):
        delivery = _deliver(doctor, patient, practice, title=f"Doc {action}", channel=channel)
        Delivery.objects.filter(pk=delivery.pk).update(action=action)
    client.force_login(doctor)
    page = client.get("/envois/").content.decode()
    for label in ("Envoi du message", "Accusé de lecture", "Dépôt dans le DMP"):
        assert f"<td>{label}</td>" in page
    for raw in ("send", "mdn", "publish"):
        assert f"<td>{raw}</td>" not in page
