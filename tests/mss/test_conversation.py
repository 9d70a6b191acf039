"""Issue 13 §3: a subject on the MSSanté form, and the conversation with a patient (Mon espace santé): one page per
patient with the messages both ways, and « Mettre fin à la conversation » as its own action (X-MSS-MES: FIN,
SC.MSS/CONF.21). All fail before the change (no subject field, no conversation page, no end action)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from caducee.mss.compose import outbound_email
from caducee.mss.intake import ingest_bytes
from caducee.mss.models import Mailbox, OutboundMessage
from caducee.mss.selectors import patient_mss_address
from tests.mss import hostile
from tests.mss.conftest import DOCTOR_BOX

pytestmark = pytest.mark.django_db


@pytest.fixture
def data_dir(settings: Any, tmp_path: Path) -> Path:
    settings.SANDBOX = True
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return tmp_path


def test_the_compose_form_has_a_subject(
    client: Client, doctor: Any, doctor_mailbox: Mailbox, qual_patient: Any
) -> None:
    client.force_login(doctor)
    page = client.get(f"/messagerie/envoyer/?patient={qual_patient.pk}").content.decode()
    assert 'name="objet"' in page
    address = patient_mss_address(qual_patient.identity)
    response = client.post(
        "/messagerie/envoyer/",
        {
            "patient": qual_patient.pk,
            "destinataire": address,
            "objet": "Vos résultats\r\nBcc: x@y",
            "corps": "Bonjour",
            "envoyer": "1",
        },
    )
    assert response.status_code == 302
    assert OutboundMessage.objects.get().subject == "Vos résultats Bcc: x@y"  # one line: no header injection
    page = client.post(
        "/messagerie/envoyer/",
        {"patient": qual_patient.pk, "destinataire": address, "objet": "x" * 201, "corps": "B", "envoyer": "1"},
    ).content.decode()
    assert "L&#x27;objet dépasse 200 caractères" in page and OutboundMessage.objects.count() == 1


def test_the_conversation_page_and_its_end(
    client: Client, data_dir: Path, doctor: Any, doctor_mailbox: Mailbox, qual_patient: Any
) -> None:
    identity = qual_patient.identity
    client.force_login(doctor)
    url = f"/messagerie/patient/{qual_patient.pk}/"
    assert "Aucun message échangé" in client.get(url).content.decode()
    response = client.post(url, {"objet": "Rendez-vous", "corps": "Pouvez-vous passer mardi ?"})
    assert response.status_code == 302
    raw = hostile.mail(
        sender=f"{identity.ins_matricule}@patient.mssante.fr", to=DOCTOR_BOX, subject="Re: Rendez-vous", body="Oui"
    )
    ingest_bytes(raw, source="imap", mailbox=doctor_mailbox, uid_validity=1, uid=9)
    page = client.get(url).content.decode()
    assert page.index("Pouvez-vous passer mardi ?") < page.index("Re: Rendez-vous")  # oldest first
    assert "Mettre fin à la conversation" in page

    response = client.post(f"/messagerie/patient/{qual_patient.pk}/fin/")
    assert response.status_code == 302
    last = OutboundMessage.objects.order_by("-id").first()
    assert last is not None and last.ends_conversation and last.to_patient
    assert [r.address for r in last.recipients.all()] == [patient_mss_address(identity)]
    assert outbound_email(last)["X-MSS-MES"] == "FIN"
    page = client.get(url).content.decode()
    assert "Conversation close le" in page and "Mettre fin à la conversation</button>" not in page
    assert "fin de la conversation" in page


def test_the_end_needs_a_qualified_identity(
    client: Client, doctor: Any, doctor_mailbox: Mailbox, make_patient: Any
) -> None:
    """SC.MSS.14: no message to a patient whose identity is not QUAL — the end action included."""
    patient = make_patient()
    client.force_login(doctor)
    page = client.post(f"/messagerie/patient/{patient.pk}/fin/", follow=True).content.decode()
    assert "pas qualifiée" in page and not OutboundMessage.objects.exists()


def test_a_secretary_cannot_see_the_conversation(client: Client, secretary: Any, qual_patient: Any) -> None:
    client.force_login(secretary)
    assert client.get(f"/messagerie/patient/{qual_patient.pk}/").status_code == 403
