"""Where INSi lives: the settings CADUCEE_INSI_* (the CNAM's endpoint, or the sandbox's that `caducee sandbox`
publishes — core/endpoints.py). One code path: an HTTPS URL, a client certificate for mutual TLS, a CA bundle to
check the server (notes §3.4: IGC-Santé "organisation" certificate, CN INSI-MANU or INSI-AUTO).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from caducee.core.endpoints import check_endpoint_settings


@dataclass(frozen=True)
class InsiEndpoint:
    url: str
    client_cert: Path | None
    client_key: Path | None
    ca_bundle: Path | None


def insi_endpoint() -> InsiEndpoint:
    """The INSi endpoint of the settings (CADUCEE_INSI_URL, CADUCEE_INSI_CERT, CADUCEE_INSI_KEY, CADUCEE_INSI_CA)."""
    check_endpoint_settings(
        service="Téléservice INSi",
        url=("CADUCEE_INSI_URL", settings.INSI_URL),
        files=(("CADUCEE_INSI_CERT", settings.INSI_CLIENT_CERT), ("CADUCEE_INSI_KEY", settings.INSI_CLIENT_KEY)),
        optional_files=(("CADUCEE_INSI_CA", settings.INSI_CA_BUNDLE),),
        what="URL du service et certificat logiciel IGC-Santé INSI-MANU/INSI-AUTO",
    )
    assert settings.INSI_CLIENT_CERT and settings.INSI_CLIENT_KEY  # checked above
    return InsiEndpoint(
        url=str(settings.INSI_URL),
        client_cert=Path(settings.INSI_CLIENT_CERT),
        client_key=Path(settings.INSI_CLIENT_KEY),
        ca_bundle=Path(settings.INSI_CA_BUNDLE) if settings.INSI_CA_BUNDLE else None,
    )
