"""Fixtures starting the INSi and DMP sandboxes for the tests (import them from a conftest).

- `insi_sandbox_session` (session): the sandboxes (`start_sandboxes`) on free loopback ports, their data dir (PKI,
  sandbox.env, the DMP store) a temporary directory. Started once per test process, even when several conftests
  import the fixture.
- `insi_sandbox` (function): the same sandboxes, the product pointed at them the way `caducee sandbox` does it —
  the endpoint settings they published (`use_sandbox_settings`), plus `settings.SANDBOX` (R28: test data); settings
  restored after.
- `dmp_sandbox_session` (session): the same handle, its `.dmp` the DMP sandbox started next to INSi.
- `dmp_sandbox` (function): a DMP sandbox of its own over a fresh SQLite store in tmp_path;
  `use_sandbox_settings(settings, dmp_settings(dmp_sandbox.url, pki))` points the product at it.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from caducee.core.endpoints import endpoint_settings
from caducee.sandbox.dmp.server import DmpSandbox, start_dmp_sandbox
from caducee.sandbox.pki import ensure_pki
from caducee.sandbox.runner import SandboxHandle, dmp_settings, start_sandboxes

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


def use_sandbox_settings(settings: Any, values: Mapping[str, str]) -> None:
    """Point the product at a sandbox as a Caducée started after it is: the endpoint settings it published (the
    `CADUCEE_*` variables of sandbox.env), set through pytest-django's `settings` (restored after the test)."""
    for name, value in endpoint_settings(values).items():
        setattr(settings, name, value)


@pytest.fixture
def insi_sandbox(insi_sandbox_session: SandboxHandle, settings: Any) -> Iterator[SandboxHandle]:
    use_sandbox_settings(settings, insi_sandbox_session.settings)
    settings.SANDBOX = True  # R28: what the sandbox answers is test data
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
    """This sandbox's address and the PKI files a test client (tests/sandbox/dmp_client.py) needs."""
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
    """The shared sandboxes (INSi + DMP, the DMP store under the session's data dir); `.dmp` is the DMP sandbox,
    `.settings` the endpoint settings they published."""
    assert insi_sandbox_session.dmp is not None
    return insi_sandbox_session


@pytest.fixture
def dmp_sandbox(tmp_path: Path, insi_sandbox_session: SandboxHandle) -> Iterator[DmpSandbox]:
    """A DMP sandbox of its own, fresh store in tmp_path (PKI shared with the session's sandboxes);
    `dmp_sandbox_settings(dmp_sandbox, insi_sandbox_session.data_dir)` gives the endpoint settings a client needs."""
    sandbox = start_test_dmp(insi_sandbox_session.data_dir, tmp_path / "dmp.sqlite3")
    yield sandbox
    sandbox.stop()


def dmp_sandbox_settings(sandbox: DmpSandbox, pki_dir: Path) -> dict[str, str]:
    """The endpoint settings (`CADUCEE_DMP_*`) that `caducee sandbox` would publish for this DMP sandbox."""
    return dmp_settings(sandbox.url, ensure_pki(pki_dir))
