"""Fixtures starting the INSi sandbox for the tests (import them from a conftest).

- `insi_sandbox_session` (session): one sandbox on a free loopback port, DATA_DIR a temporary
  directory holding its PKI and sandbox.json. Started once per test process, even when several
  conftests import the fixture.
- `insi_sandbox` (function): the same sandbox, with `settings.SANDBOX = True` and
  `settings.DATA_DIR` pointing at it, so `insi_endpoint()` finds it; settings restored after.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

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
