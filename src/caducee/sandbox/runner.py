"""Start and stop the sandboxes; publish their endpoint settings in DATA_DIR/sandbox.env.

sandbox.env holds, one `NAME=value` a line, exactly the settings a real installation sets for each national service
(docs/operations.md): the URLs (`CADUCEE_INSI_URL`, `CADUCEE_DMP_URL`, the MSS operator's SMTP and IMAP host/port
and token endpoint, the Annuaire Santé's FHIR base, PSC's metadata and wallet), the local CA (`CADUCEE_*_CA`), the
client certificates and keys of the sandbox PKI (INSi's INSI-MANU, the DMP's authentication and signature ones, the
practice's ORG one for the MSS operator), the INSi test IDAM, the Annuaire's per-run API key, PSC's client id and
per-run secret, and the simulated carte Vitale reader. With CADUCEE_SANDBOX=1, Caducée reads the file once at
start-up (config/settings.py) and its clients know no other path; a process that was already running applies
`handle.settings` itself (`caducee demo`, before its web server forks). The file is written atomically, readable by
its owner only (it holds this run's secrets), and removed when the sandboxes stop.

The sandbox imports nothing of the product (DESIGN.md principle 1): the variable names are written here as the
documented interface they are; tests/sandbox/test_runner.py checks them against the product's list.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caducee.sandbox.pki import SandboxPki, ensure_pki

if TYPE_CHECKING:
    from caducee.sandbox.annuaire import AnnuaireSandbox
    from caducee.sandbox.dmp.server import DmpSandbox
    from caducee.sandbox.insi import InsiSandbox
    from caducee.sandbox.mss import MssSandbox
    from caducee.sandbox.psc import PscSandbox

SETTINGS_FILE = "sandbox.env"
SERVICES = ("insi", "dmp", "psc", "mss", "annuaire")
PSC_KEY_FILE = "psc-signing.pem"
PSC_CLIENT_ID = "caducee"
INSI_TEST_IDAM = "TESTSGIE0000"  # the CNDA's test authorisation number (notes §3.2); an empty one is refused


def default_reference_dir() -> Path:
    """Same default as the settings: CADUCEE_REFERENCE_DIR, else ../shared/reference next to the repo."""
    if value := os.environ.get("CADUCEE_REFERENCE_DIR", "").strip():
        return Path(value).expanduser()
    return Path(__file__).resolve().parent.parent.parent.parent.parent / "shared" / "reference"


# -- the settings each sandbox gives a client ----------------------------------------------------------------------


def insi_settings(url: str, pki: SandboxPki) -> dict[str, str]:
    return {
        "CADUCEE_INSI_URL": url,
        "CADUCEE_INSI_CERT": str(pki.client_cert),
        "CADUCEE_INSI_KEY": str(pki.client_key),
        "CADUCEE_INSI_CA": str(pki.ca_cert),
        "CADUCEE_INSI_IDAM": INSI_TEST_IDAM,
    }


def dmp_settings(url: str, pki: SandboxPki) -> dict[str, str]:
    return {
        "CADUCEE_DMP_URL": url,
        "CADUCEE_DMP_AUTH_CERT": str(pki.dmp_client_cert),
        "CADUCEE_DMP_AUTH_KEY": str(pki.dmp_client_key),
        "CADUCEE_DMP_SIGN_CERT": str(pki.dmp_sign_cert),
        "CADUCEE_DMP_SIGN_KEY": str(pki.dmp_sign_key),
        "CADUCEE_DMP_CA": str(pki.ca_cert),
    }


def mss_settings(mss: MssSandbox, pki: SandboxPki) -> dict[str, str]:
    return {
        "CADUCEE_MSS_SMTP_HOST": mss.host,
        "CADUCEE_MSS_SMTP_PORT": str(mss.smtp_port),
        "CADUCEE_MSS_IMAP_HOST": mss.host,
        "CADUCEE_MSS_IMAP_PORT": str(mss.imap_port),
        "CADUCEE_MSS_TOKEN_URL": mss.token_url,
        "CADUCEE_MSS_CA": str(pki.ca_cert),
        "CADUCEE_MSS_CLIENT_CERT": str(pki.client_cert),
        "CADUCEE_MSS_CLIENT_KEY": str(pki.client_key),
    }


def annuaire_settings(url: str, api_key: str, pki: SandboxPki) -> dict[str, str]:
    return {"CADUCEE_ANNUAIRE_URL": url, "CADUCEE_ANNUAIRE_API_KEY": api_key, "CADUCEE_ANNUAIRE_CA": str(pki.ca_cert)}


def psc_settings(psc: PscSandbox) -> dict[str, str]:
    return {
        "CADUCEE_PSC_METADATA_URL": psc.metadata_url,
        "CADUCEE_PSC_AUTHORIZATION_URL": psc.wallet_url,
        "CADUCEE_PSC_CLIENT_ID": psc.client_id,
        "CADUCEE_PSC_CLIENT_SECRET": psc.client_secret,
        "CADUCEE_PSC_CA": str(psc.ca),
    }


VITALE_SETTINGS = {"CADUCEE_VITALE_READER": "fake"}  # SESAM-Vitale's stand-in: the simulated cards


# -- start, publish, stop ------------------------------------------------------------------------------------------


@dataclass
class SandboxHandle:
    data_dir: Path
    settings_file: Path
    pki: SandboxPki
    settings: dict[str, str]  # what sandbox.env holds: CADUCEE_* variable → value
    insi: InsiSandbox | None = None
    dmp: DmpSandbox | None = None
    psc: PscSandbox | None = None
    mss: MssSandbox | None = None
    annuaire: AnnuaireSandbox | None = None
    _written: str = field(default="", repr=False)

    @property
    def urls(self) -> dict[str, str]:
        """One line per running service for the console: its URL (the MSS operator: its three addresses)."""
        urls = {}
        if self.insi is not None:
            urls["insi"] = self.insi.url
        if self.dmp is not None:
            urls["dmp"] = self.dmp.url
        if self.psc is not None:
            urls["psc"] = self.psc.url
        if self.mss is not None:
            mss = self.mss
            urls["mss"] = f"smtp://{mss.host}:{mss.smtp_port} imap://{mss.host}:{mss.imap_port} {mss.web_url}"
        if self.annuaire is not None:
            urls["annuaire"] = self.annuaire.url
        return urls

    def stop(self) -> None:
        """Stop every sandbox; remove sandbox.env if it still describes this run."""
        for service in (self.annuaire, self.mss, self.psc, self.dmp, self.insi):
            if service is not None:
                service.stop()
        try:
            if self._written and self.settings_file.read_text(encoding="utf-8") == self._written:
                self.settings_file.unlink()
        except FileNotFoundError:
            pass


def start_sandboxes(
    data_dir: Path | str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    reference_dir: Path | None = None,
    services: Iterable[str] = SERVICES,
    dmp_port: int = 0,
    mss_smtp_port: int = 0,
    mss_imap_port: int = 0,
    mss_web_port: int = 0,
    psc_port: int = 0,
) -> SandboxHandle:
    """Start the sandboxes in daemon threads (port 0 = any free port) and write DATA_DIR/sandbox.env.

    `services`: which of insi, dmp, psc, mss, annuaire (all by default; the MSS operator accepts PSC's access
    tokens when PSC runs too, SC.MSS/CONF.07). `port` is the INSi sandbox's, `dmp_port` the DMP's. The DMP keeps its
    documents in data_dir/sandbox/dmp.sqlite3 across restarts, the MSS operator its mailboxes in
    data_dir/sandbox/mss.sqlite3, Pro Santé Connect its signing key in data_dir/sandbox/psc-signing.pem (0600); its
    client secret and the Annuaire's API key are new each run."""
    wanted = set(services)
    if unknown := wanted - set(SERVICES):
        raise ValueError(f"unknown sandbox services: {sorted(unknown)}")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    pki = ensure_pki(data_dir)
    reference = reference_dir if reference_dir is not None else default_reference_dir()
    tls: dict[str, Any] = {"ca": pki.ca_cert, "cert": pki.server_cert, "key": pki.server_key, "host": host}
    handle = SandboxHandle(
        data_dir=data_dir, settings_file=data_dir / SETTINGS_FILE, pki=pki, settings=dict(VITALE_SETTINGS)
    )
    try:
        if "insi" in wanted:
            from caducee.sandbox.insi import start_insi_sandbox

            handle.insi = start_insi_sandbox(**tls, port=port, reference_dir=reference)
            handle.settings.update(insi_settings(handle.insi.url, pki))
        if "dmp" in wanted:
            from caducee.sandbox.dmp.server import start_dmp_sandbox

            handle.dmp = start_dmp_sandbox(
                **tls, database=data_dir / "sandbox" / "dmp.sqlite3", port=dmp_port, reference_dir=reference
            )
            handle.settings.update(dmp_settings(handle.dmp.url, pki))
        if "psc" in wanted:
            # Before the MSS operator, which checks PSC access tokens against its keys (SC.MSS/CONF.07).
            from caducee.sandbox.psc import start_psc_sandbox

            handle.psc = start_psc_sandbox(
                **tls,
                port=psc_port,
                keys_path=data_dir / "sandbox" / PSC_KEY_FILE,
                client_id=PSC_CLIENT_ID,
                client_secret=secrets.token_urlsafe(24),
            )
            handle.settings.update(psc_settings(handle.psc))
        if "mss" in wanted:
            handle.mss = _start_mss(handle, tls, smtp_port=mss_smtp_port, imap_port=mss_imap_port, web=mss_web_port)
            handle.settings.update(mss_settings(handle.mss, pki))
        if "annuaire" in wanted:
            # The Annuaire Santé FHIR API v2 stand-in (its API key is a per-run secret, kept in sandbox.env only).
            from caducee.sandbox.annuaire import start_annuaire_sandbox

            handle.annuaire = start_annuaire_sandbox(**tls, api_key=secrets.token_urlsafe(16))
            handle.settings.update(annuaire_settings(handle.annuaire.url, handle.annuaire.api_key, pki))
        handle._written = write_settings_file(handle.settings_file, handle.settings)
    except BaseException:
        handle.stop()
        raise
    return handle


def _start_mss(handle: SandboxHandle, tls: dict[str, Any], *, smtp_port: int, imap_port: int, web: int) -> MssSandbox:
    from caducee.sandbox.mss import PscTokenVerifier, start_mss_sandbox  # Twisted: only when the operator runs

    psc = handle.psc
    owners: Callable[[str], Iterable[str]] | None = psc.owners_of if psc is not None else None
    return start_mss_sandbox(
        **tls,
        database=handle.data_dir / "sandbox" / "mss.sqlite3",
        smtp_port=smtp_port,
        imap_port=imap_port,
        web_port=web,
        psc_verifier=PscTokenVerifier(issuer=psc.url, jwks=psc.jwks) if psc is not None else None,
        owners_lookup=owners,
    )


def write_settings_file(path: Path, values: dict[str, str]) -> str:
    """Write `NAME=value` lines atomically (a reader never sees half a file), mode 0600; returns the text."""
    for name, value in values.items():
        if "\n" in value or "\r" in value or "=" in name:
            raise ValueError(f"{name}: value on one line expected")
    text = (
        "# Bacs à sable de Caducée (`caducee sandbox`) : adresses, certificats et secrets de cette exécution.\n"
        "# Lu au démarrage de Caducée quand CADUCEE_SANDBOX=1 ; supprimé à l'arrêt des bacs à sable.\n"
        + "".join(f"{name}={value}\n" for name, value in values.items())
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)
    tmp.replace(path)
    return text
