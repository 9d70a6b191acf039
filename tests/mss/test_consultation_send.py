"""Issue 5 §6: the validation panel sends the consultation's documents by MSSanté in the same click and the same
transaction (message + outbox delivery written with the documents); a refused recipient stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from caducee.cabinet.consultations import consultation_validate
from caducee.core.models import Delivery
from caducee.documents.models import Document
from caducee.mss.models import OutboundMessage
from caducee.mss.services import MssServiceError
from caducee.record.consultations import consultation_open
from caducee.record.models import Consultation
from tests.mss.conftest import COLLEAGUE_BOX

pytestmark = pytest.mark.django_db


def test_validation_queues_the_vsm_to_the_chosen_colleague(doctor: Any, doctor_mailbox: Any, qual_patient: Any) -> None:
    consultation = consultation_open(actor=doctor, patient=qual_patient)
    produced = consultation_validate(
        actor=doctor, consultation=consultation, make_vsm=True, vsm_exclude=set(), mss_recipients=[COLLEAGUE_BOX]
    )
    message = OutboundMessage.objects.get()
    assert list(message.documents.all()) == produced
    assert [r.address for r in message.recipients.all()] == [COLLEAGUE_BOX]
    assert message.subject.startswith("XDM/1.0/DDM+")
    assert Delivery.objects.get(channel="mss").state == Delivery.State.PENDING


def test_a_refused_recipient_leaves_the_consultation_open_and_stores_nothing(
    doctor: Any, doctor_mailbox: Any, qual_patient: Any
) -> None:
    """SC.MSS.14: another patient's Mon espace santé address is refused; the whole validation rolls back."""
    consultation = consultation_open(actor=doctor, patient=qual_patient)
    with pytest.raises(MssServiceError):
        consultation_validate(
            actor=doctor,
            consultation=consultation,
            make_vsm=True,
            vsm_exclude=set(),
            mss_recipients=["279035121518989@patient.mssante.fr"],
        )
    consultation.refresh_from_db()
    assert consultation.state == Consultation.State.OPEN
    assert not Document.objects.exists() and not OutboundMessage.objects.exists() and not Delivery.objects.exists()


def test_the_panel_offers_the_medecin_traitant(
    client: Client, doctor: Any, doctor_mailbox: Any, qual_patient: Any
) -> None:
    """The médecin traitant (another doctor of the practice, with a mailbox) is offered; a VSM is not in the arrêté
    of 26 April 2022, so the box is offered unticked (documents/sharing_matrix.py)."""
    from caducee.accounts.models import Role, User
    from caducee.mss.models import Mailbox, MailboxKind

    colleague = User.objects.create_user(username="collegue", role=Role.MEDECIN, last_name="BERNARD")
    Mailbox.objects.create(address=COLLEAGUE_BOX, kind=MailboxKind.PER, owner=colleague, display_name="BERNARD Hugo")
    qual_patient.medecin_traitant = colleague
    qual_patient.save(update_fields=["medecin_traitant"])
    consultation = consultation_open(actor=doctor, patient=qual_patient)
    client.force_login(doctor)
    page = client.get(f"/consultations/{consultation.pk}/").content.decode()
    assert f'name="mss_to" value="{COLLEAGUE_BOX}">' in page
