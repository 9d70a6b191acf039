"""Fixtures and client helpers for the MSS sandbox operator (import the fixtures from a conftest).

- `mss_pki` (session): the sandbox PKI (CA, server and client certificates) in a temporary directory.
- `mss_sandbox` (function): an MSS operator of its own over a fresh SQLite file in tmp_path, stopped after
  (`mss_settings(mss_sandbox, mss_pki)` are the endpoint settings it publishes; `lent.*` recipients are delivered
  after 0.5 s). `mss_operator`: the product pointed at it.
The shared sandboxes of `insi_sandbox_session` (tests/sandbox/fixtures.py) also run an MSS operator: `handle.mss`.
The helpers talk to it as a client does: smtplib and imapclient with STARTTLS, tokens fetched over mutual TLS.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from imapclient import IMAPClient

from caducee.sandbox.mss import MssSandbox, start_mss_sandbox
from caducee.sandbox.pki import SandboxPki, ensure_pki
from caducee.sandbox.runner import mss_settings
from tests.sandbox.fixtures import use_sandbox_settings


def start_test_mss(pki: SandboxPki, database: Path, **kwargs: object) -> MssSandbox:
    return start_mss_sandbox(
        ca=pki.ca_cert,
        cert=pki.server_cert,
        key=pki.server_key,
        database=database,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def mss_pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPki:
    return ensure_pki(tmp_path_factory.mktemp("mss-pki"))


@pytest.fixture
def mss_sandbox(tmp_path: Path, mss_pki: SandboxPki) -> Iterator[MssSandbox]:
    sandbox = start_test_mss(mss_pki, tmp_path / "sandbox" / "mss.sqlite3", slow_delay=0.5)
    yield sandbox
    sandbox.stop()


def client_context(pki: SandboxPki, *, with_certificate: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if with_certificate:
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    return context


def fetch_token(sandbox: MssSandbox, pki: SandboxPki, mailbox: str) -> str:
    response = requests.post(
        sandbox.token_url,
        data={"grant_type": "client_credentials", "login_hint": mailbox},
        cert=(str(pki.client_cert), str(pki.client_key)),
        verify=str(pki.ca_cert),
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def xoauth2(user: str, token: str) -> str:
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def smtp_session(
    sandbox: MssSandbox, pki: SandboxPki, mailbox: str, token: str | None = None, *, starttls: bool = True
) -> smtplib.SMTP:
    """An SMTP session after STARTTLS and AUTH XOAUTH2 (token fetched from the endpoint when not given)."""
    client = smtplib.SMTP(sandbox.host, sandbox.smtp_port, timeout=10)
    client.ehlo("cabinet.test")
    if starttls:
        client.starttls(context=client_context(pki))
        client.ehlo("cabinet.test")
    auth = xoauth2(mailbox, token if token is not None else fetch_token(sandbox, pki, mailbox))
    client.auth("XOAUTH2", lambda challenge=None: auth, initial_response_ok=True)
    return client


def imap_session(sandbox: MssSandbox, pki: SandboxPki, mailbox: str, token: str | None = None) -> IMAPClient:
    client = IMAPClient(sandbox.host, port=sandbox.imap_port, ssl=False, timeout=10)
    client.starttls(client_context(pki))
    client.oauth2_login(mailbox, token if token is not None else fetch_token(sandbox, pki, mailbox))
    return client


@pytest.fixture
def mss_operator(mss_sandbox: MssSandbox, mss_pki: SandboxPki, settings: Any, tmp_path: Path) -> MssSandbox:
    """The product pointed at this test's own operator: the endpoint settings `caducee sandbox` would publish for it
    (CADUCEE_MSS_*), set for the test; a data dir of its own (the message store), the sandbox's test data (R28)."""
    use_sandbox_settings(settings, mss_settings(mss_sandbox, mss_pki))
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    settings.DATA_DIR = data_dir
    settings.SANDBOX = True
    settings.MSS_TIMEOUT_SECONDS = 10
    return mss_sandbox
