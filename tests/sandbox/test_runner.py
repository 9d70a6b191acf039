"""The runner and `caducee sandbox`: the sandboxes publish, in DATA_DIR/sandbox.env, the very settings a real
installation sets (`CADUCEE_<SERVICE>_*`); read by the product's own reader, they reach every sandbox; the file goes
with the sandboxes."""

from __future__ import annotations

import io
import smtplib
import socket
import ssl
import stat
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from caducee.accounts.psc.endpoint import psc_endpoint
from caducee.core.endpoints import ENDPOINT_VARIABLES, endpoint_settings_applied, read_settings_file
from caducee.dmp.endpoint import dmp_endpoint
from caducee.identity.insi.client import InsiClient, InsiTraits
from caducee.identity.insi.endpoint import insi_endpoint
from caducee.mss.annuaire.fhir import annuaire_endpoint
from caducee.mss.endpoint import mss_endpoint
from caducee.sandbox.management.commands.sandbox import Command as SandboxCommand
from caducee.sandbox.runner import SandboxHandle, start_sandboxes, write_settings_file
from caducee.teleservices.vitale import FakeVitaleReader, vitale_reader
from tests.sandbox.dmp_client import DR_MARTIN, SandboxClient, ins
from tests.sandbox.mss_fixtures import imap_session, xoauth2
from tests.sandbox.psc_fixtures import CLAIRE, login

A = "jean.medecin@demo.mssante.fr"
B = "claire.specialiste@demo.mssante.fr"
OPEN = "101063417209334"  # the sandbox DMP's D'ARTAGNAN DE L'HERAULT: open DMP


@pytest.fixture(scope="module")
def handle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    started = start_sandboxes(tmp_path_factory.mktemp("runner") / "data", reference_dir=Path(settings.REFERENCE_DIR))
    yield started
    started.stop()


def test_sandbox_env_holds_the_settings_of_every_service(handle: SandboxHandle) -> None:
    values = read_settings_file(handle.settings_file)
    assert values == handle.settings
    assert stat.S_IMODE(handle.settings_file.stat().st_mode) == 0o600  # this run's secrets (API key, PSC secret)
    assert set(values) <= set(ENDPOINT_VARIABLES)  # the product's own variable names
    for service in ("INSI", "DMP", "MSS", "ANNUAIRE", "PSC", "VITALE"):
        assert any(name.startswith(f"CADUCEE_{service}_") for name in values), service
    assert set(handle.urls) == {"insi", "dmp", "psc", "mss", "annuaire"} and "smtp://" in handle.urls["mss"]
    with endpoint_settings_applied(values):  # what a Caducée started after the sandboxes sees
        assert insi_endpoint().url == handle.insi.url  # type: ignore[union-attr]
        assert insi_endpoint().client_cert == handle.pki.client_cert
        assert settings.INSI_IDAM == "TESTSGIE0000"
        dmp = dmp_endpoint()
        assert dmp.url == handle.dmp.url and dmp.sign_cert == handle.pki.dmp_sign_cert  # type: ignore[union-attr]
        mss = mss_endpoint()
        assert (mss.smtp_port, mss.imap_port) == (handle.mss.smtp_port, handle.mss.imap_port)  # type: ignore[union-attr]
        assert annuaire_endpoint().url == handle.annuaire.url  # type: ignore[union-attr]
        psc = psc_endpoint()
        assert psc.metadata_url == handle.psc.metadata_url and psc.client_id == "caducee"  # type: ignore[union-attr]
        assert psc.authorization_url == handle.psc.wallet_url and len(psc.client_secret) >= 32  # type: ignore[union-attr]
        assert isinstance(vitale_reader(), FakeVitaleReader)


def test_insi_and_the_dmp_answer_with_the_published_certificates(handle: SandboxHandle) -> None:
    with endpoint_settings_applied(handle.settings):
        result = InsiClient(insi_endpoint()).search_traits(
            InsiTraits("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26", "2A020")
        )
    assert result.code == "00"
    values = handle.settings
    entry = {
        "url": values["CADUCEE_DMP_URL"],
        "ca": values["CADUCEE_DMP_CA"],
        "client_cert": values["CADUCEE_DMP_AUTH_CERT"],
        "client_key": values["CADUCEE_DMP_AUTH_KEY"],
        "sign_cert": values["CADUCEE_DMP_SIGN_CERT"],
        "sign_key": values["CADUCEE_DMP_SIGN_KEY"],
    }
    reply = SandboxClient(entry).td02(DR_MARTIN, ins(OPEN))
    assert reply.status == 200 and reply.fault is None


def test_the_mss_operator_with_the_published_settings(handle: SandboxHandle) -> None:
    values = handle.settings
    assert (handle.data_dir / "sandbox" / "mss.sqlite3").exists()
    response = requests.post(
        values["CADUCEE_MSS_TOKEN_URL"],
        data={"grant_type": "client_credentials", "login_hint": A},
        cert=(values["CADUCEE_MSS_CLIENT_CERT"], values["CADUCEE_MSS_CLIENT_KEY"]),
        verify=values["CADUCEE_MSS_CA"],
        timeout=10,
    )
    token = response.json()["access_token"]
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = A, B, "Test"
    message.set_content("Cher confrère,\n")
    with smtplib.SMTP(values["CADUCEE_MSS_SMTP_HOST"], int(values["CADUCEE_MSS_SMTP_PORT"]), timeout=10) as client:
        client.starttls(context=ssl.create_default_context(cafile=values["CADUCEE_MSS_CA"]))
        client.ehlo()
        client.auth("XOAUTH2", lambda challenge=None: xoauth2(A, token), initial_response_ok=True)
        client.send_message(message)


def test_psc_published_and_the_mss_operator_accepts_its_tokens(handle: SandboxHandle) -> None:
    """SC.MSS/CONF.07: the runner's MSS operator accepts that PSC's access tokens for the professional's mailbox."""
    assert handle.psc is not None and handle.mss is not None
    values = handle.settings
    keys_path = handle.data_dir / "sandbox" / "psc-signing.pem"
    assert handle.psc.keys.path == keys_path and stat.S_IMODE(keys_path.stat().st_mode) == 0o600
    metadata = requests.get(values["CADUCEE_PSC_METADATA_URL"], verify=values["CADUCEE_PSC_CA"], timeout=10).json()
    assert metadata["issuer"] == handle.psc.url == handle.urls["psc"]
    _, tokens = login(handle.psc, CLAIRE)
    imap = imap_session(handle.mss, handle.pki, "claire.martin@demo.mssante.fr", tokens["access_token"])
    imap.logout()
    last = handle.mss.auth_log()[-1]
    assert (last["ok"], last["token_issuer"], last["subject"]) == (True, "psc", CLAIRE)


def test_only_some_services_and_the_stop_removes_the_file(tmp_path: Path) -> None:
    started = start_sandboxes(tmp_path, services=["insi"], reference_dir=Path(settings.REFERENCE_DIR))
    assert started.dmp is None and started.mss is None and set(started.urls) == {"insi"}
    values = read_settings_file(tmp_path / "sandbox.env")
    assert {name.split("_")[1] for name in values} == {"INSI", "VITALE"}
    assert values["CADUCEE_INSI_URL"] == started.insi.url  # type: ignore[union-attr]
    started.stop()
    assert not (tmp_path / "sandbox.env").exists()
    port = int(values["CADUCEE_INSI_URL"].split(":")[2].split("/")[0])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    with pytest.raises(ValueError, match="unknown"):
        start_sandboxes(tmp_path, services=["insi", "sesam"])


def test_the_stop_leaves_a_file_another_run_wrote(tmp_path: Path) -> None:
    started = start_sandboxes(tmp_path, services=["insi"], reference_dir=Path(settings.REFERENCE_DIR))
    write_settings_file(tmp_path / "sandbox.env", {"CADUCEE_INSI_URL": "https://127.0.0.1:1/lps"})
    started.stop()
    assert read_settings_file(tmp_path / "sandbox.env") == {"CADUCEE_INSI_URL": "https://127.0.0.1:1/lps"}
    with pytest.raises(ValueError, match="one line"):
        write_settings_file(tmp_path / "sandbox.env", {"CADUCEE_INSI_URL": "https://a\nCADUCEE_DMP_URL=x"})


def test_sandbox_command_prints_the_urls_and_stops_on_ctrl_c(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    class Interrupted(SandboxCommand):
        def wait_for_interrupt(self) -> None:
            assert read_settings_file(tmp_path / "sandbox.env")["CADUCEE_INSI_URL"].startswith("https://127.0.0.1:")
            raise KeyboardInterrupt

    settings.DATA_DIR = tmp_path
    out = io.StringIO()
    call_command(Interrupted(), only=["insi"], stdout=out)
    assert "insi : https://127.0.0.1:" in out.getvalue() and "sandbox.env" in out.getvalue()
    assert "Bacs à sable arrêtés." in out.getvalue()
    assert not (tmp_path / "sandbox.env").exists()


def test_annuaire_extraction_is_the_sandbox_command(tmp_path: Path) -> None:
    path = tmp_path / "ext.txt"
    out = io.StringIO()
    call_command("sandbox", "annuaire-extraction", str(path), "--rows", "300", stdout=out)
    assert "300 lignes écrites" in out.getvalue() and len(path.read_text(encoding="utf-8").splitlines()) == 301
    with pytest.raises(CommandError, match="positif"):
        call_command("sandbox", "annuaire-extraction", str(path), "--rows", "0")
