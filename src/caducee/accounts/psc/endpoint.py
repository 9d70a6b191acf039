"""Where Pro Santé Connect is: the settings CADUCEE_PSC_* (PSC's, or the sandbox's that `caducee sandbox` publishes —
core/endpoints.py); one code path.

The metadata URL is always given in full, never derived from the issuer: PSC's ends in
`/.well-known/wallet-openid-configuration` and its authorization endpoint is the wallet's front-end, which the
settings may name explicitly (notes/psc §1.1; the ANS recommends the wallet).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from caducee.core.endpoints import SANDBOX_HINT


@dataclass(frozen=True)
class PscEndpoint:
    metadata_url: str
    client_id: str
    client_secret: str = ""
    authorization_url: str = ""  # overrides the metadata's authorization_endpoint (the wallet)
    ca: Path | None = None
    client_cert: Path | None = None  # mutual TLS at the token endpoint instead of the secret
    client_key: Path | None = None
    userinfo_decryption_key: Path | None = None
    timeout: float = 10.0

    @property
    def verify(self) -> str | bool:
        return str(self.ca) if self.ca else True

    @property
    def cert(self) -> tuple[str, str] | None:
        return (str(self.client_cert), str(self.client_key)) if self.client_cert and self.client_key else None


def psc_configured() -> bool:
    """Whether the login page offers Pro Santé Connect at all."""
    try:
        psc_endpoint()
    except ImproperlyConfigured:
        return False
    return True


def psc_endpoint() -> PscEndpoint:
    if not settings.PSC_METADATA_URL or not settings.PSC_CLIENT_ID:
        raise ImproperlyConfigured(
            "Pro Santé Connect non configuré : renseignez CADUCEE_PSC_METADATA_URL et CADUCEE_PSC_CLIENT_ID. "
            + SANDBOX_HINT
        )
    if not str(settings.PSC_METADATA_URL).startswith("https://"):
        raise ImproperlyConfigured("CADUCEE_PSC_METADATA_URL doit être une adresse https://.")
    secret = str(settings.PSC_CLIENT_SECRET)
    if settings.PSC_CLIENT_SECRET_FILE:
        secret = Path(settings.PSC_CLIENT_SECRET_FILE).read_text(encoding="utf-8").strip()
    if not secret and not (settings.PSC_CLIENT_CERT and settings.PSC_CLIENT_KEY):
        raise ImproperlyConfigured(
            "Pro Santé Connect : renseignez CADUCEE_PSC_CLIENT_SECRET(_FILE) ou le certificat TLS mutuel "
            "(CADUCEE_PSC_CLIENT_CERT et CADUCEE_PSC_CLIENT_KEY)."
        )
    return PscEndpoint(
        metadata_url=str(settings.PSC_METADATA_URL),
        authorization_url=str(settings.PSC_AUTHORIZATION_URL),
        client_id=str(settings.PSC_CLIENT_ID),
        client_secret=secret,
        ca=settings.PSC_CA_BUNDLE,
        client_cert=settings.PSC_CLIENT_CERT,
        client_key=settings.PSC_CLIENT_KEY,
        userinfo_decryption_key=settings.PSC_USERINFO_DECRYPTION_KEY,
        timeout=float(settings.PSC_TIMEOUT_SECONDS),
    )
