"""What every national-service endpoint does the same way: real settings checked, or the sandbox's address.

A service client (INSi, DMP, later MSS and PSC) is configured either by its `CADUCEE_<SERVICE>_*` settings
(an https URL and certificate files) or, with CADUCEE_SANDBOX=1, by its key in DATA_DIR/sandbox.json that
`caducee sandbox` writes. Errors are `ImproperlyConfigured` with a French message naming what to set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

SANDBOX_STATE_FILE = "sandbox.json"


class SandboxNotRunning(ImproperlyConfigured):
    """CADUCEE_SANDBOX=1 but no sandbox has published the service's address."""


def check_real_settings(
    *,
    service: str,
    url: tuple[str, object],
    files: Sequence[tuple[str, object]],
    optional_files: Sequence[tuple[str, object]] = (),
    what: str,
) -> None:
    """The URL and the certificate files of a real service are set, https, and the files exist."""
    missing = [name for name, value in (url, *files) if not value]
    if missing:
        raise ImproperlyConfigured(
            f"{service} non configuré : renseignez {', '.join(missing)} ({what}), "
            "ou lancez Caducée en mode bac à sable (CADUCEE_SANDBOX=1)."
        )
    if not str(url[1]).startswith("https://"):
        raise ImproperlyConfigured(f"{url[0]} doit être une adresse https:// (TLS mutuel).")
    for name, path in (*files, *optional_files):
        if path and not Path(str(path)).is_file():
            raise ImproperlyConfigured(f"{name} : fichier introuvable ({path}).")


def sandbox_service(data_dir: Path, key: str, label: str) -> dict[str, Any]:
    """The entry `key` of DATA_DIR/sandbox.json, published by `caducee sandbox`."""
    state_file = Path(data_dir) / SANDBOX_STATE_FILE
    try:
        entry = json.loads(state_file.read_text(encoding="utf-8"))[key]
        if not isinstance(entry, dict):
            raise TypeError(key)
        return entry
    except FileNotFoundError as exc:
        raise SandboxNotRunning(
            f"Bac à sable {label} introuvable ({state_file} absent) : lancez `caducee sandbox` "
            "dans un autre terminal (CADUCEE_SANDBOX=1)."
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise SandboxNotRunning(
            f"Fichier {state_file} illisible ou sans bac à sable {label} : relancez `caducee sandbox`."
        ) from exc
