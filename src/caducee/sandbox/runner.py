"""Start and stop the sandboxes; publish their addresses in DATA_DIR/sandbox.json.

sandbox.json holds one key per service (`insi`, `dmp`, `mss`, `annuaire`, `psc`), each with its
URL and the PEM files a client needs for mutual TLS (and, for the DMP, the VIHF signature certificate).
The `mss` entry gives the operator's SMTP and IMAP host/port, its token endpoint and web (patient) page,
the CA and the practice's client certificate (token endpoint, APP mailboxes).
The `psc` entry gives Pro Santé Connect's issuer (`url`), `metadata_url`, `wallet_url`, `client_id`, a
`client_secret` drawn for this run, and the CA; the MSS operator accepts that PSC's access tokens (CONF.07).
The product reads it when CADUCEE_SANDBOX=1.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caducee.sandbox.annuaire import AnnuaireSandbox, start_annuaire_sandbox
from caducee.sandbox.dmp.server import DmpSandbox, start_dmp_sandbox
from caducee.sandbox.insi import InsiSandbox, start_insi_sandbox
from caducee.sandbox.mss import MssSandbox, PscTokenVerifier, start_mss_sandbox
from caducee.sandbox.pki import SandboxPki, ensure_pki
from caducee.sandbox.psc import PscSandbox, start_psc_sandbox

STATE_FILE = "sandbox.json"
PSC_KEY_FILE = "psc-signing.pem"
PSC_CLIENT_ID = "caducee"


def default_reference_dir() -> Path:
    """Same default as the settings: CADUCEE_REFERENCE_DIR, else ../shared/reference next to the repo."""
    if value := os.environ.get("CADUCEE_REFERENCE_DIR", "").strip():
        return Path(value).expanduser()
    return Path(__file__).resolve().parent.parent.parent.parent.parent / "shared" / "reference"


@dataclass
class SandboxHandle:
    data_dir: Path
    state_file: Path
    pki: SandboxPki
    insi: InsiSandbox
    state: dict[str, Any]
    dmp: DmpSandbox | None = None
    mss: MssSandbox | None = None
    annuaire: AnnuaireSandbox | None = None
    psc: PscSandbox | None = None

    @property
    def urls(self) -> dict[str, str]:
        return {name: _url(service) for name, service in self.state.items()}

    def stop(self) -> None:
        """Stop every sandbox; remove sandbox.json if it still describes this run."""
        self.insi.stop()
        if self.dmp is not None:
            self.dmp.stop()
        if self.mss is not None:
            self.mss.stop()
        if self.annuaire is not None:
            self.annuaire.stop()
        if self.psc is not None:
            self.psc.stop()
        try:
            if json.loads(self.state_file.read_text(encoding="utf-8")) == self.state:
                self.state_file.unlink()
        except (FileNotFoundError, ValueError):
            pass


def start_sandboxes(
    data_dir: Path | str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    reference_dir: Path | None = None,
    dmp_port: int = 0,
    mss_smtp_port: int = 0,
    mss_imap_port: int = 0,
    mss_web_port: int = 0,
    psc_port: int = 0,
) -> SandboxHandle:
    """Start the sandboxes in daemon threads (port 0 = any free port) and write sandbox.json.

    `port` is the INSi sandbox's, `dmp_port` the DMP sandbox's; the DMP keeps its documents in
    data_dir/sandbox/dmp.sqlite3 across restarts; the MSS operator its mailboxes in data_dir/sandbox/mss.sqlite3;
    Pro Santé Connect its signing key in data_dir/sandbox/psc-signing.pem (0600), its client secret is new each run."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    pki = ensure_pki(data_dir)
    reference = reference_dir if reference_dir is not None else default_reference_dir()
    insi = start_insi_sandbox(
        ca=pki.ca_cert,
        cert=pki.server_cert,
        key=pki.server_key,
        host=host,
        port=port,
        reference_dir=reference,
    )
    try:
        dmp = start_dmp_sandbox(
            ca=pki.ca_cert,
            cert=pki.server_cert,
            key=pki.server_key,
            database=data_dir / "sandbox" / "dmp.sqlite3",
            host=host,
            port=dmp_port,
            reference_dir=reference,
        )
    except BaseException:
        insi.stop()
        raise
    try:
        # Pro Santé Connect first: the MSS operator checks PSC access tokens against its keys (SC.MSS/CONF.07).
        psc = start_psc_sandbox(
            ca=pki.ca_cert,
            cert=pki.server_cert,
            key=pki.server_key,
            host=host,
            port=psc_port,
            keys_path=data_dir / "sandbox" / PSC_KEY_FILE,
            client_id=PSC_CLIENT_ID,
            client_secret=secrets.token_urlsafe(24),
        )
    except BaseException:
        insi.stop()
        dmp.stop()
        raise
    try:
        mss = start_mss_sandbox(
            ca=pki.ca_cert,
            cert=pki.server_cert,
            key=pki.server_key,
            database=data_dir / "sandbox" / "mss.sqlite3",
            host=host,
            smtp_port=mss_smtp_port,
            imap_port=mss_imap_port,
            web_port=mss_web_port,
            psc_verifier=PscTokenVerifier(issuer=psc.url, jwks=psc.jwks),
            owners_lookup=psc.owners_of,
        )
    except BaseException:
        insi.stop()
        dmp.stop()
        psc.stop()
        raise
    try:
        # The Annuaire Santé FHIR API v2 stand-in (its API key is a per-run secret, kept in sandbox.json only).
        annuaire = start_annuaire_sandbox(
            ca=pki.ca_cert, cert=pki.server_cert, key=pki.server_key, host=host, api_key=secrets.token_urlsafe(16)
        )
    except BaseException:
        insi.stop()
        dmp.stop()
        psc.stop()
        mss.stop()
        raise
    state: dict[str, Any] = {
        "insi": {
            "url": insi.url,
            "ca": str(pki.ca_cert),
            "client_cert": str(pki.client_cert),
            "client_key": str(pki.client_key),
        },
        "dmp": {
            "url": dmp.url,
            "ca": str(pki.ca_cert),
            "client_cert": str(pki.dmp_client_cert),
            "client_key": str(pki.dmp_client_key),
            "sign_cert": str(pki.dmp_sign_cert),
            "sign_key": str(pki.dmp_sign_key),
        },
        "mss": {
            "smtp_host": mss.host,
            "smtp_port": mss.smtp_port,
            "imap_host": mss.host,
            "imap_port": mss.imap_port,
            "token_url": mss.token_url,
            "web_url": mss.web_url,
            "ca": str(pki.ca_cert),
            "client_cert": str(pki.client_cert),
            "client_key": str(pki.client_key),
        },
        "annuaire": {"url": annuaire.url, "ca": str(pki.ca_cert), "api_key": annuaire.api_key},
        "psc": {
            "url": psc.url,
            "metadata_url": psc.metadata_url,
            "wallet_url": psc.wallet_url,
            "client_id": psc.client_id,
            "client_secret": psc.client_secret,
            "ca": str(pki.ca_cert),
        },
    }
    state_file = data_dir / STATE_FILE
    tmp = state_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    tmp.replace(state_file)  # atomic: a reader never sees half a file
    return SandboxHandle(
        data_dir=data_dir,
        state_file=state_file,
        pki=pki,
        insi=insi,
        state=state,
        dmp=dmp,
        mss=mss,
        annuaire=annuaire,
        psc=psc,
    )


def _url(service: dict[str, Any]) -> str:
    """One line per service for the console: its URL, or for the MSS operator its three addresses."""
    if "url" in service:
        return str(service["url"])
    return (
        f"smtp://{service['smtp_host']}:{service['smtp_port']} imap://{service['imap_host']}:{service['imap_port']} "
        f"{service['web_url']}"
    )
