"""Hardening (issue 6 §3; SC.SSI/IE.38-39): CSRF everywhere, no open redirect after login, HSTS in production only,
inactivity logout, secrets never in logs, uploads size-limited and type-checked by their first bytes."""

from __future__ import annotations

import importlib.util
import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from caducee.accounts import totp
from caducee.accounts.models import User
from caducee.config import settings as settings_module
from caducee.core import audit
from caducee.core.crypto import unseal
from caducee.core.uploads import UploadError, check_upload
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _csrf_token(client: Client, url: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(url).content.decode())
    assert match, url
    return match.group(1)


def test_csrf_is_enforced_on_the_login_and_on_the_security_forms(secretary: User) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post("/connexion/", {"username": "secretaire", "password": PASSWORD}).status_code == 403
    token = _csrf_token(client, "/connexion/")
    assert (
        client.post("/connexion/", {"username": "secretaire", "password": PASSWORD, "csrfmiddlewaretoken": token})
    ).status_code == 302
    new = "Nouveau-Secret-2027"
    form = {"old_password": PASSWORD, "new_password": new, "confirmation": new}
    assert client.post("/compte/securite/", form).status_code == 403
    assert client.post("/compte/securite/totp/desactiver/", {"password": PASSWORD}).status_code == 403
    assert client.post("/deconnexion/").status_code == 403
    secretary.refresh_from_db()
    assert secretary.check_password(PASSWORD)  # nothing changed without the token
    form["csrfmiddlewaretoken"] = _csrf_token(client, "/compte/securite/")
    assert client.post("/compte/securite/", form).status_code == 302
    secretary.refresh_from_db()
    assert secretary.check_password(new)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "http:/evil.example",
        "https:///evil.example",
        " //evil.example",
        "javascript:alert(1)",
    ],
)
def test_no_open_redirect_after_login(client: Client, secretary: User, target: str) -> None:
    response = client.post("/connexion/", {"username": "secretaire", "password": PASSWORD, "next": target})
    assert response.status_code == 302 and response.url == "/"
    # Nor is the target echoed back into the form of a failed attempt.
    page = client.post("/connexion/", {"username": "secretaire", "password": "faux", "next": target})
    assert target not in page.content.decode()


def test_no_open_redirect_after_the_code_step(client: Client, doctor: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(totp, "clock", lambda: 1_900_000_000.0)
    client.force_login(doctor)
    client.get("/compte/securite/totp/")
    doctor.refresh_from_db()
    key = totp.secret_bytes(unseal(doctor.totp_secret))
    client.post("/compte/securite/totp/", {"code": totp.totp(key, 1_900_000_000.0)})
    client.post("/deconnexion/")
    monkeypatch.setattr(totp, "clock", lambda: 1_900_000_030.0)
    client.post("/connexion/", {"username": "medecin", "password": PASSWORD, "next": "//evil.example/"})
    response = client.post("/connexion/code/", {"code": totp.totp(key, 1_900_000_030.0)})
    assert response.status_code == 302 and response.url == "/"


def test_a_same_site_next_is_followed(client: Client, secretary: User) -> None:
    response = client.post(
        "/connexion/", {"username": "secretaire", "password": PASSWORD, "next": "/patients/nouveau/"}
    )
    assert response.url == "/patients/nouveau/"


def _production_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, https: str) -> Any:
    """The settings module as computed from the environment of a production start (CADUCEE_HTTPS)."""
    monkeypatch.setenv("CADUCEE_HTTPS", https)
    monkeypatch.setenv("CADUCEE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "x" * 50)
    spec = importlib.util.spec_from_file_location("caducee_settings_probe", settings_module.__file__)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("https", ["1", "0"])
def test_hsts_in_production_only(
    https: str, secretary: User, settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    probe = _production_settings(monkeypatch, tmp_path, https)
    for name in ("SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_SSL_REDIRECT"):
        setattr(settings, name, getattr(probe, name))
    settings.SESSION_COOKIE_SECURE = probe.SESSION_COOKIE_SECURE
    client = Client()  # a new handler reads the security settings
    response = client.get("/connexion/", secure=True)
    if https == "1":
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        assert probe.SESSION_COOKIE_SECURE and probe.CSRF_COOKIE_SECURE
        plain = client.get("/connexion/")  # plain HTTP goes to HTTPS
        assert plain.status_code == 301 and plain.url.startswith("https://")
    else:
        assert "Strict-Transport-Security" not in response.headers
        assert client.get("/connexion/").status_code == 200
    for header, value in (
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
    ):
        assert response.headers[header] == value


def test_the_session_ends_after_the_idle_timeout(client: Client, secretary: User, settings: Any) -> None:
    """SC.SSI/IE.39: inactivity logout after IDLE_TIMEOUT_MINUTES; each request pushes the end further."""
    client.post("/connexion/", {"username": "secretaire", "password": PASSWORD})
    assert client.get("/").status_code == 200
    session = Session.objects.get()
    expected = timezone.now() + timedelta(minutes=settings.IDLE_TIMEOUT_MINUTES)
    assert abs((session.expire_date - expected).total_seconds()) < 10
    # The idle time has passed: the next request is sent to the login page.
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/")
    assert response.status_code == 302 and response.url.startswith("/connexion/")


def test_the_session_cookie_ends_with_the_browser(client: Client, secretary: User) -> None:
    """SC.SSI/IE.40/41: a browser-session cookie (no Expires, no Max-Age), HttpOnly, SameSite."""
    client.post("/connexion/", {"username": "secretaire", "password": PASSWORD})
    cookie = client.cookies["sessionid"]
    assert cookie["expires"] == "" and cookie["max-age"] == ""
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax"


def test_the_explicit_logout_ends_the_session_server_side(client: Client, secretary: User) -> None:
    """SC.SSI/IE.38: the session is deleted, not only the cookie."""
    client.post("/connexion/", {"username": "secretaire", "password": PASSWORD})
    key = client.cookies["sessionid"].value
    client.post("/deconnexion/")
    assert not Session.objects.filter(session_key=key).exists()


def test_secrets_never_in_logs(
    client: Client, doctor: User, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    settings.SYSLOG_ADDRESS = "tcp://127.0.0.1:9"  # a collector down: its warning must not carry secrets either
    monkeypatch.setattr(audit, "_senders", {})
    monkeypatch.setattr(totp, "clock", lambda: 1_900_000_000.0)
    client.post("/connexion/", {"username": "medecin", "password": "Mauvais-Secret-Tape-1"})
    client.post("/connexion/", {"username": "medecin", "password": PASSWORD})
    client.get("/compte/securite/totp/")
    doctor.refresh_from_db()
    secret = unseal(doctor.totp_secret)
    code = totp.totp(totp.secret_bytes(secret), 1_900_000_000.0)
    client.post("/compte/securite/totp/", {"code": "999999"})
    client.post("/compte/securite/totp/", {"code": code})
    client.post(
        "/compte/securite/", {"old_password": PASSWORD, "new_password": "Xy-Nouveau-2027", "confirmation": "Xy"}
    )
    audit.flush_syslog(timeout=10)  # the collector's warning comes from the syslog thread
    assert caplog.records, "the login produced no log at all: the test would prove nothing"
    assert any("syslog" in r.getMessage() for r in caplog.records)
    text = "\n".join(f"{r.getMessage()} {r.args!r} {getattr(r, 'request', '')}" for r in caplog.records)
    for value in ("Mauvais-Secret-Tape-1", PASSWORD, secret, code, "999999", "Xy-Nouveau-2027"):
        assert value not in text


# --- uploads ---------------------------------------------------------------------------------------------------

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_check_upload_accepts_by_content_not_by_name() -> None:
    assert check_upload(SimpleUploadedFile("courrier.pdf", PDF, "application/pdf"), kinds=["pdf"]) == "pdf"
    # A PNG named .pdf and announced as application/pdf is still a PNG.
    disguised = SimpleUploadedFile("courrier.pdf", PNG, "application/pdf")
    with pytest.raises(UploadError, match="Type de fichier refusé : le contenu n'est pas un fichier PDF"):
        check_upload(disguised, kinds=["pdf"])
    with pytest.raises(UploadError, match="vide"):
        check_upload(SimpleUploadedFile("vide.pdf", b"", "application/pdf"), kinds=["pdf"])
    xml = SimpleUploadedFile("cr.xml", b"\xef\xbb\xbf<?xml version='1.0'?><ClinicalDocument/>", "text/xml")
    assert check_upload(xml, kinds=["xml"]) == "xml"
    assert xml.read(3) == b"\xef\xbb\xbf"  # the file is handed back rewound


def test_check_upload_refuses_an_oversize_file(settings: Any) -> None:
    big = SimpleUploadedFile("gros.pdf", PDF + b"0" * 3000, "application/pdf")
    with pytest.raises(UploadError, match=r"Fichier trop volumineux \(0,0 Mo\) : 0,0 Mo au maximum"):
        check_upload(big, kinds=["pdf"], max_bytes=2048)
    settings.UPLOAD_MAX_BYTES = 1024
    with pytest.raises(UploadError, match="trop volumineux"):
        check_upload(big, kinds=["pdf"])


def test_an_oversize_multipart_request_is_refused_before_parsing(
    client: Client, secretary: User, settings: Any
) -> None:
    settings.UPLOAD_MAX_BYTES = 4096
    client.force_login(secretary)
    big = SimpleUploadedFile("gros.pdf", PDF + b"0" * 8192, "application/pdf")
    response = client.post("/compte/securite/", {"fichier": big})
    assert response.status_code == 413
    assert "Envoi trop volumineux" in response.content.decode()
    small = SimpleUploadedFile("petit.pdf", PDF, "application/pdf")
    assert client.post("/compte/securite/", {"fichier": small}).status_code == 302  # under the limit: the view runs


def test_upload_limits_in_settings(settings: Any) -> None:
    assert settings.DATA_UPLOAD_MAX_NUMBER_FILES == 10
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert "caducee.core.uploads.UploadLimitMiddleware" in settings.MIDDLEWARE
