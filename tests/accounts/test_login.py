"""Login with lockout (PGSSI-S), inactivity logout (IE.38), explicit logout, no open redirect, secure headers."""

from __future__ import annotations

import pytest
from django.test import Client

from caducee.core.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_then_logout(client: Client, secretary) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/connexion/", {"username": "secretaire", "password": PASSWORD})
    assert response.status_code == 302 and response.url == "/"
    assert client.get("/").status_code == 200
    client.post("/deconnexion/")
    assert client.get("/").status_code == 302
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "outcome"))
    assert actions == [("auth.login", "ok"), ("auth.logout", "ok")]


def test_lockout_after_repeated_failures(client: Client, secretary, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        assert client.post("/connexion/", {"username": "secretaire", "password": "faux"}).status_code == 401
    response = client.post("/connexion/", {"username": "secretaire", "password": PASSWORD})
    assert response.status_code == 401
    assert "verrouillé" in response.content.decode()
    assert AuditEvent.objects.filter(action="auth.login", outcome="refused").count() == 4
    # Secrets never logged: the password appears in no audit detail.
    assert not AuditEvent.objects.filter(detail__icontains="faux").exists()


def test_no_open_redirect_after_login(client: Client, secretary) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/connexion/", {"username": "secretaire", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.url == "/"


@pytest.mark.parametrize("target", ["٣٤", "-1", "patients:list", "//evil.example/x", "/\\evil.example"])
def test_an_odd_next_target_lands_home_not_on_a_500(client: Client, secretary, target: str) -> None:  # type: ignore[no-untyped-def]
    """Issue 13 §4: Django's redirect() read a next of « ٣٤ » as a URL name to reverse (NoReverseMatch, 500)."""
    response = client.post("/connexion/", {"username": "secretaire", "password": PASSWORD, "next": target})
    assert response.status_code == 302 and response.url == "/"


def test_pages_need_a_session(client: Client, db) -> None:  # type: ignore[no-untyped-def]
    for url in ("/", "/patients/nouveau/", "/identite/vigilance/", "/audit/", "/patients/1/"):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/connexion/"), url


def test_inactivity_timeout_is_the_session_age(settings) -> None:  # type: ignore[no-untyped-def]
    assert settings.SESSION_COOKIE_AGE == settings.IDLE_TIMEOUT_MINUTES * 60 == 30 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST


def test_security_headers_and_csp_without_inline_script(client: Client, secretary) -> None:  # type: ignore[no-untyped-def]
    client.force_login(secretary)
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert b"<script>" not in response.content and b" onclick=" not in response.content


def test_csrf_is_enforced(secretary) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    response = client.post("/connexion/", {"username": "secretaire", "password": PASSWORD})
    assert response.status_code == 403
