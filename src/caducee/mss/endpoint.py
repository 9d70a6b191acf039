"""Where the MSSanté operator lives: a real operator (settings CADUCEE_MSS_*) or the local sandbox (sandbox.json).

Same code path either way: an SMTP submission host and an IMAP4rev1 host, both with STARTTLS (SC.MSS/CONF.05/06),
an OAuth2 token endpoint reached over mutual TLS with the practice's certificate (the sandbox's stands for Pro Santé
Connect until issue 6), a CA bundle to check the operator, the same client certificate for APP mailboxes (CONF.12).
Pattern of `caducee.dmp.endpoint`; the sandbox publishes the key "mss": {smtp_host, smtp_port, imap_host, imap_port,
token_url, web_url, ca, client_cert, client_key} in DATA_DIR/sandbox.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from caducee.core.endpoints import SANDBOX_STATE_FILE, SandboxNotRunning, check_real_settings, sandbox_service


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
    sandbox: bool = False


def mss_endpoint() -> MssEndpoint:
    """The MSSanté operator chosen by the settings (CADUCEE_SANDBOX, CADUCEE_MSS_*)."""
    if settings.SANDBOX:
        return sandbox_endpoint(Path(settings.DATA_DIR))
    check_real_settings(
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
        raise ImproperlyConfigured(f"Messagerie MSSanté non configurée : renseignez {', '.join(missing)}.")
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


def sandbox_endpoint(data_dir: Path) -> MssEndpoint:
    """The MSSanté sandbox operator published by `caducee sandbox` in DATA_DIR/sandbox.json (key "mss")."""
    mss = sandbox_service(data_dir, "mss", "MSSanté")
    try:
        return MssEndpoint(
            smtp_host=str(mss["smtp_host"]),
            smtp_port=int(mss["smtp_port"]),
            imap_host=str(mss["imap_host"]),
            imap_port=int(mss["imap_port"]),
            token_url=str(mss["token_url"]),
            ca=Path(mss["ca"]),
            client_cert=Path(mss["client_cert"]),
            client_key=Path(mss["client_key"]),
            timeout=float(settings.MSS_TIMEOUT_SECONDS),
            sandbox=True,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SandboxNotRunning(f"Bac à sable MSSanté mal décrit dans {SANDBOX_STATE_FILE} : relancez-le.") from exc
