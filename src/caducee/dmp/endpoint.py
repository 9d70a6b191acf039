"""Where the DMP lives: the national DMPi (settings CADUCEE_DMP_*) or the local sandbox (DATA_DIR/sandbox.json).

Same code path either way (docs/dmp.md §Transport): one HTTPS base URL, the structure's authentication certificate for
mutual TLS, its signature certificate for the VIHF and the lot's XAdES, a CA bundle to check the server. Pattern of
`caducee.identity.insi.endpoint`; the sandbox publishes the key "dmp": {url, ca, client_cert, client_key, sign_cert,
sign_key} in DATA_DIR/sandbox.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from caducee.identity.insi.endpoint import SANDBOX_STATE_FILE, SandboxNotRunning


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
    required = (
        ("CADUCEE_DMP_URL", settings.DMP_URL),
        ("CADUCEE_DMP_AUTH_CERT", settings.DMP_AUTH_CERT),
        ("CADUCEE_DMP_AUTH_KEY", settings.DMP_AUTH_KEY),
        ("CADUCEE_DMP_SIGN_CERT", settings.DMP_SIGN_CERT),
        ("CADUCEE_DMP_SIGN_KEY", settings.DMP_SIGN_KEY),
    )
    missing = [name for name, value in required if not value]
    if missing:
        raise ImproperlyConfigured(
            "Service DMP non configuré : renseignez "
            + ", ".join(missing)
            + " (URL du DMPi et certificats IGC-Santé d'authentification et de signature de la structure), "
            "ou lancez Caducée en mode bac à sable (CADUCEE_SANDBOX=1)."
        )
    if not str(settings.DMP_URL).startswith("https://"):
        raise ImproperlyConfigured("CADUCEE_DMP_URL doit être une adresse https:// (TLS mutuel).")
    for name, path in (*required[1:], ("CADUCEE_DMP_CA", settings.DMP_CA_BUNDLE)):
        if path and not Path(path).is_file():
            raise ImproperlyConfigured(f"{name} : fichier introuvable ({path}).")
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
    state_file = Path(data_dir) / SANDBOX_STATE_FILE
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        dmp = state["dmp"]
        return DmpEndpoint(
            url=dmp["url"],
            client_cert=Path(dmp["client_cert"]),
            client_key=Path(dmp["client_key"]),
            sign_cert=Path(dmp["sign_cert"]),
            sign_key=Path(dmp["sign_key"]),
            ca_bundle=Path(dmp["ca"]),
            sandbox=True,
        )
    except FileNotFoundError as exc:
        raise SandboxNotRunning(
            f"Bac à sable DMP introuvable ({state_file} absent) : lancez `caducee sandbox` "
            "dans un autre terminal (CADUCEE_SANDBOX=1)."
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise SandboxNotRunning(
            f"Fichier {state_file} illisible ou sans bac à sable DMP : relancez `caducee sandbox`."
        ) from exc
