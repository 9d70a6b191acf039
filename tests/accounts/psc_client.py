"""Drive Caducée's Pro Santé Connect login against the PSC sandbox with Django's test client.

`psc_env` points the product at a PSC sandbox of its own (the endpoint settings `caducee sandbox` would publish for
it, CADUCEE_PSC_*) with the public URL http://127.0.0.1:8000 (the sandbox accepts loopback redirect URIs only).
`psc_login` runs the browser's part: Caducée's start URL → the sandbox's e-CPS page approved for a national id →
Caducée's callback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import Client

from caducee.accounts.psc import oidc
from caducee.sandbox.psc import PscSandbox
from caducee.sandbox.runner import psc_settings
from tests.sandbox.fixtures import use_sandbox_settings

PUBLIC_URL = "http://127.0.0.1:8000"


@pytest.fixture
def psc_env(psc_sandbox: PscSandbox, settings, tmp_path: Path) -> Iterator[PscSandbox]:  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    use_sandbox_settings(settings, psc_settings(psc_sandbox))
    settings.DATA_DIR = data_dir
    settings.PSC_PUBLIC_URL = PUBLIC_URL
    oidc.forget_cache()
    yield psc_sandbox
    oidc.forget_cache()


def start(client: Client, next_url: str = "") -> str:
    """GET /connexion/psc/: the wallet URL Caducée redirects to."""
    response = client.get("/connexion/psc/" + (f"?next={next_url}" if next_url else ""))
    assert response.status_code == 302, response.content[:500]
    return str(response["Location"])


def callback_path(url: str) -> str:
    """The sandbox's redirect (http://127.0.0.1:8000/connexion/psc/retour/?…) as a path for the test client."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL, url
    return parts.path + "?" + parts.query


def psc_login(client: Client, sandbox: PscSandbox, national_id: str, next_url: str = ""):  # type: ignore[no-untyped-def]
    """Start, approve on the sandbox's e-CPS page, come back: the callback's response."""
    back = sandbox.approve_for_tests(start(client, next_url), national_id)
    return client.get(callback_path(back))
