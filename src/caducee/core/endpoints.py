"""National-service endpoints: one code path, from the settings.

Every client (INSi, DMP, MSSanté, Annuaire Santé, Pro Santé Connect, the carte Vitale reader) takes its endpoint
from its `CADUCEE_<SERVICE>_*` settings only, checked the same way (`check_endpoint_settings`), whether they name
the real service or the local sandbox. `ENDPOINT_VARIABLES` lists those variables and their settings.

The sandbox's come from `caducee sandbox` (and `caducee demo`), which writes them as `NAME=value` lines in
DATA_DIR/sandbox.env. With CADUCEE_SANDBOX=1, config/settings.py reads that file ONCE at start-up and the
environment's endpoint variables are ignored (`endpoint_settings(..., complete=True)`): a sandbox run can never
reach a real service through a leftover variable, and a real run never reads the sandbox's file. A process that
starts a sandbox after its own start-up (the demo, `caducee insi` on a fresh data dir, the tests) applies what the
sandbox published explicitly (`apply_endpoint_settings`, `endpoint_settings_applied`). Errors are
`ImproperlyConfigured` with a French message naming what to set.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SANDBOX_SETTINGS_FILE = "sandbox.env"


@dataclass(frozen=True)
class EndpointVariable:
    setting: str  # the Django setting (config/settings.py reads the same variable with the same default)
    kind: str  # "text", "path" (None when empty) or "port" (an integer ≥ 1)
    default: str | int | None = None


def _text(setting: str, default: str = "") -> EndpointVariable:
    return EndpointVariable(setting, "text", default)


def _path(setting: str) -> EndpointVariable:
    return EndpointVariable(setting, "path")


def _port(setting: str, default: int) -> EndpointVariable:
    return EndpointVariable(setting, "port", default)


ENDPOINT_VARIABLES: dict[str, EndpointVariable] = {
    # INSi (identity/insi/endpoint.py): the CNAM's URL, the IGC-Santé INSI-MANU/AUTO certificate, the CNDA's IDAM.
    "CADUCEE_INSI_URL": _text("INSI_URL"),
    "CADUCEE_INSI_CERT": _path("INSI_CLIENT_CERT"),
    "CADUCEE_INSI_KEY": _path("INSI_CLIENT_KEY"),
    "CADUCEE_INSI_CA": _path("INSI_CA_BUNDLE"),
    "CADUCEE_INSI_IDAM": _text("INSI_IDAM", "TESTSGIE0000"),
    # DMP (dmp/endpoint.py): base URL, the structure's authentication and signature certificates.
    "CADUCEE_DMP_URL": _text("DMP_URL"),
    "CADUCEE_DMP_AUTH_CERT": _path("DMP_AUTH_CERT"),
    "CADUCEE_DMP_AUTH_KEY": _path("DMP_AUTH_KEY"),
    "CADUCEE_DMP_SIGN_CERT": _path("DMP_SIGN_CERT"),
    "CADUCEE_DMP_SIGN_KEY": _path("DMP_SIGN_KEY"),
    "CADUCEE_DMP_CA": _path("DMP_CA_BUNDLE"),
    # MSSanté operator (mss/endpoint.py): SMTP and IMAP hosts, token endpoint, ORG certificate.
    "CADUCEE_MSS_SMTP_HOST": _text("MSS_SMTP_HOST"),
    "CADUCEE_MSS_SMTP_PORT": _port("MSS_SMTP_PORT", 587),
    "CADUCEE_MSS_IMAP_HOST": _text("MSS_IMAP_HOST"),
    "CADUCEE_MSS_IMAP_PORT": _port("MSS_IMAP_PORT", 143),
    "CADUCEE_MSS_TOKEN_URL": _text("MSS_TOKEN_URL"),
    "CADUCEE_MSS_CA": _path("MSS_CA_BUNDLE"),
    "CADUCEE_MSS_CLIENT_CERT": _path("MSS_CLIENT_CERT"),
    "CADUCEE_MSS_CLIENT_KEY": _path("MSS_CLIENT_KEY"),
    # Annuaire Santé FHIR API (mss/annuaire/fhir.py): base URL and the application's API key.
    "CADUCEE_ANNUAIRE_URL": _text("ANNUAIRE_URL", "https://gateway.api.esante.gouv.fr/fhir/v2"),
    "CADUCEE_ANNUAIRE_API_KEY": _text("ANNUAIRE_API_KEY"),
    "CADUCEE_ANNUAIRE_API_KEY_FILE": _path("ANNUAIRE_API_KEY_FILE"),
    "CADUCEE_ANNUAIRE_CA": _path("ANNUAIRE_CA_BUNDLE"),
    # Pro Santé Connect (accounts/psc/endpoint.py): metadata, the wallet, the client registration.
    "CADUCEE_PSC_METADATA_URL": _text("PSC_METADATA_URL"),
    "CADUCEE_PSC_AUTHORIZATION_URL": _text("PSC_AUTHORIZATION_URL"),
    "CADUCEE_PSC_CLIENT_ID": _text("PSC_CLIENT_ID"),
    "CADUCEE_PSC_CLIENT_SECRET": _text("PSC_CLIENT_SECRET"),
    "CADUCEE_PSC_CLIENT_SECRET_FILE": _path("PSC_CLIENT_SECRET_FILE"),
    "CADUCEE_PSC_CLIENT_CERT": _path("PSC_CLIENT_CERT"),
    "CADUCEE_PSC_CLIENT_KEY": _path("PSC_CLIENT_KEY"),
    "CADUCEE_PSC_CA": _path("PSC_CA_BUNDLE"),
    "CADUCEE_PSC_USERINFO_DECRYPTION_KEY": _path("PSC_USERINFO_DECRYPTION_KEY"),
    # Carte Vitale reader (teleservices/vitale.py): "sesam" (SESAM-Vitale components) or "fake" (simulated cards).
    "CADUCEE_VITALE_READER": _text("VITALE_READER", "sesam"),
}


def read_settings_file(path: Path) -> dict[str, str]:
    """The `NAME=value` lines of a settings file (blank lines and `#` comments skipped; no quoting); {} if absent."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip():
            raise ImproperlyConfigured(f"{path}, ligne {number} : « NOM=valeur » attendu.")
        values[name.strip()] = value.strip()
    return values


def endpoint_settings(values: Mapping[str, str], *, complete: bool = False) -> dict[str, Any]:
    """The Django settings (name → typed value) that these `CADUCEE_*` endpoint variables give.

    `complete`: every endpoint setting, those absent from `values` at their default (the start-up configuration of a
    sandbox run: nothing comes from the environment). Otherwise only the settings named in `values`."""
    unknown = sorted(set(values) - set(ENDPOINT_VARIABLES))
    if unknown:
        raise ImproperlyConfigured(f"Variables de service inconnues : {', '.join(unknown)}.")
    result: dict[str, Any] = {}
    for name, variable in ENDPOINT_VARIABLES.items():
        if name in values:
            result[variable.setting] = _parse(name, values[name], variable)
        elif complete:
            result[variable.setting] = variable.default
    return result


def _parse(name: str, raw: str, variable: EndpointVariable) -> Any:
    if variable.kind == "path":
        return Path(raw.strip()).expanduser() if raw.strip() else None
    if variable.kind == "port":
        if not raw.strip():
            return variable.default
        try:
            value = int(raw)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}={raw!r}: entier attendu") from exc
        if value < 1:
            raise ImproperlyConfigured(f"{name}={value}: minimum 1")
        return value
    return raw


def apply_endpoint_settings(values: Mapping[str, str]) -> dict[str, Any]:
    """Set the settings these endpoint variables give in this process; returns the previous values.

    For a process that started a sandbox after reading its settings (`caducee demo` before its web server forks)."""
    overrides = endpoint_settings(values)
    previous = {name: getattr(settings, name) for name in overrides}
    for name, value in overrides.items():
        setattr(settings, name, value)
    return previous


@contextmanager
def endpoint_settings_applied(values: Mapping[str, str]) -> Iterator[None]:
    """`apply_endpoint_settings` for the duration of a block (a command's own sandbox), the settings restored after."""
    previous = apply_endpoint_settings(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            setattr(settings, name, value)


def check_endpoint_settings(
    *,
    service: str,
    url: tuple[str, object],
    files: Sequence[tuple[str, object]],
    optional_files: Sequence[tuple[str, object]] = (),
    what: str,
) -> None:
    """The URL and the certificate files of a service are set, https, and the files exist."""
    missing = [name for name, value in (url, *files) if not value]
    if missing:
        raise ImproperlyConfigured(
            f"{service} non configuré : renseignez {', '.join(missing)} ({what}). {SANDBOX_HINT}"
        )
    if not str(url[1]).startswith("https://"):
        raise ImproperlyConfigured(f"{url[0]} doit être une adresse https:// (TLS mutuel).")
    for name, path in (*files, *optional_files):
        if path and not Path(str(path)).is_file():
            raise ImproperlyConfigured(f"{name} : fichier introuvable ({path}).")


# Said with every "not configured": on the sandbox, the settings come from the sandbox started before Caducée.
SANDBOX_HINT = (
    f"En bac à sable (CADUCEE_SANDBOX=1), lancez `caducee sandbox` avant Caducée : il écrit {SANDBOX_SETTINGS_FILE} "
    "dans le répertoire de données, lu au démarrage."
)
