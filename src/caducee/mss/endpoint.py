"""Where the MSSanté operator lives: the settings CADUCEE_MSS_* (a real operator, or the sandbox's that `caducee
sandbox` publishes — core/endpoints.py).

One code path: an SMTP submission host and an IMAP4rev1 host, both with STARTTLS (SC.MSS/CONF.05/06),
an OAuth2 token endpoint reached over mutual TLS with the practice's certificate (the sandbox's stands for Pro Santé
Connect until issue 6), a CA bundle to check the operator, the same client certificate for APP mailboxes (CONF.12).
Pattern of `caducee.dmp.endpoint`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from caducee.core.endpoints import SANDBOX_HINT, check_endpoint_settings


@dataclass(frozen=True)
class MssEndpoint:
    smtp_host: str
    smtp_port: int
    imap_host: str
    imap_port: int
    token_url: str
    ca: Path | None
    client_cert: Path | None
    client_key: Path | None
    timeout: float


def mss_endpoint() -> MssEndpoint:
    """The MSSanté operator of the settings (CADUCEE_MSS_*)."""
    check_endpoint_settings(
        service="Messagerie MSSanté",
        url=("CADUCEE_MSS_TOKEN_URL", settings.MSS_TOKEN_URL),
        files=(
            ("CADUCEE_MSS_CLIENT_CERT", settings.MSS_CLIENT_CERT),
            ("CADUCEE_MSS_CLIENT_KEY", settings.MSS_CLIENT_KEY),
        ),
        optional_files=(("CADUCEE_MSS_CA", settings.MSS_CA_BUNDLE),),
        what="serveurs SMTP/IMAP de l'opérateur MSSanté, service de jetons et certificat ORG de la structure",
    )
    missing = [
        name
        for name, value in (
            ("CADUCEE_MSS_SMTP_HOST", settings.MSS_SMTP_HOST),
            ("CADUCEE_MSS_IMAP_HOST", settings.MSS_IMAP_HOST),
        )
        if not value
    ]
    if missing:
        raise ImproperlyConfigured(
            f"Messagerie MSSanté non configurée : renseignez {', '.join(missing)}. {SANDBOX_HINT}"
        )
    return MssEndpoint(
        smtp_host=str(settings.MSS_SMTP_HOST),
        smtp_port=int(settings.MSS_SMTP_PORT),
        imap_host=str(settings.MSS_IMAP_HOST),
        imap_port=int(settings.MSS_IMAP_PORT),
        token_url=str(settings.MSS_TOKEN_URL),
        ca=Path(settings.MSS_CA_BUNDLE) if settings.MSS_CA_BUNDLE else None,
        client_cert=Path(settings.MSS_CLIENT_CERT) if settings.MSS_CLIENT_CERT else None,
        client_key=Path(settings.MSS_CLIENT_KEY) if settings.MSS_CLIENT_KEY else None,
        timeout=float(settings.MSS_TIMEOUT_SECONDS),
    )
