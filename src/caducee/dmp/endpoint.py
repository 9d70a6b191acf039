"""Where the DMP lives: the settings CADUCEE_DMP_* (the national DMPi, or the sandbox's that `caducee sandbox`
publishes — core/endpoints.py).

One code path (docs/dmp.md §Transport): one HTTPS base URL, the structure's authentication certificate for mutual
TLS, its signature certificate for the VIHF and the lot's XAdES, a CA bundle to check the server. Pattern of
`caducee.identity.insi.endpoint`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from caducee.core.endpoints import check_endpoint_settings


@dataclass(frozen=True)
class DmpEndpoint:
    url: str  # base URL; services /patients, /habilitations, /registry, /repository below it
    client_cert: Path
    client_key: Path
    sign_cert: Path
    sign_key: Path
    ca_bundle: Path | None

    def service(self, name: str) -> str:
        return self.url.rstrip("/") + "/" + name


def dmp_endpoint() -> DmpEndpoint:
    """The DMP endpoint of the settings (CADUCEE_DMP_*)."""
    check_endpoint_settings(
        service="Service DMP",
        url=("CADUCEE_DMP_URL", settings.DMP_URL),
        files=(
            ("CADUCEE_DMP_AUTH_CERT", settings.DMP_AUTH_CERT),
            ("CADUCEE_DMP_AUTH_KEY", settings.DMP_AUTH_KEY),
            ("CADUCEE_DMP_SIGN_CERT", settings.DMP_SIGN_CERT),
            ("CADUCEE_DMP_SIGN_KEY", settings.DMP_SIGN_KEY),
        ),
        optional_files=(("CADUCEE_DMP_CA", settings.DMP_CA_BUNDLE),),
        what="URL du DMPi et certificats IGC-Santé d'authentification et de signature de la structure",
    )
    assert settings.DMP_AUTH_CERT and settings.DMP_AUTH_KEY and settings.DMP_SIGN_CERT and settings.DMP_SIGN_KEY
    return DmpEndpoint(
        url=str(settings.DMP_URL),
        client_cert=Path(settings.DMP_AUTH_CERT),
        client_key=Path(settings.DMP_AUTH_KEY),
        sign_cert=Path(settings.DMP_SIGN_CERT),
        sign_key=Path(settings.DMP_SIGN_KEY),
        ca_bundle=Path(settings.DMP_CA_BUNDLE) if settings.DMP_CA_BUNDLE else None,
    )
