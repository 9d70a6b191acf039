"""Where INSi lives: the real CNAM endpoint (settings) or the local sandbox (DATA_DIR/sandbox.json).

The client code path is the same either way: an HTTPS URL, a client certificate for mutual TLS,
a CA bundle to check the server (notes §3.4: IGC-Santé "organisation" certificate, CN INSI-MANU
or INSI-AUTO).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from caducee.core.endpoints import SANDBOX_STATE_FILE, SandboxNotRunning, check_real_settings, sandbox_service

__all__ = ["SANDBOX_STATE_FILE", "InsiEndpoint", "SandboxNotRunning", "insi_endpoint", "sandbox_endpoint"]


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
    check_real_settings(
        service="Téléservice INSi",
        url=("CADUCEE_INSI_URL", settings.INSI_URL),
        files=(("CADUCEE_INSI_CERT", settings.INSI_CLIENT_CERT), ("CADUCEE_INSI_KEY", settings.INSI_CLIENT_KEY)),
        optional_files=(("CADUCEE_INSI_CA", settings.INSI_CA_BUNDLE),),
        what="URL du service et certificat logiciel IGC-Santé INSI-MANU/INSI-AUTO",
    )
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
    insi = sandbox_service(data_dir, "insi", "INSi")
    try:
        return InsiEndpoint(
            url=insi["url"],
            client_cert=Path(insi["client_cert"]),
            client_key=Path(insi["client_key"]),
            ca_bundle=Path(insi["ca"]),
            sandbox=True,
        )
    except (KeyError, TypeError) as exc:
        raise SandboxNotRunning(f"Bac à sable INSi mal décrit dans {SANDBOX_STATE_FILE} : relancez-le.") from exc
