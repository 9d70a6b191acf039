"""The MSSanté message: XDM + PDF, subject, X-MSS-* headers, receipts asked, UTF-8 text and identical HTML."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import EmailMessage
from typing import Any

import pytest

from caducee.identity.models import Status
from caducee.mss.compose import (
    ComposeError,
    display_subject,
    document_parts,
    html_of,
    outbound_email,
    sender_display_name,
    submission_for,
)
from caducee.mss.services import mss_send
from caducee.mss.xdm import read_xdm
from tests.documents.cda_records import TEST_INS
from tests.mss.conftest import COLLEAGUE_BOX, DOCTOR_BOX

SUBMISSION = submission_for(
    unique_id="1.2.3.4", source_id="1.2.3", moment=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), title=""
)


def _wire(message: EmailMessage) -> EmailMessage:
    """The message as the recipient gets it (bytes on the wire, parsed again)."""
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _attachments(message: EmailMessage) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found[str(part.get_filename())] = payload
    return found


def _texts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    assert plain is not None and rich is not None
    return str(plain.get_content()), str(rich.get_content())


@pytest.mark.django_db
def test_a_letter_to_a_colleague_travels_as_xdm_and_pdf_with_every_header(
    practice: Any, doctor: Any, doctor_mailbox: Any, qual_patient: Any, letter: Any, settings: Any
) -> None:
    settings.MSS_NIL = "NIL-TEST-0042"
    sent = mss_send(actor=doctor, patient=qual_patient, documents=[letter], recipients=[COLLEAGUE_BOX], body="")
    mail = _wire(outbound_email(sent))

    assert mail["Subject"] == "XDM/1.0/DDM+Compte rendu de consultation ADRTROIS Dominique 26/02/1997"
    assert mail["Message-ID"] == f"<{sent.message_id}>" and sent.message_id.endswith("@test.mssante.fr")
    assert mail["From"].addresses[0].addr_spec == DOCTOR_BOX
    assert mail["From"].addresses[0].display_name == "MARTIN Claire – MSP de test"  # SC.MSS.15
    assert [a.addr_spec for a in mail["To"].addresses] == [COLLEAGUE_BOX]
    assert mail["X-MSS-CODECDA"] == "11488-4"  # CONF.15: the CDA's code
    assert mail["X-MSS-INS"] == "O"  # CONF.14: the CDA holds the qualified INS and its traits
    assert mail["X-MSS-NIL"] == "NIL-TEST-0042"  # CONF.16
    assert mail["Return-Receipt-To"] == DOCTOR_BOX and mail["Disposition-Notification-To"] == DOCTOR_BOX
    assert mail["X-MSS-MES"] is None and mail["In-Reply-To"] is None

    attachments = _attachments(mail)
    assert set(attachments) == {
        "IHE_XDM.zip",
        f"{letter.effective_at:%Y%m%d}_Compte rendu de consultation_ADRTROIS_DOMINIQUE.pdf",
    }
    (document,) = read_xdm(attachments["IHE_XDM.zip"]).documents
    assert document.content == bytes(letter.cda) and document.unique_id == letter.unique_id
    assert attachments[next(n for n in attachments if n.endswith(".pdf"))] == bytes(letter.pdf)

    plain, rich = _texts(mail)  # SC.MSS.12: text/plain and an identical text/html
    assert "Veuillez trouver ci-joint : Compte rendu de consultation." in plain
    assert "Veuillez trouver ci-joint : Compte rendu de consultation." in rich
    for part in mail.walk():  # CONF.19
        if part.get_content_maintype() == "text":
            assert part.get_content_charset() == "utf-8"


@pytest.mark.django_db
def test_the_same_message_is_rebuilt_identically_for_a_resend(
    doctor: Any, doctor_mailbox: Any, qual_patient: Any, letter: Any
) -> None:
    sent = mss_send(actor=doctor, patient=qual_patient, documents=[letter], recipients=[COLLEAGUE_BOX])
    first, second = outbound_email(sent), outbound_email(sent)
    for header in ("Message-ID", "Date", "Subject", "From", "To", "X-MSS-CODECDA"):
        assert first[header] == second[header]
    assert _attachments(first)["IHE_XDM.zip"] == _attachments(second)["IHE_XDM.zip"]


@pytest.mark.django_db
def test_a_document_without_ins_goes_as_its_pdf_only(
    practice: Any, doctor: Any, doctor_mailbox: Any, make_patient: Any
) -> None:
    from tests.dmp.fake_dmp import store_n1

    patient = make_patient()  # PROV: the CDA carries no INS (R28), XDS metadata impossible
    letter = store_n1(practice=practice, author=doctor, patient=patient)
    sent = mss_send(actor=doctor, patient=patient, documents=[letter], recipients=[COLLEAGUE_BOX])
    mail = _wire(outbound_email(sent))
    assert list(_attachments(mail)) == [
        f"{letter.effective_at:%Y%m%d}_Compte rendu de consultation_ADRTROIS_DOMINIQUE.pdf"
    ]
    assert mail["X-MSS-CODECDA"] is None and mail["X-MSS-INS"] is None  # only with an XDM (CONF.14/15)
    assert mail["X-MSS-NIL"]  # on every message


@pytest.mark.django_db
def test_a_cda_with_an_ins_cannot_leave_once_the_identity_is_no_longer_qual(
    doctor: Any, qual_patient: Any, letter: Any
) -> None:
    identity = qual_patient.identity
    identity.status = Status.VALI
    identity.save()
    with pytest.raises(ComposeError, match="n'est plus qualifiée"):
        document_parts([letter], identity, submission=SUBMISSION)


@pytest.mark.django_db
def test_x_mss_ins_is_n_when_the_cda_lacks_a_trait(doctor: Any, qual_patient: Any, letter: Any) -> None:
    from caducee.documents.models import Document

    cda = bytes(letter.cda)
    assert b"administrativeGenderCode" in cda
    stripped = Document(
        patient=letter.patient,
        title=letter.title,
        model="n1",
        cda=cda.replace(b"<administrativeGenderCode", b"<!-- no sex --><x"),
        pdf=None,
        effective_at=letter.effective_at,
    )
    # The CDA is no longer XSD-valid but still readable: the INS is there, a trait is missing.
    try:
        parts = document_parts([stripped], qual_patient.identity, submission=SUBMISSION)
    except ComposeError:
        pytest.skip("xds_metadata refuses this CDA before X-MSS-INS is decided")
    assert parts.qualified_ins is False


def test_subject_prefix_is_hidden_from_the_reader() -> None:  # SC.MSS/UX.28
    assert display_subject("XDM/1.0/DDM+CR d'examens biologiques VIAL Paul 26/11/1978") == (
        "CR d'examens biologiques VIAL Paul 26/11/1978"
    )
    assert display_subject("[Annule et remplace] XDM/1.0/DDM+Lettre X Y 01/01/2000") == (
        "[Annule et remplace] Lettre X Y 01/01/2000"
    )
    assert display_subject("Bonjour") == "Bonjour"


def test_html_twin_is_escaped_and_keeps_the_words() -> None:
    text = "Bonjour,\n\n<script>alert(1)</script> & co\nligne 2"
    rich = html_of(text)
    assert "<script>" not in rich and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co<br>\nligne 2" in rich


def test_sender_display_name_rule() -> None:  # SC.MSS.15
    assert sender_display_name(family_name="Martin", given_name="Claire", entity="MSP") == "MARTIN Claire – MSP"
    assert sender_display_name(family_name="", given_name="", entity="Secrétariat") == "Secrétariat"


@pytest.mark.django_db
def test_ending_the_conversation_with_the_patient(
    doctor: Any, doctor_mailbox: Any, qual_patient: Any
) -> None:  # SC.MSS/CONF.21
    sent = mss_send(
        actor=doctor,
        patient=qual_patient,
        recipients=[],
        to_patient=True,
        end_conversation=True,
        subject="Vos résultats",
        body="Vos résultats sont normaux.",
    )
    mail = _wire(outbound_email(sent))
    assert mail["X-MSS-MES"] == "FIN"
    assert [a.addr_spec for a in mail["To"].addresses] == [f"{TEST_INS}@patient.mssante.fr"]
    assert mail["To"].addresses[0].display_name == "ADRTROIS Dominique 26/02/1997"
    assert mail["Subject"] == "Vos résultats" and list(mail.iter_attachments()) == []
    assert _texts(mail)[0] == "Vos résultats sont normaux.\n"


@pytest.mark.django_db
def test_an_application_mailbox_says_so_and_gives_a_reply_to(
    doctor: Any, doctor_mailbox: Any, qual_patient: Any, letter: Any
) -> None:  # SC.MSS.13
    from caducee.mss.models import Mailbox, MailboxKind

    app = Mailbox.objects.create(address="logiciel@test.mssante.fr", kind=MailboxKind.APP, display_name="MSP de test")
    sent = mss_send(actor=doctor, patient=qual_patient, documents=[letter], recipients=[COLLEAGUE_BOX], mailbox=app)
    mail = _wire(outbound_email(sent))
    assert mail["From"].addresses[0].addr_spec == "logiciel@test.mssante.fr"
    assert mail["From"].addresses[0].display_name == "MSP de test"
    assert mail["Reply-To"] == DOCTOR_BOX
    plain, rich = _texts(mail)
    assert f"Pour joindre l'émetteur, écrivez à {DOCTOR_BOX}." in plain and DOCTOR_BOX in rich
