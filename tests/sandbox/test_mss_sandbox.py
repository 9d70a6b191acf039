"""The MSSanté sandbox operator, driven as a client does: smtplib and imapclient over STARTTLS with XOAUTH2
tokens from its token endpoint (mutual TLS), the patient page over HTTPS (issue 5 §1, §7)."""

from __future__ import annotations

import base64
import email
import imaplib
import json
import smtplib
import socket
import time
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from caducee.sandbox.mss import smtp as mss_smtp
from caducee.sandbox.mss.server import MssSandbox
from caducee.sandbox.mss.tokens import PscTokenVerifier, TokenRejected, jwks_from_url, sign_jwt
from caducee.sandbox.pki import SandboxPki
from caducee.sandbox.psc import PscSandbox
from tests.sandbox.mss_fixtures import (
    client_context,
    fetch_token,
    imap_session,
    smtp_session,
    start_test_mss,
    xoauth2,
)
from tests.sandbox.psc_fixtures import CLAIRE, HUGO, login

A = "jean.medecin@demo.mssante.fr"
B = "claire.specialiste@demo.mssante.fr"
PATIENT = "279035121518989@patient.mssante.fr"


def _message(
    sender: str, to: str, subject: str = "XDM/1.0/DDM+Lettre DUPONT Jean 01/02/1960", **headers: str
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = email.utils.make_msgid(domain="demo.mssante.fr")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Cher confrère,\nveuillez trouver ci-joint…\n")
    return message


def _parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _report_fields(report: EmailMessage, content_type: str) -> list[dict[str, str]]:
    part = next(p for p in report.walk() if p.get_content_type() == content_type)
    payload = part.get_payload()
    if isinstance(payload, list):
        return [{k: str(v) for k, v in block.items()} for block in payload]
    text = payload if isinstance(payload, str) else ""
    return [
        dict(line.split(": ", 1) for line in block.splitlines() if ": " in line) for block in text.split("\r\n\r\n")
    ]


def _rfc822_headers(report: EmailMessage) -> str:
    part = next(p for p in report.walk() if p.get_content_type() == "text/rfc822-headers")
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data.decode("utf-8")


def _wait_for(predicate, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    return predicate()


# -- A → B -----------------------------------------------------------------------------------------------------


def test_a_writes_to_b_who_reads_by_uid_and_a_gets_the_delivery_report(
    mss_sandbox: MssSandbox, mss_pki: SandboxPki
) -> None:
    sent = _message(A, B, Return_Receipt_To=A, Disposition_Notification_To=A)
    with smtp_session(mss_sandbox, mss_pki, A) as client:
        assert client.has_extn("dsn") and client.esmtp_features["size"] == str(20 * 1024 * 1024)
        assert client.send_message(sent) == {}

    with imap_session(mss_sandbox, mss_pki, B) as imap:
        selected = imap.select_folder("INBOX")
        uids = imap.search(["ALL"])
        assert uids == [1]
        data = imap.fetch(uids, ["BODY.PEEK[]", "FLAGS", "RFC822.SIZE"])[1]
        raw = data[b"BODY[]"]
        assert data[b"FLAGS"] == ()
        assert data[b"RFC822.SIZE"] == len(raw)
        received = _parse(raw)
        assert received["Message-ID"] == sent["Message-ID"]
        assert received["Subject"] == sent["Subject"]
        assert received.get_content().startswith("Cher confrère")
        assert received["Return-Path"] == f"<{A}>"
        imap.add_flags(uids, [b"\\Seen"])
        assert imap.get_flags(uids)[1] == (b"\\Seen",)
        assert imap.search(["UNSEEN"]) == []
        uid_validity = selected[b"UIDVALIDITY"]
        assert selected[b"UIDNEXT"] == 2 and b"\\Seen" in selected[b"PERMANENTFLAGS"]
    assert mss_sandbox.store.mailbox(B).uid_validity == uid_validity

    with imap_session(mss_sandbox, mss_pki, A) as imap:
        imap.select_folder("INBOX", readonly=True)
        (uid,) = imap.search(["ALL"])
        report = _parse(imap.fetch([uid], ["RFC822"])[uid][b"RFC822"])
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    per_message, per_recipient = _report_fields(report, "message/delivery-status")
    assert per_message["Reporting-MTA"] == "dns; sandbox.mssante.fr"
    assert per_recipient["Final-Recipient"] == f"rfc822; {B}"
    assert per_recipient["Action"] == "delivered"
    assert per_recipient["Status"] == "2.0.0"
    assert f"Message-ID: {sent['Message-ID']}" in _rfc822_headers(report)


def test_no_delivery_report_unless_asked(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    with smtp_session(mss_sandbox, mss_pki, A) as client:
        client.send_message(_message(A, B))
        client.send_message(_message(A, B), rcpt_options=["NOTIFY=SUCCESS", f"ORCPT=rfc822;{B}"])
    assert len(mss_sandbox.messages(B)) == 2
    (report,) = mss_sandbox.messages(A)  # only for the NOTIFY=SUCCESS one
    fields = _report_fields(_parse(mss_sandbox.raw(A, report.uid)), "message/delivery-status")
    assert fields[1]["Original-Recipient"] == f"rfc822;{B}"


def test_uids_grow_and_uidvalidity_survives_a_restart(tmp_path: Path, mss_pki: SandboxPki) -> None:
    database = tmp_path / "sandbox" / "mss.sqlite3"
    sandbox = start_test_mss(mss_pki, database)
    try:
        with smtp_session(sandbox, mss_pki, A) as client:
            client.send_message(_message(A, B))
            client.send_message(_message(A, B))
        with imap_session(sandbox, mss_pki, B) as imap:
            first = imap.select_folder("INBOX")[b"UIDVALIDITY"]
            assert imap.search(["UID", "2:*"]) == [2]
            imap.add_flags([1], [b"\\Deleted"])
            imap.expunge()
            assert imap.search(["ALL"]) == [2]
    finally:
        sandbox.stop()
    sandbox = start_test_mss(mss_pki, database)
    try:
        with smtp_session(sandbox, mss_pki, A) as client:
            client.send_message(_message(A, B))
        with imap_session(sandbox, mss_pki, B) as imap:
            assert imap.select_folder("INBOX")[b"UIDVALIDITY"] == first
            assert imap.search(["ALL"]) == [2, 3]  # UID 1 is never reused
    finally:
        sandbox.stop()


def test_a_selected_imap_session_learns_of_new_mail_on_noop(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    with imap_session(mss_sandbox, mss_pki, B) as imap:
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0
        with smtp_session(mss_sandbox, mss_pki, A) as client:
            client.send_message(_message(A, B))
        _wait_for(lambda: mss_sandbox.messages(B))
        time.sleep(0.2)  # the EXISTS is sent from the reactor thread
        assert (1, b"EXISTS") in imap.noop()[1]
        imap.add_flags([1], [b"\\Deleted"])
        imap.expunge()
        with smtp_session(mss_sandbox, mss_pki, A) as client:
            client.send_message(_message(A, B))
        _wait_for(lambda: len(mss_sandbox.messages(B)) == 1 and mss_sandbox.messages(B)[0].uid == 2)
        time.sleep(0.2)
        assert (1, b"EXISTS") in imap.noop()[1]
        assert imap.search(["ALL"]) == [2]


def test_idle_announces_new_mail(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    with imap_session(mss_sandbox, mss_pki, B) as imap:
        imap.select_folder("INBOX")
        imap.idle()
        with smtp_session(mss_sandbox, mss_pki, A) as client:
            client.send_message(_message(A, B))
        assert (1, b"EXISTS") in imap.idle_check(timeout=5)
        imap.idle_done()
        assert imap.search(["UNSEEN"]) == [1]


def test_sasl_ir_initial_response_is_accepted(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    token = fetch_token(mss_sandbox, mss_pki, B)
    with socket.create_connection((mss_sandbox.host, mss_sandbox.imap_port), timeout=10) as raw:
        reader = raw.makefile("rb")
        assert b"STARTTLS" in reader.readline()
        raw.sendall(b"a STARTTLS\r\n")
        assert reader.readline().startswith(b"a OK")
        with client_context(mss_pki).wrap_socket(raw, server_hostname="localhost") as tls:
            lines = tls.makefile("rb")
            initial = base64.b64encode(xoauth2(B, token).encode())
            tls.sendall(b"b AUTHENTICATE XOAUTH2 " + initial + b"\r\n")
            assert lines.readline().startswith(b"b OK")
            tls.sendall(b"c LOGOUT\r\n")


def test_server_side_close_and_injected_smtp_failures(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    imap = imap_session(mss_sandbox, mss_pki, B)
    imap.select_folder("INBOX")
    assert mss_sandbox.disconnect_all() == 1
    with pytest.raises((OSError, imaplib.IMAP4.abort)):
        imap.noop()
    mss_sandbox.fail_next(1)
    mss_sandbox.fail_next(1, code=554, text="5.7.1 Refus definitif")
    with smtp_session(mss_sandbox, mss_pki, A) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as transient:
            client.send_message(_message(A, B))
        assert transient.value.smtp_code == 451
        with pytest.raises(smtplib.SMTPSenderRefused) as permanent:
            client.send_message(_message(A, B))
        assert permanent.value.smtp_code == 554
        assert client.send_message(_message(A, B)) == {}


# -- authentication refused --------------------------------------------------------------------------------------


def test_commands_pipelined_in_clear_behind_starttls_are_dropped(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    with socket.create_connection((mss_sandbox.host, mss_sandbox.smtp_port), timeout=10) as raw:
        reader = raw.makefile("rb")
        reader.readline()
        raw.sendall(b"EHLO x\r\n")
        while not reader.readline().startswith(b"250 "):
            pass
        raw.sendall(b"STARTTLS\r\nNOOP\r\n")
        assert reader.readline().startswith(b"220")
        with client_context(mss_pki).wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"EHLO y\r\n")
            assert tls.makefile("rb").readline().startswith(b"250-sandbox.mssante.fr Hello")
    with socket.create_connection((mss_sandbox.host, mss_sandbox.imap_port), timeout=10) as raw:
        reader = raw.makefile("rb")
        reader.readline()
        raw.sendall(b"a STARTTLS\r\nb NOOP\r\n")
        assert reader.readline().startswith(b"a OK")
        with client_context(mss_pki).wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"c CAPABILITY\r\n")
            assert tls.makefile("rb").readline().startswith(b"* CAPABILITY")


def test_smtp_refuses_auth_and_mail_before_starttls(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    token = fetch_token(mss_sandbox, mss_pki, A)
    with smtplib.SMTP(mss_sandbox.host, mss_sandbox.smtp_port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls") and not client.has_extn("auth")
        assert client.docmd("AUTH", "XOAUTH2 " + base64.b64encode(xoauth2(A, token).encode()).decode())[0] == 530
        assert client.docmd("MAIL", f"FROM:<{A}>")[0] == 530
    with smtplib.SMTP(mss_sandbox.host, mss_sandbox.smtp_port, timeout=10) as client:
        client.starttls(context=client_context(mss_pki))
        client.ehlo()
        assert client.docmd("MAIL", f"FROM:<{A}>")[0] == 530  # TLS but not authenticated
    assert mss_sandbox.auth_log()[0] | {"at": ""} == {
        "at": "",
        "protocol": "smtp",
        "mechanism": "XOAUTH2",
        "user": "",
        "ok": False,
        "reason": "STARTTLS obligatoire avant AUTH",
        "token_issuer": "",
        "subject": "",
    }


def test_imap_refuses_authentication_before_starttls(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    token = fetch_token(mss_sandbox, mss_pki, B)
    client = IMAPClient(mss_sandbox.host, port=mss_sandbox.imap_port, ssl=False, timeout=10)
    try:
        capabilities = client.capabilities()
        assert b"STARTTLS" in capabilities and b"LOGINDISABLED" in capabilities
        assert not any(c.startswith(b"AUTH=") for c in capabilities)
        with pytest.raises(LoginError):
            client.oauth2_login(B, token)
        with pytest.raises(LoginError):
            client.login(B, "secret")
    finally:
        client.shutdown()
    assert [(e["protocol"], e["mechanism"], e["ok"]) for e in mss_sandbox.auth_log()] == [
        ("imap", "XOAUTH2", False),
        ("imap", "LOGIN", False),
    ]


def _forged_token(mailbox: str) -> str:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    return sign_jwt({"iss": "x", "sub": mailbox, "mailbox": mailbox, "iat": now, "exp": now + 120}, other_key)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("expired", "jeton expiré"),
        ("forged", "signature du jeton invalide"),
        ("other_mailbox", "le jeton n'est pas celui de cette boîte aux lettres"),
        ("garbage", "jeton mal formé (JWS compact attendu)"),
        ("tampered", "signature du jeton invalide"),
    ],
)
def test_bad_tokens_are_refused_in_smtp_and_imap(
    mss_sandbox: MssSandbox, mss_pki: SandboxPki, case: str, reason: str
) -> None:
    good = mss_sandbox.issue_token(A)
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["exp"] += 3600
    tampered = ".".join([header, base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("="), signature])
    token = {
        "expired": mss_sandbox.issue_token(A, lifetime=-60),
        "forged": _forged_token(A),
        "other_mailbox": mss_sandbox.issue_token(B),
        "garbage": "pas-un-jeton",
        "tampered": tampered,
    }[case]
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        smtp_session(mss_sandbox, mss_pki, A, token)
    assert refused.value.smtp_code == 535
    with pytest.raises(LoginError):
        imap_session(mss_sandbox, mss_pki, A, token)
    log = mss_sandbox.auth_log()
    assert [(e["protocol"], e["mechanism"], e["user"], e["ok"], e["reason"]) for e in log] == [
        ("smtp", "XOAUTH2", A, False, reason),
        ("imap", "XOAUTH2", A, False, reason),
    ]
    assert token not in json.dumps(log)
    assert good.split(".")[2] not in mss_sandbox.store.path.read_bytes().decode("latin-1")


def test_plain_is_for_application_mailboxes_with_a_client_certificate(
    mss_sandbox: MssSandbox, mss_pki: SandboxPki
) -> None:
    app = "secretariat.app@demo.mssante.fr"
    with smtplib.SMTP(mss_sandbox.host, mss_sandbox.smtp_port, timeout=10) as client:
        client.starttls(context=client_context(mss_pki))
        client.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(app, "peu-importe")
    with smtplib.SMTP(mss_sandbox.host, mss_sandbox.smtp_port, timeout=10) as client:
        client.starttls(context=client_context(mss_pki, with_certificate=True))
        client.ehlo()
        assert client.auth("PLAIN", lambda challenge=None: f"\0{app}\0", initial_response_ok=True)[0] == 235
        assert client.send_message(_message(app, B)) == {}
    client = IMAPClient(mss_sandbox.host, port=mss_sandbox.imap_port, ssl=False, timeout=10)
    client.starttls(client_context(mss_pki, with_certificate=True))
    client.plain_login(app, "")
    client.select_folder("INBOX")
    client.logout()
    assert [(e["protocol"], e["mechanism"], e["ok"]) for e in mss_sandbox.auth_log()] == [
        ("smtp", "PLAIN", False),
        ("smtp", "PLAIN", True),
        ("imap", "PLAIN", True),
    ]


def test_the_sender_is_the_authenticated_mailbox(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    with smtp_session(mss_sandbox, mss_pki, A) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.send_message(_message(B, B), from_addr=B)
    assert refused.value.smtp_code == 553


# -- token endpoint ----------------------------------------------------------------------------------------------


def test_token_endpoint_over_mutual_tls(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    cert = (str(mss_pki.client_cert), str(mss_pki.client_key))
    form = {"grant_type": "client_credentials", "login_hint": A}
    answer = requests.post(mss_sandbox.token_url, data=form, cert=cert, verify=str(mss_pki.ca_cert), timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 120
    assert answer.headers["Cache-Control"] == "no-store"
    header, payload, _ = body["access_token"].split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "=="))["alg"] == "RS256"
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert claims["mailbox"] == claims["sub"] == A
    assert claims["iss"] == mss_sandbox.web_url
    assert claims["exp"] - claims["iat"] == 120

    without_cert = requests.post(mss_sandbox.token_url, data=form, verify=str(mss_pki.ca_cert), timeout=10)
    assert without_cert.status_code == 401 and without_cert.json()["error"] == "invalid_client"
    wrong_grant = requests.post(
        mss_sandbox.token_url,
        data={**form, "grant_type": "password"},
        cert=cert,
        verify=str(mss_pki.ca_cert),
        timeout=10,
    )
    assert wrong_grant.status_code == 400 and wrong_grant.json()["error"] == "unsupported_grant_type"
    for hint in (PATIENT, "someone@gmail.com", ""):
        refused = requests.post(
            mss_sandbox.token_url, data={**form, "login_hint": hint}, cert=cert, verify=str(mss_pki.ca_cert), timeout=10
        )
        assert refused.status_code == 400, hint
    key = mss_sandbox.store.path.parent / "mss-token-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600


# -- delivery faults ------------------------------------------------------------------------------------------------


def test_unknown_recipient_gets_a_failure_report(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    unknown = "inconnu.docteur@demo.mssante.fr"
    sent = _message(A, f"{B}, {unknown}")
    with smtp_session(mss_sandbox, mss_pki, A) as client:
        assert client.send_message(sent, mail_options=["ENVID=env-42"]) == {}
    assert len(mss_sandbox.messages(B)) == 1
    assert mss_sandbox.store.mailbox(unknown) is None
    (report,) = mss_sandbox.messages(A)
    parsed = _parse(mss_sandbox.raw(A, report.uid))
    per_message, per_recipient = _report_fields(parsed, "message/delivery-status")
    assert per_message["Original-Envelope-Id"] == "env-42"
    assert per_recipient["Final-Recipient"] == f"rfc822; {unknown}"
    assert per_recipient["Action"] == "failed"
    assert per_recipient["Status"] == "5.1.1"
    assert per_recipient["Diagnostic-Code"].startswith("smtp; Destinataire inconnu")
    assert f"Message-ID: {sent['Message-ID']}" in _rfc822_headers(parsed)
    assert "Échec de remise" in parsed["Subject"]


def test_recipients_outside_mssante_are_refused_at_rcpt(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    with smtp_session(mss_sandbox, mss_pki, A) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.send_message(_message(A, "quelquun@gmail.com"))
    assert refused.value.recipients["quelquun@gmail.com"][0] == 550


def test_slow_recipient_is_delivered_later(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    slow = "lent.docteur@demo.mssante.fr"
    with smtp_session(mss_sandbox, mss_pki, A) as client:
        client.send_message(_message(A, slow))
    assert mss_sandbox.messages(slow) == []
    assert _wait_for(lambda: mss_sandbox.messages(slow))


def test_oversize_messages_are_refused(
    mss_sandbox: MssSandbox, mss_pki: SandboxPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    with smtp_session(mss_sandbox, mss_pki, A) as client:
        assert client.mail(A, [f"SIZE={20 * 1024 * 1024 + 1}"])[0] == 552
        client.rset()
        monkeypatch.setattr(mss_smtp, "MAX_MESSAGE_BYTES", 50_000)
        big = _message(A, B)
        big.add_attachment(b"\x00" * 60_000, maintype="application", subtype="octet-stream", filename="gros.bin")
        with pytest.raises(smtplib.SMTPSenderRefused) as announced:
            client.send_message(big)  # smtplib announces SIZE=
        assert announced.value.smtp_code == 552
        assert client.mail(A)[0] == 250  # without SIZE=: refused at the end of DATA
        assert client.rcpt(B)[0] == 250
        assert client.data(big.as_bytes())[0] == 552
        monkeypatch.undo()
        assert client.send_message(_message(A, B)) == {}  # the session goes on
    assert len(mss_sandbox.messages(B)) == 1


def test_data_is_unstuffed_and_its_end_found_across_packets(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    with smtp_session(mss_sandbox, mss_pki, A) as client:
        message = _message(A, B)
        message.set_content("ligne\n.point\n..deux\n.\nfin\n")
        client.send_message(message)
        assert client.mail(A)[0] == 250 and client.rcpt(B)[0] == 250
        client.putcmd("data")
        assert client.getreply()[0] == 354
        for piece in (b"Subject: morceaux\r\n\r\nab", b"c\r\n", b".", b"\r", b"\n", b"RSET\r\nNOOP\r\n"):
            client.send(piece)
            time.sleep(0.02)
        assert client.getreply()[0] == 250  # end of DATA
        assert client.getreply()[0] == 250  # RSET, pipelined after the final dot
        assert client.getreply()[0] == 250  # NOOP
    first, second = mss_sandbox.messages(B)
    assert b"\r\nligne\r\n.point\r\n..deux\r\n.\r\nfin\r\n" in mss_sandbox.raw(B, first.uid)
    assert mss_sandbox.raw(B, second.uid).endswith(b"Subject: morceaux\r\n\r\nabc\r\n")


def test_malformed_input_never_stops_the_operator(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    with smtp_session(mss_sandbox, mss_pki, A) as client:
        assert client.docmd("MAIL", "FROM:<<<>>>")[0] in (501, 553)
        client.rset()
        assert client.docmd("BOGUS")[0] == 500
        client.sendmail(A, [B], b"\xff\xfe pas un message\r\n\r\n\x00\x01")
    with smtplib.SMTP(mss_sandbox.host, mss_sandbox.smtp_port, timeout=10) as client:
        client.starttls(context=client_context(mss_pki))
        client.ehlo()
        assert client.docmd("AUTH", "XOAUTH2 !!!pas-du-base64")[0] == 501
        assert client.docmd("AUTH", "XOAUTH2 " + base64.b64encode(b"\x01\x01").decode())[0] == 535
        assert client.docmd("AUTH", "CRAM-MD5")[0] == 504
    with socket.create_connection((mss_sandbox.host, mss_sandbox.imap_port), timeout=10) as raw:
        reader = raw.makefile("rb")
        reader.readline()
        raw.sendall(b"\r\nx\r\na FETCH 1:* (FLAGS)\r\nb AUTHENTICATE\r\nc STARTTLS\r\n")
        plain = [reader.readline()]
        while not plain[-1].startswith(b"c "):
            plain.append(reader.readline())
        assert plain[-1].startswith(b"c OK")
        assert any(line.startswith(b"a BAD") for line in plain)
        assert any(line.startswith(b"b NO") for line in plain)
        with client_context(mss_pki).wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"d AUTHENTICATE XOAUTH2 ###\r\ne SELECT INBOX\r\nf LOGOUT\r\n")
            answer = tls.makefile("rb").read()
    assert b"d BAD" in answer and b"e BAD" in answer and b"f OK" in answer
    assert [(e["protocol"], e["mechanism"], e["ok"], e["reason"]) for e in mss_sandbox.auth_log()][1:] == [
        ("smtp", "XOAUTH2", False, "réponse SASL non base64"),
        ("smtp", "XOAUTH2", False, "réponse XOAUTH2 incomplète (user= et auth=Bearer attendus)"),
        ("smtp", "CRAM-MD5", False, "mécanisme non pris en charge"),
        ("imap", "", False, "STARTTLS obligatoire avant AUTHENTICATE"),
        ("imap", "XOAUTH2", False, "réponse SASL non base64"),
    ]
    with imap_session(mss_sandbox, mss_pki, B) as imap:
        imap.select_folder("INBOX")
        (uid,) = imap.search(["ALL"])
        assert imap.fetch([uid], ["RFC822.SIZE", "BODYSTRUCTURE"])[uid][b"RFC822.SIZE"] > 0


# -- patient page ---------------------------------------------------------------------------------------------------


def _web(sandbox: MssSandbox, pki: SandboxPki, path: str, data: dict[str, str] | None = None) -> requests.Response:
    url = sandbox.web_url + path
    if data is None:
        return requests.get(url, verify=str(pki.ca_cert), timeout=10)
    return requests.post(url, data=data, verify=str(pki.ca_cert), timeout=10)


def test_patient_reads_replies_and_is_refused_after_fin(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    first = _message(A, PATIENT, subject="Vos résultats", Disposition_Notification_To=A)
    with smtp_session(mss_sandbox, mss_pki, A) as client:
        client.send_message(first)

    listing = _web(mss_sandbox, mss_pki, "/patient/")
    assert listing.status_code == 200 and PATIENT in listing.text
    inbox = _web(mss_sandbox, mss_pki, f"/patient/{PATIENT}/")
    assert "Vos résultats" in inbox.text and "(non lu)" in inbox.text
    page = _web(mss_sandbox, mss_pki, f"/patient/{PATIENT}/1")
    assert page.status_code == 200 and "Cher confrère" in page.text and "Répondre" in page.text
    _web(mss_sandbox, mss_pki, f"/patient/{PATIENT}/1")  # read twice, one MDN

    (mdn,) = mss_sandbox.messages(A)
    report = _parse(mss_sandbox.raw(A, mdn.uid))
    assert report.get_param("report-type") == "disposition-notification"
    (fields,) = _report_fields(report, "message/disposition-notification")
    assert fields["Disposition"] == "manual-action/MDN-sent-manually; displayed"
    assert fields["Original-Message-ID"] == first["Message-ID"]
    assert fields["Final-Recipient"] == f"rfc822; {PATIENT}"

    answered = _web(mss_sandbox, mss_pki, f"/patient/{PATIENT}/1/reply", {"body": "Merci docteur."})
    assert answered.status_code == 200
    reply = _parse(mss_sandbox.raw(A, mss_sandbox.messages(A)[-1].uid))
    assert reply["From"] == PATIENT
    assert reply["In-Reply-To"] == first["Message-ID"]
    assert reply["References"] == first["Message-ID"]
    assert reply["Subject"] == "RE: Vos résultats"
    assert reply.get_content().strip() == "Merci docteur."

    end = _message(A, PATIENT, subject="RE: Vos résultats", X_MSS_MES="FIN")
    end["In-Reply-To"] = reply["Message-ID"]
    end["References"] = f"{first['Message-ID']} {reply['Message-ID']}"
    with smtp_session(mss_sandbox, mss_pki, A) as client:
        client.send_message(end)
    count = len(mss_sandbox.messages(A))

    refused = _web(mss_sandbox, mss_pki, f"/patient/{PATIENT}/1/reply", {"body": "Encore une question."})
    assert refused.status_code == 403
    assert "mis fin aux échanges" in refused.text
    assert "Répondre" not in _web(mss_sandbox, mss_pki, f"/patient/{PATIENT}/2").text
    assert len(mss_sandbox.messages(A)) == count  # nothing was sent


def test_a_fin_message_ends_the_conversation_with_that_professional(
    mss_sandbox: MssSandbox, mss_pki: SandboxPki
) -> None:
    with smtp_session(mss_sandbox, mss_pki, A) as client:
        client.send_message(_message(A, PATIENT, subject="Premier"))
        client.send_message(_message(A, PATIENT, subject="Fin", X_MSS_MES="FIN"))
    with smtp_session(mss_sandbox, mss_pki, B) as client:
        client.send_message(_message(B, PATIENT, subject="Autre médecin"))
    assert _web(mss_sandbox, mss_pki, f"/patient/{PATIENT}/1/reply", {"body": "?"}).status_code == 403
    assert _web(mss_sandbox, mss_pki, f"/patient/{PATIENT}/3/reply", {"body": "Oui"}).status_code == 200


def test_patient_page_unknown_mailbox_and_message(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    assert _web(mss_sandbox, mss_pki, f"/patient/{PATIENT}/").status_code == 404
    assert _web(mss_sandbox, mss_pki, "/ailleurs").status_code == 404
    with smtp_session(mss_sandbox, mss_pki, A) as client:
        client.send_message(_message(A, PATIENT))
    assert _web(mss_sandbox, mss_pki, f"/patient/{PATIENT}/9").status_code == 404
    assert _web(mss_sandbox, mss_pki, f"/patient/{B}/").status_code == 404  # not a patient mailbox


def test_bad_patient_address_is_a_delivery_failure(mss_sandbox: MssSandbox, mss_pki: SandboxPki) -> None:
    with smtp_session(mss_sandbox, mss_pki, A) as client:
        client.send_message(_message(A, "dupont@patient.mssante.fr"))
    (report,) = mss_sandbox.messages(A)
    fields = _report_fields(_parse(mss_sandbox.raw(A, report.uid)), "message/delivery-status")
    assert fields[1]["Status"] == "5.1.1"


def test_partial_fetch_returns_only_the_slice(mss_sandbox, mss_pki) -> None:  # type: ignore[no-untyped-def]
    """RFC 3501 §6.4.5: `BODY.PEEK[]<start.length>` answers that slice only (the inbox's sync fetches large
    messages in slices to keep its memory bounded)."""
    from tests.sandbox.mss_fixtures import imap_session, smtp_session

    sender, receiver = "anne.leroy@test.mssante.fr", "slices@test.mssante.fr"
    raw = b"From: <" + sender.encode() + b">\r\nTo: <" + receiver.encode() + b">\r\nSubject: slices\r\n\r\n"
    raw += b"".join(b"%07d\r\n" % i for i in range(20_000))
    client = smtp_session(mss_sandbox, mss_pki, sender)
    try:
        client.sendmail(sender, [receiver], raw)
    finally:
        client.quit()
    imap = imap_session(mss_sandbox, mss_pki, receiver)
    try:
        imap.select_folder("INBOX")
        (uid,) = imap.search(["ALL"])
        whole = imap.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
        part = imap.fetch([uid], ["BODY.PEEK[]<1000.5000>"])[uid]
        data = next(v for k, v in part.items() if k.startswith(b"BODY[]"))
        assert len(data) == 5000 and data == whole[1000:6000]
        tail = imap.fetch([uid], [f"BODY.PEEK[]<{len(whole) - 10}.5000>"])[uid]
        assert next(v for k, v in tail.items() if k.startswith(b"BODY[]")) == whole[-10:]
    finally:
        imap.logout()


# -- Pro Santé Connect access tokens (issue 6, SC.MSS/CONF.07) --------------------------------------------------------

CLAIRE_BOX = "claire.martin@demo.mssante.fr"  # Claire MARTIN's mailbox in the PSC sandbox's records
HUGO_BOX = "hugo.bernard@demo.mssante.fr"


@pytest.fixture
def mss_with_psc(tmp_path: Path, mss_pki: SandboxPki, psc_sandbox: PscSandbox) -> Iterator[MssSandbox]:
    """An operator accepting the test's PSC sandbox's access tokens, wired as the runner does (JWKS in process)."""
    sandbox = start_test_mss(
        mss_pki,
        tmp_path / "psc-mss" / "mss.sqlite3",
        psc_verifier=PscTokenVerifier(issuer=psc_sandbox.url, jwks=psc_sandbox.jwks, reload_interval=0),
        owners_lookup=psc_sandbox.owners_of,
    )
    yield sandbox
    sandbox.stop()


def _auth_entries(sandbox: MssSandbox) -> list[tuple[str, str, bool, str, str, str]]:
    return [
        (e["protocol"], e["user"], e["ok"], e["token_issuer"], e["subject"], e["reason"]) for e in sandbox.auth_log()
    ]


def test_xoauth2_with_a_psc_access_token_for_the_owners_mailbox(
    mss_with_psc: MssSandbox, mss_pki: SandboxPki, psc_sandbox: PscSandbox
) -> None:
    """SC.MSS/CONF.07: SMTP AUTH and IMAP AUTHENTICATE XOAUTH2 with the professional's PSC access token, for the
    mailbox their SubjectNameID holds; the auth log says "psc" and whose token it was."""
    _, tokens = login(psc_sandbox, CLAIRE)
    with smtp_session(mss_with_psc, mss_pki, CLAIRE_BOX, tokens["access_token"]) as client:
        assert client.send_message(_message(CLAIRE_BOX, B)) == {}
    with imap_session(mss_with_psc, mss_pki, CLAIRE_BOX, tokens["access_token"]) as imap:
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0
    assert _auth_entries(mss_with_psc) == [
        ("smtp", CLAIRE_BOX, True, "psc", CLAIRE, ""),
        ("imap", CLAIRE_BOX, True, "psc", CLAIRE, ""),
    ]
    assert tokens["access_token"].split(".")[2] not in mss_with_psc.store.path.read_bytes().decode("latin-1")
    # The operator's own tokens keep working next to PSC's (mailboxes without a PSC session).
    with smtp_session(mss_with_psc, mss_pki, A):
        pass
    assert _auth_entries(mss_with_psc)[-1] == ("smtp", A, True, "operateur", "", "")


def test_a_psc_token_for_someone_elses_mailbox_is_refused(
    mss_with_psc: MssSandbox, mss_pki: SandboxPki, psc_sandbox: PscSandbox
) -> None:
    _, hugo = login(psc_sandbox, HUGO)
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        smtp_session(mss_with_psc, mss_pki, CLAIRE_BOX, hugo["access_token"])
    assert refused.value.smtp_code == 535
    with pytest.raises(LoginError):
        imap_session(mss_with_psc, mss_pki, CLAIRE_BOX, hugo["access_token"])
    with pytest.raises(LoginError):
        imap_session(mss_with_psc, mss_pki, A, hugo["access_token"])  # a mailbox no PSC professional holds
    reason = f"jeton PSC de {HUGO} : boîte aux lettres d'un autre professionnel"
    assert _auth_entries(mss_with_psc) == [
        ("smtp", CLAIRE_BOX, False, "psc", HUGO, reason),
        ("imap", CLAIRE_BOX, False, "psc", HUGO, reason),
        (
            "imap",
            A,
            False,
            "psc",
            HUGO,
            f"jeton PSC de {HUGO} : aucun titulaire PSC connu pour cette boîte aux lettres",
        ),
    ]
    # An owner assigned on the operator (e.g. a shared mailbox): now accepted.
    mss_with_psc.assign_owner(A, HUGO)
    with imap_session(mss_with_psc, mss_pki, A, hugo["access_token"]):
        pass
    with imap_session(mss_with_psc, mss_pki, HUGO_BOX, hugo["access_token"]):
        pass
    assert [e[2:5] for e in _auth_entries(mss_with_psc)[-2:]] == [(True, "psc", HUGO)] * 2


def test_bad_psc_tokens_are_refused(mss_with_psc: MssSandbox, mss_pki: SandboxPki, psc_sandbox: PscSandbox) -> None:
    now = int(time.time())
    base = {
        "iss": psc_sandbox.url,
        "sub": "f:x:" + CLAIRE,
        "aud": ["caducee", "mssante"],
        "iat": now,
        "exp": now + 120,
        "SubjectNameID": CLAIRE,
    }
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = [
        (psc_sandbox.keys.sign({**base, "iat": now - 300, "exp": now - 60}), "jeton PSC expiré"),
        (sign_jwt(base, other_key, kid=psc_sandbox.keys.kid), "signature du jeton PSC invalide"),
        (sign_jwt(base, other_key, kid="inconnu"), "clé de signature inconnue de Pro Santé Connect (kid)"),
        (psc_sandbox.keys.sign({**base, "aud": "caducee"}), "jeton PSC non destiné à la messagerie (aud sans mssante)"),
        (
            psc_sandbox.keys.sign({k: v for k, v in base.items() if k != "SubjectNameID"}),
            "jeton PSC sans SubjectNameID",
        ),
    ]
    for token, _ in cases:
        with pytest.raises(LoginError):
            imap_session(mss_with_psc, mss_pki, CLAIRE_BOX, token)
    assert _auth_entries(mss_with_psc) == [("imap", CLAIRE_BOX, False, "psc", "", reason) for _, reason in cases]


def test_psc_key_rotation_is_followed_by_the_operator(
    mss_with_psc: MssSandbox, mss_pki: SandboxPki, psc_sandbox: PscSandbox
) -> None:
    _, before = login(psc_sandbox, CLAIRE)
    with imap_session(mss_with_psc, mss_pki, CLAIRE_BOX, before["access_token"]):
        pass
    psc_sandbox.rotate_keys()
    _, after = login(psc_sandbox, CLAIRE)
    with imap_session(mss_with_psc, mss_pki, CLAIRE_BOX, after["access_token"]):  # new kid: JWKS reloaded
        pass
    assert [e[2] for e in _auth_entries(mss_with_psc)] == [True, True]


def test_psc_jwks_fetched_over_https(psc_sandbox: PscSandbox) -> None:
    """The verifier can also fetch PSC's JWKS URL (what an operator outside the process does), with the sandbox CA."""
    certs = psc_sandbox.provider.endpoints["certs"]
    verifier = PscTokenVerifier(issuer=psc_sandbox.url, jwks=jwks_from_url(certs, ca=psc_sandbox.ca), reload_interval=0)
    _, tokens = login(psc_sandbox, HUGO)
    assert verifier.verify(tokens["access_token"])["SubjectNameID"] == HUGO
    psc_sandbox.rotate_keys()
    _, rotated = login(psc_sandbox, HUGO)
    assert verifier.verify(rotated["access_token"])["SubjectNameID"] == HUGO  # unknown kid: reloaded
    psc_sandbox.down = True
    cold = PscTokenVerifier(issuer=psc_sandbox.url, jwks=jwks_from_url(certs, ca=psc_sandbox.ca))
    with pytest.raises(TokenRejected, match="indisponibles"):
        cold.verify(tokens["access_token"])


def test_auth_log_of_an_older_operator_file_gets_the_new_columns(tmp_path: Path, mss_pki: SandboxPki) -> None:
    import sqlite3

    database = tmp_path / "sandbox" / "mss.sqlite3"
    database.parent.mkdir(parents=True)
    old = sqlite3.connect(database)
    old.execute(
        "CREATE TABLE auth_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, protocol TEXT NOT NULL,"
        " mechanism TEXT NOT NULL, user TEXT NOT NULL, ok INTEGER NOT NULL, reason TEXT NOT NULL)"
    )
    old.execute(
        "INSERT INTO auth_log (at, protocol, mechanism, user, ok, reason) VALUES ('t', 'smtp', 'X', 'u', 1, '')"
    )
    old.commit()
    old.close()
    sandbox = start_test_mss(mss_pki, database)
    try:
        assert sandbox.auth_log()[0] | {"at": ""} == {
            "at": "",
            "protocol": "smtp",
            "mechanism": "X",
            "user": "u",
            "ok": True,
            "reason": "",
            "token_issuer": "",
            "subject": "",
        }
    finally:
        sandbox.stop()
