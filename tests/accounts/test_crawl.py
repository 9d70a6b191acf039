"""Every URL of the application, crawled anonymous and as each role (issue 6 §3, first slice; SC.SSI/IE.*).

- Anonymous: every URL but the login page and the health probe redirects to the login page (the session is checked
  before any view runs, `accounts.middleware.LoginRequiredMiddleware`), and every answer carries the security
  headers: CSP without inline script, X-Frame-Options DENY, X-Content-Type-Options nosniff, Referrer-Policy,
  Cache-Control no-store.
- Each role: no URL answers a server error; a secretary (no clinical permission) is refused every clinical screen
  (record, consultations, documents, DMP, messagerie) — she sees no medical data.
The URL list is read from the URL configuration itself, so a new screen is crawled without editing this test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from caducee.accounts.models import Role, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PUBLIC = ("/connexion/", "/sante/")
CLINICAL_PREFIXES = ("/dossier/", "/consultations/", "/documents/", "/dmp/", "/messagerie/")
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def _patterns(resolver: URLResolver, prefix: str = "") -> Iterator[str]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def application_urls(object_id: int = 1) -> list[str]:
    """Every route with its parameters filled (ints with `object_id`, strings with "x")."""
    urls = set()
    for route in _patterns(get_resolver()):
        if route.startswith("^") or "(?P" in route:  # regex routes (none today)
            continue
        url = _CONVERTER.sub(lambda m: str(object_id) if m.group(1) in ("int", None) else "x", route)
        urls.add("/" + url)
    return sorted(urls)


def test_the_crawl_sees_every_part_of_the_application() -> None:
    urls = application_urls()
    for prefix in ("/patients/", "/identite/", "/dossier/", "/consultations/", "/documents/", "/dmp/", "/messagerie/"):
        assert any(u.startswith(prefix) for u in urls), prefix
    assert len(urls) > 50


def _security_headers(response: Any) -> None:
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_anonymous_requests_are_sent_to_the_login_page_with_the_security_headers(client: Client) -> None:
    for url in application_urls():
        for method in (client.get, client.post):
            response = method(url)
            _security_headers(response)
            if url.startswith(PUBLIC):
                assert response.status_code in (200, 302, 401, 405), url  # 401: a login without credentials
                continue
            assert response.status_code == 302, (url, response.status_code)
            assert response.url.startswith("/connexion/?next="), (url, response.url)
            assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "role",
    list(Role),  # the seven roles of issue 6 §2
)
def test_every_url_answers_each_role_without_a_server_error(
    client: Client, role: str, practice: Any, make_patient: Any
) -> None:
    make_patient()  # object 1 exists for the patient screens
    user = User.objects.create_user(username=f"u-{role}", password=PASSWORD, role=role, last_name="CRAWL")
    client.force_login(user)
    client.raise_request_exception = True  # a server error fails the test with its traceback
    for url in application_urls():
        if url == "/deconnexion/":
            continue  # would end this crawl's session
        response = client.get(url)
        assert response.status_code in (200, 302, 403, 404, 405), (role, url, response.status_code)
        _security_headers(response)
        if role == Role.SECRETAIRE and url.startswith(CLINICAL_PREFIXES):
            assert response.status_code in (403, 404, 405), (url, response.status_code)
