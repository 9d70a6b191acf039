"""Issue 5 §6: the MSSanté screens — inbox (professionals and patients apart, UX.25/31; no `XDM/1.0/DDM+`, UX.28),
message (read receipt when asked, UX.33/34; sender to correspondents, ANNU/GEN.03), work list (one-click attach,
UX.09–12), "Envoyer" (recipients pre-proposed and pre-ticked per the arrêté), sent messages; a secretary sees none of
it and changes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from caducee.core.models import Delivery
from caducee.mss.intake import ingest_bytes
from caducee.mss.models import DirectoryEntry, InboundMessage, Mailbox, MailboxKind, OutboundMessage, ReceivedDocument
from caducee.patients.models import PatientCorrespondent
from tests.mss import hostile
from tests.mss.conftest import COLLEAGUE_BOX, DOCTOR_BOX

pytestmark = pytest.mark.django_db


@pytest.fixture
def data_dir(settings: Any, tmp_path: Path) -> Path:
    settings.SANDBOX = True
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return tmp_path


@pytest.fixture
def received_vsm(data_dir: Path, practice: Any, doctor: Any, qual_patient: Any, doctor_mailbox: Mailbox) -> Any:
    """A VSM from an outside cardiologist, asking for a read receipt, taken into the doctor's mailbox."""
    xdm = hostile.xdm_of(hostile.vsm_cda(practice, doctor, qual_patient))
    raw = hostile.mail(
        attachments=[("IHE_XDM.zip", xdm, "application/zip")],
        sender="anne.leroy@demo.mssante.fr",
        to=DOCTOR_BOX,
        mdn=True,
    )
    return ingest_bytes(raw, source="imap", mailbox=doctor_mailbox, uid_validity=1, uid=1)


def test_inbox_lists_the_message_without_the_xdm_prefix(client: Client, doctor: Any, received_vsm: Any) -> None:
    client.force_login(doctor)
    page = client.get("/messagerie/").content.decode()
    assert "Synthèse ADRTROIS Dominique 26/02/1997" in page
    assert "XDM/1.0/DDM+" not in page
    assert 'aria-label="1 non lu(s)"' in page  # the counter in the top bar
    assert "Synthèse ADRTROIS" not in client.get("/messagerie/?onglet=patients").content.decode()  # UX.25
    assert "Synthèse ADRTROIS" in client.get("/messagerie/?q=leroy").content.decode()
    assert "Synthèse ADRTROIS" not in client.get("/messagerie/?q=dupont").content.decode()


def test_opening_the_message_marks_it_read_and_queues_the_read_receipt(
    client: Client, doctor: Any, received_vsm: InboundMessage, qual_patient: Any
) -> None:
    assert received_vsm.documents.get().state == ReceivedDocument.State.FILED
    before = Delivery.objects.filter(channel="mss", action="mdn").count()  # the "processed" MDN of the filing
    client.force_login(doctor)
    page = client.get(f"/messagerie/message/{received_vsm.pk}/").content.decode()
    assert "dans le dossier de" in page
    received_vsm.refresh_from_db()
    assert received_vsm.is_read
    assert Delivery.objects.filter(channel="mss", action="mdn").count() == before + 1
    client.get(f"/messagerie/message/{received_vsm.pk}/")  # a second opening sends nothing more
    assert Delivery.objects.filter(channel="mss", action="mdn").count() == before + 1

    # ANNU/GEN.03: the sender joins the patient's correspondents in one click.
    assert "aux correspondants du patient" in page
    client.post(f"/messagerie/message/{received_vsm.pk}/correspondant/", {"patient": qual_patient.pk})
    link = PatientCorrespondent.objects.get(patient=qual_patient)
    assert link.correspondent.mss_address == "anne.leroy@demo.mssante.fr"
    again = client.get(f"/messagerie/message/{received_vsm.pk}/").content.decode()
    assert f"/messagerie/message/{received_vsm.pk}/correspondant/" not in again  # already a correspondent


def test_another_doctors_mailbox_is_not_readable(client: Client, received_vsm: InboundMessage) -> None:
    from caducee.accounts.models import Role, User

    other = User.objects.create_user(username="autre", role=Role.MEDECIN, last_name="AUTRE")
    client.force_login(other)
    assert client.get(f"/messagerie/message/{received_vsm.pk}/").status_code == 403
    assert "Synthèse ADRTROIS" not in client.get("/messagerie/").content.decode()
    received_vsm.refresh_from_db()
    assert not received_vsm.is_read


def test_secretary_sees_no_message_and_changes_nothing(
    client: Client, secretary: Any, received_vsm: InboundMessage, qual_patient: Any
) -> None:
    client.force_login(secretary)
    for url in (
        "/messagerie/",
        f"/messagerie/message/{received_vsm.pk}/",
        "/messagerie/a-rattacher/",
        "/messagerie/envoyes/",
        f"/messagerie/envoyer/?patient={qual_patient.pk}",
    ):
        assert client.get(url).status_code == 403, url
    assert client.post("/messagerie/test/").status_code == 403
    assert (
        client.post(
            "/messagerie/envoyer/", {"patient": qual_patient.pk, "destinataire": COLLEAGUE_BOX, "envoyer": "1"}
        ).status_code
        == 403
    )
    received_vsm.refresh_from_db()
    assert not received_vsm.is_read and not OutboundMessage.objects.exists()
    assert "Messagerie" not in client.get("/patients/").content.decode()


def test_work_list_attaches_in_one_click(
    client: Client, data_dir: Path, practice: Any, doctor: Any, make_patient: Any, doctor_mailbox: Mailbox
) -> None:
    patient = make_patient()  # PROV: no INS in the CDA, so never filed automatically
    inbound = ingest_bytes(hostile.xdm_of(hostile.vsm_cda(practice, doctor, patient), with_ins=False), source="import")
    received = inbound.documents.get()
    assert received.state == ReceivedDocument.State.WORKLIST
    client.force_login(doctor)
    page = client.get("/messagerie/a-rattacher/").content.decode()
    assert f"score {received.candidates[0]['score']} sur 100" in page
    response = client.post(f"/messagerie/document/{received.pk}/rattacher/", {"patient": patient.pk})
    assert response.status_code == 302
    received.refresh_from_db()
    assert received.state == ReceivedDocument.State.FILED and received.document.patient == patient
    assert "Aucun document en attente" in client.get("/messagerie/a-rattacher/").content.decode()


def test_compose_proposes_the_colleague_and_sends_with_a_directory_recipient(
    client: Client, doctor: Any, doctor_mailbox: Mailbox, qual_patient: Any, letter: Any
) -> None:
    from caducee.accounts.models import Role, User

    colleague = User.objects.create_user(username="collegue", role=Role.MEDECIN, last_name="BERNARD")
    Mailbox.objects.create(address=COLLEAGUE_BOX, kind=MailboxKind.PER, owner=colleague, display_name="BERNARD Hugo")
    qual_patient.medecin_traitant = colleague
    qual_patient.save(update_fields=["medecin_traitant"])
    DirectoryEntry.objects.create(
        address="anne.leroy@demo.mssante.fr",
        kind="PER",
        family_name="LEROY",
        given_name="Anne",
        specialty="Cardiologie",
        city="LYON",
        search_name="LEROY ANNE",
        search_city="LYON",
    )
    client.force_login(doctor)
    url = f"/messagerie/envoyer/?patient={qual_patient.pk}&document={letter.pk}"
    page = client.get(url + "&recherche=ler+lyon").content.decode()
    assert f'value="{COLLEAGUE_BOX}"' in page and "anne.leroy@demo.mssante.fr" in page
    response = client.post(
        "/messagerie/envoyer/",
        {
            "patient": qual_patient.pk,
            "document": letter.pk,
            "destinataire": [COLLEAGUE_BOX, "anne.leroy@demo.mssante.fr"],
            "corps": "Cher confrère,",
            "envoyer": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()
    message = OutboundMessage.objects.get()
    assert sorted(r.address for r in message.recipients.all()) == sorted([COLLEAGUE_BOX, "anne.leroy@demo.mssante.fr"])
    assert list(message.documents.all()) == [letter]
    assert PatientCorrespondent.objects.filter(
        patient=qual_patient, correspondent__mss_address="anne.leroy@demo.mssante.fr"
    ).exists()
    page = client.get("/messagerie/envoyes/").content.decode()
    assert 'data-testid="mss-state">en attente' in page


def test_an_identity_change_rescores_the_work_list(
    client: Client, data_dir: Path, practice: Any, doctor: Any, make_patient: Any, secretary: Any
) -> None:
    """SC.MSS/UX.15: after an identity write, the waiting documents are scored again — pulled by the work-list screen
    before it lists (and by each sync pass, below): the identity services only stamp `Identity.updated_at`."""
    from caducee.identity.services import identity_set_attributes

    patient = make_patient()
    received = _scored_an_hour_after_the_last_change(practice, doctor, patient)
    client.force_login(doctor)
    client.get("/messagerie/a-rattacher/")
    received.refresh_from_db()
    assert received.candidates == []  # no identity changed since the scoring: left as it is
    identity = patient.identity
    identity_set_attributes(
        actor=secretary, identity=identity, version=identity.version, doubtful=False, fictitious=False
    )
    page = client.get("/messagerie/a-rattacher/").content.decode()
    received.refresh_from_db()
    assert received.candidates and received.candidates[0]["patient"] == patient.pk and received.best_score > 0
    assert identity.birth_name in page


def test_each_sync_pass_rescores_the_work_list(
    data_dir: Path, practice: Any, doctor: Any, make_patient: Any, secretary: Any
) -> None:
    """The `caducee mss sync` loop (whichever process runs it) pulls the identity changes too."""
    from caducee.identity.services import identity_set_attributes
    from caducee.mss.sync import sync_all

    patient = make_patient()
    received = _scored_an_hour_after_the_last_change(practice, doctor, patient)
    identity = patient.identity
    identity_set_attributes(
        actor=secretary, identity=identity, version=identity.version, doubtful=False, fictitious=False
    )
    received.refresh_from_db()
    assert received.candidates == []  # nothing pushed by the identity service
    assert sync_all() == []  # no mailbox to take in: the pass still rescores
    received.refresh_from_db()
    assert received.candidates and received.candidates[0]["patient"] == patient.pk


def _scored_an_hour_after_the_last_change(practice: Any, doctor: Any, patient: Any) -> ReceivedDocument:
    """A work-list document whose candidates were (as if) computed after the identities last changed, an hour ago
    (emptied here so that a rescoring shows)."""
    from django.utils import timezone

    from caducee.identity.models import Identity

    inbound = ingest_bytes(hostile.xdm_of(hostile.vsm_cda(practice, doctor, patient), with_ins=False), source="import")
    received = inbound.documents.get()
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Identity.objects.update(updated_at=an_hour_ago)
    ReceivedDocument.objects.filter(pk=received.pk).update(candidates=[], best_score=0, scored_at=an_hour_ago)
    return received


def test_a_referral_letter_goes_to_the_medecin_traitant_in_two_clicks(
    client: Client, practice: Any, doctor: Any, doctor_mailbox: Mailbox, qual_patient: Any
) -> None:
    """The arrêté of 26 April 2022 (letters to a professional, 96349-6): the médecin traitant, who is not the author,
    is pre-ticked; "Envoyer par messagerie" then "Envoyer" is the whole path (docs/journeys.md)."""
    from caducee.accounts.models import Role, User
    from caducee.documents.letters.services import letter_create, letters_seed_defaults
    from caducee.documents.models import LetterTemplate

    colleague = User.objects.create_user(username="collegue", role=Role.MEDECIN, last_name="BERNARD")
    Mailbox.objects.create(address=COLLEAGUE_BOX, kind=MailboxKind.PER, owner=colleague, display_name="BERNARD Hugo")
    qual_patient.medecin_traitant = colleague
    qual_patient.save(update_fields=["medecin_traitant"])
    letters_seed_defaults()
    template = LetterTemplate.objects.filter(kind=LetterTemplate.Kind.REFERRAL).first()
    letter = letter_create(
        actor=doctor, patient=qual_patient, template=template, correspondent="Dr BERNARD", body="Cher confrère,"
    )
    assert letter.type_code == "96349-6"
    client.force_login(doctor)
    page = client.get(f"/messagerie/envoyer/?patient={qual_patient.pk}&document={letter.pk}").content.decode()
    assert f'value="{COLLEAGUE_BOX}" checked' in page
    response = client.post(
        "/messagerie/envoyer/",
        {"patient": qual_patient.pk, "document": letter.pk, "destinataire": COLLEAGUE_BOX, "envoyer": "1"},
    )
    assert response.status_code == 302
    assert [r.address for r in OutboundMessage.objects.get().recipients.all()] == [COLLEAGUE_BOX]


def test_patient_messages_are_apart_with_name_and_ins(
    client: Client, data_dir: Path, doctor: Any, doctor_mailbox: Mailbox, qual_patient: Any
) -> None:
    """SC.MSS/UX.25/31: a message from the patient's Mon espace santé address is on the Patients tab, shown with the
    nom de naissance, the premier prénom and the INS, not only the address."""
    identity = qual_patient.identity
    raw = hostile.mail(
        sender=f"{identity.ins_matricule}@patient.mssante.fr",
        to=DOCTOR_BOX,
        subject="Question sur mon traitement",
        body="Bonjour docteur",
    )
    inbound = ingest_bytes(raw, source="imap", mailbox=doctor_mailbox, uid_validity=1, uid=7)
    assert inbound.from_patient and inbound.patient == qual_patient
    client.force_login(doctor)
    assert "Question sur mon traitement" not in client.get("/messagerie/").content.decode()
    page = client.get("/messagerie/?onglet=patients").content.decode()
    assert "Question sur mon traitement" in page
    assert f"{identity.birth_name} {identity.first_given_name}" in page and f"INS {identity.ins_matricule}" in page


def test_the_administrator_declares_mailboxes_and_no_one_else(client: Client, practice: Any, doctor: Any) -> None:
    from caducee.accounts.models import Role, User

    admin = User.objects.create_user(username="adm", role=Role.ADMINISTRATEUR, last_name="ADMIN")
    client.force_login(doctor)
    assert client.get("/messagerie/boites/").status_code == 403
    assert client.post("/messagerie/boites/", {"adresse": "x@test.mssante.fr", "type": "ORG"}).status_code == 403
    client.force_login(admin)
    assert "Boîtes aux lettres MSSanté" in client.get("/structure/").content.decode()
    response = client.post(
        "/messagerie/boites/", {"adresse": DOCTOR_BOX, "type": "PER", "utilisateur": doctor.pk, "active": "1"}
    )
    assert response.status_code == 302
    assert Mailbox.objects.get().owner == doctor
    page = client.post("/messagerie/boites/", {"adresse": "pas une adresse", "type": "ORG"}, follow=True)
    assert "adresse de messagerie valide" in page.content.decode() and Mailbox.objects.count() == 1


def test_a_corrected_document_is_sent_as_annule_et_remplace_to_the_same_recipients(
    client: Client, practice: Any, doctor: Any, doctor_mailbox: Mailbox, qual_patient: Any, letter: Any
) -> None:
    from tests.dmp.fake_dmp import store_n1

    client.force_login(doctor)
    client.post(
        "/messagerie/envoyer/",
        {"patient": qual_patient.pk, "document": letter.pk, "destinataire": COLLEAGUE_BOX, "envoyer": "1"},
    )
    first = OutboundMessage.objects.get()
    corrected = store_n1(practice=practice, author=doctor, patient=qual_patient, replaces=letter)
    page = client.get(f"/messagerie/envoyer/?patient={qual_patient.pk}&document={corrected.pk}").content.decode()
    assert "Annule et remplace le message du" in page
    assert f'value="{COLLEAGUE_BOX}" checked' in page  # the first message's recipient, pre-ticked
    client.post(
        "/messagerie/envoyer/",
        {"patient": qual_patient.pk, "document": corrected.pk, "destinataire": COLLEAGUE_BOX, "envoyer": "1"},
    )
    second = OutboundMessage.objects.exclude(pk=first.pk).get()
    assert second.replaces == first and second.in_reply_to == first.message_id
    assert second.subject.startswith("[Annule et remplace] XDM/1.0/DDM+")
