"""Where INSi lives: the real CNAM endpoint (settings) or the local sandbox (DATA_DIR/sandbox.json).

The client code path is the same either way: an HTTPS URL, a client certificate for mutual TLS,
a CA bundle to check the server (notes §3.4: IGC-Santé "organisation" certificate, CN INSI-MANU
or INSI-AUTO).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SANDBOX_STATE_FILE = "sandbox.json"


class SandboxNotRunning(ImproperlyConfigured):
    """CADUCEE_SANDBOX=1 but no sandbox has published its address."""


@dataclass(frozen=True)
class InsiEndpoint:
    url: str
    client_cert: Path | None
    client_key: Path | None
    ca_bundle: Path | None
    sandbox: bool


def insi_endpoint() -> InsiEndpoint:
    """The INSi endpoint chosen by the settings (CADUCEE_SANDBOX, CADUCEE_INSI_*)."""
    if settings.SANDBOX:
        return sandbox_endpoint(Path(settings.DATA_DIR))
    missing = [
        name
        for name, value in (
            ("CADUCEE_INSI_URL", settings.INSI_URL),
            ("CADUCEE_INSI_CERT", settings.INSI_CLIENT_CERT),
            ("CADUCEE_INSI_KEY", settings.INSI_CLIENT_KEY),
        )
        if not value
    ]
    if missing:
        raise ImproperlyConfigured(
            "Téléservice INSi non configuré : renseignez "
            + ", ".join(missing)
            + " (URL du service et certificat logiciel IGC-Santé INSI-MANU/INSI-AUTO), "
            "ou lancez Caducée en mode bac à sable (CADUCEE_SANDBOX=1)."
        )
    if not str(settings.INSI_URL).startswith("https://"):
        raise ImproperlyConfigured("CADUCEE_INSI_URL doit être une adresse https:// (TLS mutuel).")
    for name, path in (
        ("CADUCEE_INSI_CERT", settings.INSI_CLIENT_CERT),
        ("CADUCEE_INSI_KEY", settings.INSI_CLIENT_KEY),
        ("CADUCEE_INSI_CA", settings.INSI_CA_BUNDLE),
    ):
        if path and not Path(path).is_file():
            raise ImproperlyConfigured(f"{name} : fichier introuvable ({path}).")
    assert settings.INSI_CLIENT_CERT and settings.INSI_CLIENT_KEY  # checked above
    return InsiEndpoint(
        url=settings.INSI_URL,
        client_cert=Path(settings.INSI_CLIENT_CERT),
        client_key=Path(settings.INSI_CLIENT_KEY),
        ca_bundle=Path(settings.INSI_CA_BUNDLE) if settings.INSI_CA_BUNDLE else None,
        sandbox=False,
    )


def sandbox_endpoint(data_dir: Path) -> InsiEndpoint:
    """The INSi sandbox published by `caducee sandbox` in DATA_DIR/sandbox.json."""
    state_file = Path(data_dir) / SANDBOX_STATE_FILE
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        insi = state["insi"]
        return InsiEndpoint(
            url=insi["url"],
            client_cert=Path(insi["client_cert"]),
            client_key=Path(insi["client_key"]),
            ca_bundle=Path(insi["ca"]),
            sandbox=True,
        )
    except FileNotFoundError as exc:
        raise SandboxNotRunning(
            f"Bac à sable INSi introuvable ({state_file} absent) : lancez `caducee sandbox` "
            "dans un autre terminal (CADUCEE_SANDBOX=1)."
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise SandboxNotRunning(f"Fichier {state_file} illisible : relancez `caducee sandbox`.") from exc
