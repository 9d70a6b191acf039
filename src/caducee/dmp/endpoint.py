"""Where the DMP lives: the national DMPi (settings CADUCEE_DMP_*) or the local sandbox (DATA_DIR/sandbox.json).

Same code path either way (docs/dmp.md §Transport): one HTTPS base URL, the structure's authentication certificate for
mutual TLS, its signature certificate for the VIHF and the lot's XAdES, a CA bundle to check the server. Pattern of
`caducee.identity.insi.endpoint`; the sandbox publishes the key "dmp": {url, ca, client_cert, client_key, sign_cert,
sign_key} in DATA_DIR/sandbox.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from caducee.core.endpoints import SANDBOX_STATE_FILE, SandboxNotRunning, check_real_settings, sandbox_service


@dataclass(frozen=True)
class DmpEndpoint:
    url: str  # base URL; services /patients, /habilitations, /registry, /repository below it
    client_cert: Path
    client_key: Path
    sign_cert: Path
    sign_key: Path
    ca_bundle: Path | None
    sandbox: bool

    def service(self, name: str) -> str:
        return self.url.rstrip("/") + "/" + name


def dmp_endpoint() -> DmpEndpoint:
    """The DMP endpoint chosen by the settings (CADUCEE_SANDBOX, CADUCEE_DMP_*)."""
    if settings.SANDBOX:
        return sandbox_endpoint(Path(settings.DATA_DIR))
    check_real_settings(
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
        sandbox=False,
    )


def sandbox_endpoint(data_dir: Path) -> DmpEndpoint:
    """The DMP sandbox published by `caducee sandbox` in DATA_DIR/sandbox.json (key "dmp")."""
    dmp = sandbox_service(data_dir, "dmp", "DMP")
    try:
        return DmpEndpoint(
            url=dmp["url"],
            client_cert=Path(dmp["client_cert"]),
            client_key=Path(dmp["client_key"]),
            sign_cert=Path(dmp["sign_cert"]),
            sign_key=Path(dmp["sign_key"]),
            ca_bundle=Path(dmp["ca"]),
            sandbox=True,
        )
    except (KeyError, TypeError) as exc:
        raise SandboxNotRunning(f"Bac à sable DMP mal décrit dans {SANDBOX_STATE_FILE} : relancez-le.") from exc
