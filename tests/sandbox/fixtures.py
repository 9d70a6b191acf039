"""Fixtures starting the INSi and DMP sandboxes for the tests (import them from a conftest).

- `insi_sandbox_session` (session): one sandbox on a free loopback port, DATA_DIR a temporary
  directory holding its PKI and sandbox.json. Started once per test process, even when several
  conftests import the fixture.
- `insi_sandbox` (function): the same sandbox, with `settings.SANDBOX = True` and
  `settings.DATA_DIR` pointing at it, so `insi_endpoint()` finds it; settings restored after.
- `dmp_sandbox_session` (session): the same handle, its `.dmp` the DMP sandbox started next to INSi.
- `dmp_sandbox` (function): a DMP sandbox of its own over a fresh SQLite store in tmp_path.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from caducee.sandbox.dmp.server import DmpSandbox, start_dmp_sandbox
from caducee.sandbox.pki import ensure_pki
from caducee.sandbox.runner import SandboxHandle, start_sandboxes

_lock = threading.Lock()
_shared: dict[str, SandboxHandle] = {}


def shared_insi_sandbox(tmp_root: Path) -> SandboxHandle:
    with _lock:
        if "handle" not in _shared:
            handle = start_sandboxes(tmp_root / "sandbox-data", reference_dir=Path(django_settings.REFERENCE_DIR))
            atexit.register(handle.stop)
            _shared["handle"] = handle
        return _shared["handle"]


@pytest.fixture(scope="session")
def insi_sandbox_session(tmp_path_factory: pytest.TempPathFactory) -> SandboxHandle:
    return shared_insi_sandbox(tmp_path_factory.getbasetemp())


@pytest.fixture
def insi_sandbox(insi_sandbox_session: SandboxHandle, settings: object) -> Iterator[SandboxHandle]:
    settings.SANDBOX = True  # type: ignore[attr-defined]
    settings.DATA_DIR = insi_sandbox_session.data_dir  # type: ignore[attr-defined]
    yield insi_sandbox_session


# ---------------------------------------------------------------------------------------------
# DMP sandbox


def start_test_dmp(pki_dir: Path, database: Path, **kwargs: Any) -> DmpSandbox:
    """A DMP sandbox over `database`, with the sandbox PKI of `pki_dir` (created if needed)."""
    pki = ensure_pki(pki_dir)
    return start_dmp_sandbox(
        ca=pki.ca_cert,
        cert=pki.server_cert,
        key=pki.server_key,
        database=database,
        reference_dir=Path(django_settings.REFERENCE_DIR),
        **kwargs,
    )


def dmp_state(sandbox: DmpSandbox, pki_dir: Path) -> dict[str, str]:
    """The "dmp" entry of sandbox.json for this sandbox (what a client reads)."""
    pki = ensure_pki(pki_dir)
    return {
        "url": sandbox.url,
        "ca": str(pki.ca_cert),
        "client_cert": str(pki.dmp_client_cert),
        "client_key": str(pki.dmp_client_key),
        "sign_cert": str(pki.dmp_sign_cert),
        "sign_key": str(pki.dmp_sign_key),
    }


@pytest.fixture(scope="session")
def dmp_sandbox_session(insi_sandbox_session: SandboxHandle) -> SandboxHandle:
    """The shared sandboxes (INSi + DMP, the DMP store under the session's DATA_DIR); `.dmp` is the DMP sandbox,
    `.state["dmp"]` its sandbox.json entry."""
    assert insi_sandbox_session.dmp is not None
    return insi_sandbox_session


@pytest.fixture
def dmp_sandbox(tmp_path: Path, insi_sandbox_session: SandboxHandle) -> Iterator[DmpSandbox]:
    """A DMP sandbox of its own, fresh store in tmp_path (PKI shared with the session's sandboxes);
    `dmp_state(dmp_sandbox, insi_sandbox_session.data_dir)` gives its sandbox.json entry."""
    sandbox = start_test_dmp(insi_sandbox_session.data_dir, tmp_path / "dmp.sqlite3")
    yield sandbox
    sandbox.stop()
