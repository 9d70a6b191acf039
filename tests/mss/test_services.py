"""mss_send: one transaction (message, recipients, outbox delivery), the MSS Citoyenne rules (SC.MSS.14, CONF.21),
"Annule et remplace", the test message, the proposed recipients and the sender's mailbox."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from caducee.core.models import AuditEvent, Delivery
from caducee.mss.models import Mailbox, MailboxKind, OutboundMessage, OutboundRecipient
from caducee.mss.selectors import mailbox_for, patient_mss_address, proposed_recipients
from caducee.mss.services import (
    MssServiceError,
    mss_send,
    mss_send_test_message,
)
from caducee.patients.models import Correspondent, CorrespondentRole, PatientCorrespondent
from tests.documents.cda_records import TEST_INS
from tests.mss.conftest import COLLEAGUE_BOX, DOCTOR_BOX

PATIENT_BOX = f"{TEST_INS}@patient.mssante.fr"


def _nothing_written() -> None:
    assert OutboundMessage.objects.count() == 0
    assert OutboundRecipient.objects.count() == 0
    assert Delivery.objects.filter(channel="mss").count() == 0


@pytest.mark.django_db
def test_send_writes_message_recipients_and_delivery_together(
    doctor: Any, doctor_mailbox: Any, qual_patient: Any, letter: Any
) -> None:
    message = mss_send(
        actor=doctor, patient=qual_patient, documents=[letter], recipients=[COLLEAGUE_BOX, " " + COLLEAGUE_BOX.upper()]
    )
    message.refresh_from_db()
    assert message.state == OutboundMessage.State.QUEUED and message.mailbox == doctor_mailbox
    assert message.message_id.endswith("@test.mssante.fr") and not message.message_id.startswith("<")
    assert [(r.address, r.state) for r in message.recipients.all()] == [(COLLEAGUE_BOX, "queued")]
    assert list(message.documents.all()) == [letter]
    delivery = message.delivery
    assert delivery is not None
    assert (delivery.channel, delivery.action, delivery.document_unique_id) == ("mss", "send", message.message_id)
    assert delivery.payload == {"message": message.pk}
    assert (delivery.document_ref, delivery.patient_id) == (letter.unique_id, qual_patient.pk)  # what it carries
    event = AuditEvent.objects.get(action="mss.send")
    assert event.patient_id == qual_patient.pk and event.detail["recipients"] == [COLLEAGUE_BOX]
    assert event.detail["documents"] == [letter.unique_id]


@pytest.mark.django_db
def test_patient_address_only_for_a_qual_identity(doctor: Any, doctor_mailbox: Any, make_patient: Any) -> None:
    patient = make_patient()  # PROV
    assert patient_mss_address(patient.identity) is None
    with pytest.raises(MssServiceError, match=r"SC\.MSS\.14"):
        mss_send(actor=doctor, patient=patient, recipients=[], to_patient=True, body="Bonjour")
    # Typing the address by hand does not get round the rule.
    with pytest.raises(MssServiceError, match=r"SC\.MSS\.14"):
        mss_send(actor=doctor, patient=patient, recipients=[PATIENT_BOX], body="Bonjour")
    _nothing_written()
    assert AuditEvent.objects.filter(action="mss.send", outcome="refused").count() == 2


@pytest.mark.django_db
def test_a_qual_patient_gets_the_message_and_never_another_patient(
    doctor: Any, doctor_mailbox: Any, qual_patient: Any
) -> None:
    assert patient_mss_address(qual_patient.identity) == PATIENT_BOX
    with pytest.raises(MssServiceError, match="n'est pas l'adresse Mon espace santé de ce patient"):
        mss_send(actor=doctor, patient=qual_patient, recipients=["180012A01234567@patient.mssante.fr"], body="x")
    _nothing_written()
    message = mss_send(actor=doctor, patient=qual_patient, recipients=[], to_patient=True, body="Bonjour")
    assert message.to_patient and [r.address for r in message.recipients.all()] == [PATIENT_BOX]


@pytest.mark.django_db
def test_ending_a_conversation_needs_the_patient_as_recipient(
    doctor: Any, doctor_mailbox: Any, qual_patient: Any
) -> None:
    with pytest.raises(MssServiceError, match="Mettre fin aux échanges"):
        mss_send(actor=doctor, patient=qual_patient, recipients=[COLLEAGUE_BOX], end_conversation=True, body="x")
    message = mss_send(actor=doctor, patient=qual_patient, recipients=[], to_patient=True, end_conversation=True)
    assert message.ends_conversation


@pytest.mark.django_db
def test_refusals_before_anything_is_written(
    doctor: Any, secretary: Any, doctor_mailbox: Any, qual_patient: Any, letter: Any, make_patient: Any
) -> None:
    with pytest.raises(PermissionDenied):
        mss_send(actor=secretary, patient=qual_patient, documents=[letter], recipients=[COLLEAGUE_BOX])
    other = make_patient(birth_name="AUTRE", first_given_name="JEAN", birth_date="01/01/1980", sex="M")
    with pytest.raises(MssServiceError, match="un seul patient"):
        mss_send(actor=doctor, patient=other, documents=[letter], recipients=[COLLEAGUE_BOX])
    with pytest.raises(MssServiceError, match="Adresse de messagerie invalide"):
        mss_send(actor=doctor, patient=qual_patient, documents=[letter], recipients=["pas une adresse"])
    with pytest.raises(MssServiceError, match="au moins un destinataire"):
        mss_send(actor=doctor, patient=qual_patient, documents=[letter], recipients=[])
    _nothing_written()


@pytest.mark.django_db
def test_no_mailbox_no_send(doctor: Any, qual_patient: Any, letter: Any) -> None:
    with pytest.raises(MssServiceError, match="Aucune boîte MSSanté"):
        mss_send(actor=doctor, patient=qual_patient, documents=[letter], recipients=[COLLEAGUE_BOX])


@pytest.mark.django_db
def test_a_personal_mailbox_is_only_its_owners(doctor: Any, qual_patient: Any, letter: Any) -> None:
    from caducee.accounts.models import Role, User

    colleague = User.objects.create_user(username="bernard", role=Role.MEDECIN, last_name="Bernard")
    theirs = Mailbox.objects.create(address=COLLEAGUE_BOX, kind=MailboxKind.PER, owner=colleague)
    with pytest.raises(MssServiceError, match="titulaire"):
        mss_send(actor=doctor, patient=qual_patient, documents=[letter], recipients=[DOCTOR_BOX], mailbox=theirs)
    _nothing_written()


@pytest.mark.django_db
def test_annule_et_remplace(practice: Any, doctor: Any, doctor_mailbox: Any, qual_patient: Any, letter: Any) -> None:
    from tests.dmp.fake_dmp import store_n1

    first = mss_send(actor=doctor, patient=qual_patient, documents=[letter], recipients=[COLLEAGUE_BOX])
    corrected = store_n1(practice=practice, author=doctor, patient=qual_patient, replaces=letter)
    second = mss_send(
        actor=doctor, patient=qual_patient, documents=[corrected], recipients=[COLLEAGUE_BOX], replaces=first
    )
    assert second.subject == "[Annule et remplace] " + first.subject
    assert second.in_reply_to == first.message_id and second.references == first.message_id
    assert "annule et remplace celui du" in second.body_text
    assert second.replaces == first and second.message_id != first.message_id


@pytest.mark.django_db
def test_the_test_message_goes_to_the_configured_citizen_address(
    doctor: Any, doctor_mailbox: Any, practice: Any, settings: Any
) -> None:
    assert settings.MSS_PATIENT_TEST_ADDRESS == "279035121518989@patient.mssante.fr"
    message = mss_send_test_message(actor=doctor)
    assert [r.address for r in message.recipients.all()] == ["279035121518989@patient.mssante.fr"]
    assert message.patient is None and message.subject == "Message de test MSSanté"
    assert message.delivery is not None and message.delivery.document_ref == ""


@pytest.mark.django_db
def test_mailbox_for_prefers_the_personal_one(doctor: Any, secretary: Any) -> None:
    assert mailbox_for(doctor) is None
    org = Mailbox.objects.create(address="secretariat@test.mssante.fr", kind=MailboxKind.ORG)
    assert mailbox_for(doctor) == org and mailbox_for(secretary) == org
    per = Mailbox.objects.create(address=DOCTOR_BOX, kind=MailboxKind.PER, owner=doctor)
    assert mailbox_for(doctor) == per and mailbox_for(secretary) == org


@pytest.mark.django_db
def test_proposed_recipients(doctor: Any, doctor_mailbox: Any, qual_patient: Any, make_patient: Any) -> None:
    mt = Correspondent.objects.create(family_name="DURAND", given_name="Paul", mss_address="p.durand@x.mssante.fr")
    referrer = Correspondent.objects.create(family_name="LEROY", given_name="Anne", mss_address="a.leroy@x.mssante.fr")
    no_box = Correspondent.objects.create(family_name="SANSBAL", given_name="Luc")
    for correspondent, role in (
        (mt, CorrespondentRole.MEDECIN_TRAITANT),
        (referrer, CorrespondentRole.ADRESSEUR),
        (no_box, CorrespondentRole.ADRESSEUR),
    ):
        PatientCorrespondent.objects.create(patient=qual_patient, correspondent=correspondent, role=role)
    found = proposed_recipients(qual_patient, doctor)
    assert [(r.address, r.role, r.is_patient) for r in found] == [
        ("p.durand@x.mssante.fr", "medecin_traitant", False),
        ("a.leroy@x.mssante.fr", "adresseur", False),
        (PATIENT_BOX, "patient", True),
    ]
    # The author is the médecin traitant: no letter to oneself, no "médecin traitant" proposal.
    qual_patient.medecin_traitant = doctor
    qual_patient.save(update_fields=["medecin_traitant"])
    assert [r.role for r in proposed_recipients(qual_patient, doctor)] == ["adresseur", "patient"]
    # A PROV patient is never proposed (SC.MSS.14).
    prov = make_patient(birth_name="AUTRE", first_given_name="JEAN", birth_date="01/01/1980", sex="M")
    assert proposed_recipients(prov, doctor) == []


@pytest.mark.django_db
def test_the_medecin_traitant_of_the_practice_is_proposed_by_mailbox(
    doctor: Any, doctor_mailbox: Any, qual_patient: Any
) -> None:
    from caducee.accounts.models import Role, User

    colleague = User.objects.create_user(username="bernard", role=Role.MEDECIN, first_name="Hugo", last_name="Bernard")
    Mailbox.objects.create(address=COLLEAGUE_BOX, kind=MailboxKind.PER, owner=colleague)
    qual_patient.medecin_traitant = colleague
    qual_patient.save(update_fields=["medecin_traitant"])
    (first, *_rest) = proposed_recipients(qual_patient, doctor)
    assert (first.address, first.role, first.display_name) == (COLLEAGUE_BOX, "medecin_traitant", "Dr Hugo Bernard")
