"""Fixtures and client helpers for the Pro Santé Connect sandbox (import the fixtures from a conftest).

- `psc_pki` (session): the sandbox PKI (CA, server certificate) in a temporary directory.
- `psc_sandbox` (function): a PSC sandbox of its own on a free loopback port, signing key in tmp_path, a random
  client secret; stopped after. `psc_settings(psc_sandbox)` (sandbox/runner.py) are the endpoint settings it
  publishes.
The helpers act as a relying party does, with `requests` and the sandbox CA: `authorize_url` builds the request
(PKCE S256, state, nonce, acr_values=eidas1), `login` runs the whole code flow for a national id.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from caducee.sandbox.pki import SandboxPki, ensure_pki
from caducee.sandbox.psc import PscSandbox, start_psc_sandbox

REDIRECT_URI = "http://127.0.0.1:8000/psc/retour"
CLAIRE = "889970012345"  # dr.martin of the demo (RPPS 89970012345), two work situations
HUGO = "889970023456"
SOPHIE = "0699912345"  # inf.petit (ADELI 699912345)
JULIEN = "889970034567"  # no local account in the demo


@pytest.fixture(scope="session")
def psc_pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPki:
    return ensure_pki(tmp_path_factory.mktemp("psc-pki"))


def start_test_psc(pki: SandboxPki, keys_path: Path, **kwargs: Any) -> PscSandbox:
    kwargs.setdefault("client_secret", secrets.token_urlsafe(24))
    return start_psc_sandbox(ca=pki.ca_cert, cert=pki.server_cert, key=pki.server_key, keys_path=keys_path, **kwargs)


@pytest.fixture
def psc_sandbox(tmp_path: Path, psc_pki: SandboxPki) -> Iterator[PscSandbox]:
    sandbox = start_test_psc(psc_pki, tmp_path / "sandbox" / "psc-signing.pem")
    yield sandbox
    sandbox.stop()


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class Authorization:
    url: str
    state: str
    nonce: str
    verifier: str
    redirect_uri: str


def authorize_url(sandbox: PscSandbox, *, redirect_uri: str = REDIRECT_URI, **overrides: str | None) -> Authorization:
    """An authorization request as the client builds it; `overrides` change or (None) remove parameters."""
    verifier = secrets.token_urlsafe(48)
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": sandbox.client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid scope_all",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_hex(32),
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
        "acr_values": "eidas1",
    }
    params.update(overrides)
    kept = {k: v for k, v in params.items() if v is not None}
    return Authorization(
        url=sandbox.wallet_url + "?" + urlencode(kept),
        state=kept.get("state", ""),
        nonce=kept.get("nonce", ""),
        verifier=verifier,
        redirect_uri=redirect_uri,
    )


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def token_call(sandbox: PscSandbox, data: dict[str, str], *, basic: bool = True) -> requests.Response:
    if basic:
        return requests.post(
            sandbox.provider.endpoints["token"],
            data=data,
            auth=(sandbox.client_id, sandbox.client_secret),
            verify=str(sandbox.ca),
            timeout=10,
        )
    return requests.post(
        sandbox.provider.endpoints["token"],
        data={**data, "client_id": sandbox.client_id, "client_secret": sandbox.client_secret},
        verify=str(sandbox.ca),
        timeout=10,
    )


def exchange(sandbox: PscSandbox, auth: Authorization, code: str, *, verifier: str | None = None) -> requests.Response:
    return token_call(
        sandbox,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": auth.redirect_uri,
            "code_verifier": auth.verifier if verifier is None else verifier,
        },
    )


def login(sandbox: PscSandbox, national_id: str = CLAIRE) -> tuple[Authorization, dict[str, Any]]:
    """The whole code flow for `national_id`: the token answer (JSON)."""
    auth = authorize_url(sandbox)
    back = query(sandbox.approve_for_tests(auth.url, national_id))
    assert back["state"] == auth.state
    response = exchange(sandbox, auth, back["code"])
    assert response.status_code == 200, response.text
    return auth, dict(response.json())
