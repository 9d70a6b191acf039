"""The inbox's entry point: mails, IHE_XDM.zip and CDA files filed into the right chart, the work list, and hostile
input quarantined with its reason, the message kept, nothing written outside the message store (issue 5 §4, §8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from caducee.documents.models import Document
from caducee.identity.models import InsiCall, Status
from caducee.mss.intake import ingest_bytes, intake_outcome
from caducee.mss.mime import detect_kind
from caducee.mss.models import InboundMessage, ReceivedDocument
from caducee.mss.store import store_path, store_root
from tests.documents.cda_records import qualify
from tests.mss import hostile

pytestmark = pytest.mark.django_db


@pytest.fixture
def data_dir(settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # type: ignore[no-untyped-def]
    """DATA_DIR in tmp_path, the sandbox on (test INS allowed, R28), and the working directory deep inside tmp_path
    so that a traversal would land in a directory the test lists."""
    settings.SANDBOX = True
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    work = tmp_path / "work" / "a" / "b" / "c"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    return tmp_path


@pytest.fixture
def qual_patient(practice, doctor, make_patient):  # type: ignore[no-untyped-def]
    return qualify(make_patient())


@pytest.fixture
def vsm(practice, doctor, qual_patient) -> bytes:  # type: ignore[no-untyped-def]
    return hostile.vsm_cda(practice, doctor, qual_patient)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _only(inbound: InboundMessage) -> ReceivedDocument:
    (received,) = inbound.documents.all()
    return received


def test_kind_is_read_from_content_not_name() -> None:
    assert detect_kind(b"PK\x03\x04rest") == "zip"
    assert detect_kind(b"\xef\xbb\xbf  <?xml version='1.0'?><a/>") == "xml"
    assert detect_kind(b"From: a@b\r\nSubject: x\r\n\r\n") == "eml"
    assert detect_kind(b"Return-Path: <a@b>\r\n") == "eml"
    assert detect_kind(b"%PDF-1.4") == ""
    assert detect_kind(b"\x00\x01\x02") == ""


def test_xdm_with_qualified_ins_is_filed_into_the_chart(data_dir, qual_patient, vsm) -> None:  # type: ignore[no-untyped-def]
    inbound = ingest_bytes(hostile.xdm_of(vsm), source="import", filename="IHE_XDM.zip")
    received = _only(inbound)
    assert received.state == ReceivedDocument.State.FILED, received.reason
    assert received.patient == qual_patient
    document = received.document
    assert document is not None and document.patient == qual_patient
    assert document.state == Document.State.RECEIVED and bytes(document.cda) == vsm
    assert document.unique_id == f"{hostile.SENDER_ROOT}^1001"
    assert received.candidates[0] == {
        "patient": qual_patient.pk,
        "score": 100,
        "reasons": received.candidates[0]["reasons"],
        "strict": True,
    }
    # R52: this INS is already known here as QUAL with the same traits: no INSi call.
    assert received.patient_traits["insi"]["statut"] == "not_needed"
    assert not InsiCall.objects.exists()
    assert received.patient_traits["ins_matricule"] == "297022A02012345"
    assert received.patient_traits["birth_name"] == "ADRTROIS"
    assert received.patient_traits["first_given_name"] == "DOMINIQUE"
    assert received.patient_traits["birth_date"] == "1997-02-26" and received.patient_traits["sex"] == "F"
    # The raw input is kept in the store.
    assert store_path(inbound.raw_path).read_bytes()[:2] == b"PK"
    outcome = intake_outcome(inbound, file="IHE_XDM.zip").as_json()
    assert outcome == {
        "file": "IHE_XDM.zip",
        "outcome": "integrated",
        "patient": {"id": qual_patient.pk, "name": "ADRTROIS DOMINIQUE"},
        "reason": received.reason,
    }


def test_mail_with_xdm_and_pdf_files_the_pdf_with_the_cda(data_dir, qual_patient, vsm) -> None:  # type: ignore[no-untyped-def]
    raw = hostile.mail(
        attachments=[
            ("IHE_XDM.zip", hostile.xdm_of(vsm), "application/zip"),
            ("synthese.pdf", hostile.PDF, "application/pdf"),
        ]
    )
    inbound = ingest_bytes(raw, source="imap")
    assert inbound.kind == InboundMessage.Kind.MESSAGE and inbound.error == ""
    assert inbound.sender == "anne.leroy@demo.mssante.fr" and inbound.sender_name == "Dr Anne LEROY"
    assert inbound.subject.startswith("XDM/1.0/DDM+Synth")
    assert "SYNTHESE" in inbound.search_text and inbound.body_text == "Bonjour, ci-joint la synthèse."
    received = _only(inbound)
    assert received.state == ReceivedDocument.State.FILED
    assert bytes(received.document.pdf) == hostile.PDF
    assert not inbound.from_patient


def test_a_plain_cda_file_goes_through_the_same_path(data_dir, qual_patient, vsm) -> None:  # type: ignore[no-untyped-def]
    inbound = ingest_bytes(vsm, source="import", filename="vsm.xml")
    assert _only(inbound).state == ReceivedDocument.State.FILED


def test_not_qualified_identity_goes_to_the_work_list_with_scores(data_dir, practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()  # PROV: the CDA carries no INS (R28), only the traits
    cda = hostile.vsm_cda(practice, doctor, patient)
    inbound = ingest_bytes(hostile.xdm_of(cda, with_ins=False), source="import")
    received = _only(inbound)
    assert received.state == ReceivedDocument.State.WORKLIST
    assert "pas d'INS" in received.reason
    assert received.candidates[0]["patient"] == patient.pk and not received.candidates[0]["strict"]
    assert received.best_score == received.candidates[0]["score"] == 99
    assert store_path(received.stored_path).read_bytes() == cda
    assert received.document is None and not Document.objects.filter(model="externe").exists()
    assert intake_outcome(inbound).outcome == "worklist"


def test_insi_unreachable_sends_a_non_strict_ins_to_the_work_list(data_dir, practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = qualify(make_patient())
    cda = hostile.vsm_cda(practice, doctor, patient)
    identity = patient.identity
    identity.status = Status.VALI  # the INS is in the CDA, but no QUAL identity holds it here: R52 asks INSi
    identity.save()
    received = _only(ingest_bytes(hostile.xdm_of(cda), source="import"))
    assert received.state == ReceivedDocument.State.WORKLIST
    assert received.reason.startswith("vérification INSi impossible")
    call = InsiCall.objects.get()  # R53: the attempt is traced
    assert call.outcome == InsiCall.Outcome.UNAVAILABLE
    assert received.patient_traits["insi"] == {"statut": "unavailable", "motif": received.reason, "appel": call.pk}


def test_same_document_twice_is_a_duplicate(data_dir, qual_patient, vsm) -> None:  # type: ignore[no-untyped-def]
    first = _only(ingest_bytes(hostile.xdm_of(vsm), source="import"))
    second_message = ingest_bytes(hostile.mail(attachments=[("IHE_XDM.zip", hostile.xdm_of(vsm), "application/zip")]))
    second = _only(second_message)
    assert second.state == ReceivedDocument.State.DUPLICATE
    assert second.document == first.document and second.patient == qual_patient
    assert Document.objects.filter(model="externe").count() == 1
    result = intake_outcome(second_message).as_json()
    assert result["outcome"] == "duplicate" and result["patient"]["id"] == qual_patient.pk


def test_new_version_replaces_the_old_one_and_keeps_it(data_dir, practice, doctor, qual_patient) -> None:  # type: ignore[no-untyped-def]
    v1 = hostile.vsm_cda(practice, doctor, qual_patient, ext="2001", set_ext="S1", version=1)
    v2 = hostile.vsm_cda(practice, doctor, qual_patient, ext="2002", set_ext="S1", version=2)
    first = _only(ingest_bytes(hostile.xdm_of(v1), source="import"))
    second = _only(ingest_bytes(hostile.xdm_of(v2), source="import"))
    assert second.state == ReceivedDocument.State.FILED and "remplace" in second.reason
    assert second.document.replaces == first.document and second.document.version_number == 2
    # An old version arriving late is not filed over the new one, and is kept.
    late = _only(ingest_bytes(hostile.xdm_of(v1.replace(b'extension="2001"', b'extension="2000"')), source="import"))
    assert late.state == ReceivedDocument.State.DUPLICATE and "version 1" in late.reason
    assert Document.objects.filter(model="externe").count() == 2


def test_message_from_a_patient_is_tied_to_the_qual_identity(data_dir, qual_patient) -> None:  # type: ignore[no-untyped-def]
    raw = hostile.mail(sender="297022A02012345@patient.mssante.fr", subject="Re: vos résultats", body="Merci docteur")
    inbound = ingest_bytes(raw)
    assert inbound.from_patient and inbound.patient == qual_patient
    assert inbound.documents.count() == 0 and inbound.error == ""


def test_mail_taken_in_twice_by_uid_is_stored_once(data_dir, practice) -> None:  # type: ignore[no-untyped-def]
    from caducee.mss.models import Mailbox

    mailbox = Mailbox.objects.create(address="claire.martin@demo.mssante.fr")
    raw = hostile.mail()
    first = ingest_bytes(raw, mailbox=mailbox, uid_validity=7, uid=3)
    again = ingest_bytes(raw, mailbox=mailbox, uid_validity=7, uid=3)
    assert first.pk == again.pk and InboundMessage.objects.count() == 1


# --- §8: hostile input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (hostile.traversal_zip, "nom de fichier dangereux"),
        (hostile.bomb_zip, "bombe de décompression"),
        (hostile.xxe_zip, "DTD"),
        (lambda valid: hostile.xxe_cda_zip(), "DTD"),
        (hostile.broken_metadata_zip, "métadonnées XDM refusées"),
        (hostile.wrong_hash_zip, "empreinte"),
        (lambda valid: valid[: len(valid) // 2], "archive ZIP lisible"),
    ],
    ids=["traversal", "bomb", "xxe-metadata", "xxe-cda", "broken-metadata", "wrong-hash", "truncated"],
)
def test_hostile_zip_is_quarantined_and_nothing_leaves_the_store(data_dir, vsm, build, reason) -> None:  # type: ignore[no-untyped-def]
    before = _files(data_dir)
    valid = hostile.xdm_of(vsm)
    inbound = ingest_bytes(hostile.mail(attachments=[("IHE_XDM.zip", build(valid), "application/zip")]))
    received = _only(inbound)
    assert received.state == ReceivedDocument.State.QUARANTINED
    assert reason in received.reason
    assert received.document is None and not Document.objects.filter(model="externe").exists()
    new = _files(data_dir) - before
    assert new and all(path.startswith("data/mss/") for path in new), new
    assert store_path(inbound.raw_path).is_file()  # the message itself is kept (§8)
    assert not (data_dir / "outside").exists() and not (data_dir / "work" / "outside").exists()


def test_non_utf8_cda_is_quarantined(data_dir, vsm) -> None:  # type: ignore[no-untyped-def]
    received = _only(ingest_bytes(hostile.latin1_cda_zip(vsm), source="import"))
    assert received.state == ReceivedDocument.State.QUARANTINED and "UTF-8" in received.reason
    assert store_path(received.stored_path).is_file()  # the refused CDA kept for inspection


def test_billion_laughs_cda_is_quarantined(data_dir) -> None:  # type: ignore[no-untyped-def]
    received = _only(ingest_bytes(hostile.LAUGHS, source="import"))
    assert received.state == ReceivedDocument.State.QUARANTINED and "DTD" in received.reason


def test_malformed_mime_is_kept_with_the_reason(data_dir) -> None:  # type: ignore[no-untyped-def]
    inbound = ingest_bytes(hostile.MALFORMED_MIME)
    assert "MIME" in inbound.error and inbound.documents.count() == 0
    assert store_path(inbound.raw_path).read_bytes() == hostile.MALFORMED_MIME
    assert intake_outcome(inbound).outcome == "quarantined"


def test_huge_message_is_kept_unread(data_dir, settings) -> None:  # type: ignore[no-untyped-def]
    settings.MSS_MAX_MESSAGE_BYTES = 10_000
    raw = hostile.mail(attachments=[("gros.pdf", b"%PDF-" + b"x" * 20_000, "application/pdf")])
    inbound = ingest_bytes(raw)
    assert "trop volumineux" in inbound.error and inbound.subject == ""
    assert store_path(inbound.raw_path).stat().st_size == len(raw) == inbound.size


def test_unknown_file_is_quarantined(data_dir) -> None:  # type: ignore[no-untyped-def]
    inbound = ingest_bytes(b"\x00\x01binary junk", source="import", filename="../../x.bin")
    assert "non reconnu" in inbound.error
    assert Path(inbound.raw_path).parts[0] == "raw" and ".." not in inbound.raw_path
    assert store_path(inbound.raw_path).is_relative_to(store_root())


# --- receipts: reports applied, MDN returned when asked ------------------------------------------------------------


def test_a_dsn_is_applied_to_the_message_we_sent(data_dir, doctor) -> None:  # type: ignore[no-untyped-def]
    from caducee.mss.models import Mailbox, OutboundMessage

    mailbox = Mailbox.objects.create(address="claire.martin@demo.mssante.fr", owner=doctor)
    sent = OutboundMessage.objects.create(
        mailbox=mailbox, author=doctor, message_id="abc@demo.mssante.fr", subject="s", state="sent"
    )
    sent.recipients.create(address="hugo.bernard@demo.mssante.fr", state="sent")
    raw = (
        b"From: MAILER-DAEMON@demo.mssante.fr\r\nTo: claire.martin@demo.mssante.fr\r\nSubject: Avis de remise\r\n"
        b"Message-ID: <dsn1@demo.mssante.fr>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nAvis.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.demo.mssante.fr\r\n\r\n"
        b"Final-Recipient: rfc822; hugo.bernard@demo.mssante.fr\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n"
        b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <abc@demo.mssante.fr>\r\nSubject: s\r\n\r\n"
        b"--B--\r\n"
    )
    inbound = ingest_bytes(raw, mailbox=mailbox, uid_validity=1, uid=1)
    assert inbound.kind == InboundMessage.Kind.DSN and inbound.is_read and inbound.documents.count() == 0
    sent.refresh_from_db()
    assert sent.state == "delivered"
    assert intake_outcome(inbound).outcome == "integrated"


def test_mdn_processed_after_automatic_filing_error_otherwise(data_dir, practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    from caducee.core.models import Delivery
    from caducee.mss.models import Mailbox

    mailbox = Mailbox.objects.create(address="claire.martin@demo.mssante.fr", owner=doctor)
    qual = qualify(make_patient())
    prov = make_patient(birth_name="DUPONT", first_given_name="JEAN", sex="M")

    def take(xdm: bytes, uid: int, *, mdn: bool = True) -> InboundMessage:
        raw = hostile.mail(attachments=[("IHE_XDM.zip", xdm, "application/zip")], mdn=mdn)
        return ingest_bytes(raw, mailbox=mailbox, uid_validity=1, uid=uid)

    filed = take(hostile.xdm_of(hostile.vsm_cda(practice, doctor, qual)), 1)
    waiting = take(hostile.xdm_of(hostile.vsm_cda(practice, doctor, prov, ext="3001"), with_ins=False), 2)
    refused = take(hostile.xxe_cda_zip(), 3)
    not_asked = take(hostile.xxe_cda_zip(), 4, mdn=False)
    assert _only(filed).state == ReceivedDocument.State.FILED
    assert _only(waiting).state == ReceivedDocument.State.WORKLIST
    mdns = {d.payload["inbound"]: d.payload for d in Delivery.objects.filter(channel="mss", action="mdn")}
    assert set(mdns) == {filed.pk, waiting.pk, refused.pk} and not_asked.pk not in mdns
    assert mdns[filed.pk]["disposition"] == "processed" and mdns[filed.pk]["error"] == ""
    assert mdns[waiting.pk]["error"] == "903^INS non présent dans le document"
    assert mdns[refused.pk]["error"].startswith("906^document CDA refusé")
    filed.refresh_from_db()
    assert filed.mdn_sent


# --- the streaming MIME reader --------------------------------------------------------------------------------------


def _variants() -> list[bytes]:
    from email.message import EmailMessage

    plain = hostile.mail(attachments=[("a.zip", b"PK\x03\x04" + bytes(range(256)) * 40, "application/zip")])
    alternative = EmailMessage()
    alternative["From"], alternative["Subject"] = "Dr X <x@demo.mssante.fr>", "=?utf-8?q?R=C3=A9sultats?="
    alternative.set_content("Ligne accentuée é à ü\n" * 50, cte="quoted-printable")
    alternative.add_alternative("<p>Ligne accentuée</p>", subtype="html")
    alternative.add_attachment(
        b"%PDF-1.4 " + b"\x00\xff" * 3000, maintype="application", subtype="pdf", filename="r.pdf"
    )
    alternative.add_attachment("<a>é</a>".encode(), maintype="text", subtype="xml", filename="cda.xml")
    lf_only = plain.replace(b"\r\n", b"\n")
    return [plain, alternative.as_bytes(), lf_only]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["mixed", "alternative-qp-8bit", "lf-line-ends"])
def test_streaming_reader_decodes_like_the_email_package(data_dir, index: int) -> None:  # type: ignore[no-untyped-def]
    import email
    import io as _io

    from caducee.mss import mime

    raw = _variants()[index]
    reference = email.message_from_bytes(raw)
    expected = [part.get_payload(decode=True) for part in reference.walk() if not part.is_multipart()]
    scan = mime.scan_mail(_io.BytesIO(raw))
    assert scan is not None and scan.defects == []
    decoded = []
    for leaf in scan.leaves:
        out = _io.BytesIO()
        assert mime.decode_into(_io.BytesIO(raw), leaf, out)
        decoded.append(out.getvalue())
    assert decoded == expected


def test_a_large_message_is_read_with_bounded_memory(data_dir) -> None:  # type: ignore[no-untyped-def]
    """§9: the attachment is decoded to disk in chunks, never held whole with its encoded text."""
    import os
    import tracemalloc

    blob = b"%PDF-" + os.urandom(12 * 1024 * 1024)
    raw = hostile.mail(attachments=[("gros.pdf", blob, "application/pdf")])
    path = data_dir / "big.eml"
    path.write_bytes(raw)
    del raw
    tracemalloc.start()
    inbound = ingest_bytes(path, source="import")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert inbound.error == "" and inbound.size > 16 * 1024 * 1024
    assert peak < 16 * 1024 * 1024, peak  # a few 1 MiB chunks; the email package needs about 4 × 17 MB


def test_a_uniqueid_reused_for_another_content_is_refused(data_dir, practice, doctor, qual_patient, vsm) -> None:  # type: ignore[no-untyped-def]
    first = _only(ingest_bytes(hostile.xdm_of(vsm), source="import"))
    forged = vsm.replace(b"<title>", b"<title>Autre ", 1)
    second = _only(ingest_bytes(hostile.xdm_of(forged), source="import"))
    assert second.state == ReceivedDocument.State.QUARANTINED and "autre contenu" in second.reason
    assert store_path(second.stored_path).read_bytes() == forged
    assert Document.objects.get(model="externe") == first.document and bytes(first.document.cda) == vsm


def test_raw_8bit_headers_and_a_latin1_body_are_kept_readable(data_dir) -> None:  # type: ignore[no-untyped-def]
    raw = (
        b"From: Dr \xe9l\xe9onore <eleonore@demo.mssante.fr>\r\nTo: x@demo.mssante.fr\r\nSubject: r\xe9sultats \xff\r\n"
        b"Message-ID: <latin@demo>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"caf\xe9 cr\xe8me\r\n"
    )
    inbound = ingest_bytes(raw)
    inbound.refresh_from_db()
    assert inbound.sender == "eleonore@demo.mssante.fr"
    assert inbound.subject.startswith("r") and "\udce9" not in inbound.subject
    assert "UTF-8 attendu" in inbound.error and inbound.body_text.startswith("caf")
