"""Issue 6 acceptance in a browser: a doctor logs in through the Pro Santé Connect sandbox (the e-CPS approval page),
links her local account once (SC.PSC.02), chooses one of her two work situations, lands on the chart she asked
for, writes to a colleague by MSSanté — and the worker authenticates to the MSS operator with *her* PSC access token
(SASL XOAUTH2, SC.MSS/CONF.07), as the operator's authentication log shows. Then the PSC session ends at PSC and
the next page is the login (SC.MSS/CONF.10)."""

# ruff: noqa: F811 — pytest fixtures imported by name and used as arguments
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from caducee.accounts.models import PscSession, Role, User
from caducee.accounts.psc import oidc
from caducee.core.outbox import run_worker
from caducee.mss.models import Mailbox, MailboxKind, OutboundMessage
from caducee.sandbox.mss import MssSandbox, PscTokenVerifier
from caducee.sandbox.pki import SandboxPki
from caducee.sandbox.runner import mss_settings, psc_settings
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_ins_journey import Clicks
from tests.conftest import PASSWORD
from tests.documents.cda_records import qualify
from tests.sandbox.fixtures import use_sandbox_settings
from tests.sandbox.mss_fixtures import mss_pki, start_test_mss  # noqa: F401
from tests.sandbox.psc_fixtures import CLAIRE, psc_pki, psc_sandbox  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

A_BOX, B_BOX = "claire.martin@demo.mssante.fr", "hugo.bernard@demo.mssante.fr"


@pytest.fixture
def psc_and_mss(psc_sandbox, mss_pki: SandboxPki, settings: Any, tmp_path: Path) -> Iterator[MssSandbox]:  # type: ignore[no-untyped-def]
    """PSC and an MSS operator that accepts its access tokens, the product pointed at them with the settings
    `caducee sandbox` would publish."""
    operator = start_test_mss(
        mss_pki,
        tmp_path / "sandbox" / "mss.sqlite3",
        psc_verifier=PscTokenVerifier(issuer=psc_sandbox.url, jwks=psc_sandbox.jwks),
        owners_lookup=psc_sandbox.owners_of,
    )
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    use_sandbox_settings(settings, {**psc_settings(psc_sandbox), **mss_settings(operator, mss_pki)})
    settings.SANDBOX = True  # R28: the test INS of the chart's patient
    settings.DATA_DIR = data_dir
    settings.MSS_TIMEOUT_SECONDS = 10
    oidc.forget_cache()
    yield operator
    operator.stop()
    oidc.forget_cache()


def test_psc_login_work_situation_chart_and_an_mss_send_with_the_psc_token(
    psc_and_mss, psc_sandbox, browser_page, practice, doctor, make_patient
) -> None:  # type: ignore[no-untyped-def]
    doctor.first_name, doctor.last_name = "Claire", "MARTIN"
    doctor.save()
    colleague = User.objects.create_user(
        username="hbernard", password=PASSWORD, role=Role.MEDECIN, first_name="Hugo", last_name="BERNARD"
    )
    Mailbox.objects.create(address=A_BOX, kind=MailboxKind.PER, owner=doctor, display_name="MARTIN Claire")
    Mailbox.objects.create(address=B_BOX, kind=MailboxKind.PER, owner=colleague, display_name="BERNARD Hugo")
    patient = qualify(make_patient())
    patient.medecin_traitant = colleague
    patient.save(update_fields=["medecin_traitant"])

    page = browser_page
    clicks = Clicks(page)
    page.goto(f"{page.base_url}/patients/{patient.pk}/")
    clicks.click("a:has-text('Se connecter avec Pro Santé Connect')")
    # The PSC sandbox's page, standing for the e-CPS approval.
    page.wait_for_selector("text=Identifiant national")
    page.fill("#national_id", CLAIRE)
    page.screenshot(path=str(ARTIFACTS / "psc-ecps.png"), full_page=True)
    clicks.click("button:has-text('Valider sur mon e-CPS')")
    # First PSC login of this account: its password once (SC.PSC.02).
    page.wait_for_selector("text=Rapprocher votre compte")
    page.fill("#username", "medecin")
    page.fill("#password", PASSWORD)
    clicks.click("button:has-text('Rapprocher et se connecter')")
    # Two activities in PSC's userinfo: she picks the centre de santé.
    page.wait_for_selector("text=Pour quelle activité vous connectez-vous ?")
    page.screenshot(path=str(ARTIFACTS / "psc-situation.png"), full_page=True)
    clicks.click("label:has-text('Centre de santé Jean Moulin')")
    clicks.click("button:has-text('Continuer')")
    page.wait_for_selector("text=Écrire (MSSanté)")
    assert page.url.endswith(f"/patients/{patient.pk}/")  # back where she asked to go
    assert "Centre de santé Jean Moulin" in page.inner_text(".topbar")
    page.screenshot(path=str(ARTIFACTS / "psc-chart.png"), full_page=True)
    session = PscSession.objects.get(user=doctor)
    assert "Centre de santé Jean Moulin" in session.work_situation["label"]

    clicks.click("a:has-text('Écrire (MSSanté)')")
    page.check(f"input[value='{B_BOX}']")
    page.fill("#corps", "Cher confrère, je vous adresse notre patiente commune.")
    clicks.click("button[name=envoyer]")
    page.wait_for_selector("text=Message mis en envoi")

    # The worker sends from her PER mailbox with her PSC access token (XOAUTH2), not the operator's own token.
    assert run_worker(until_idle=True).sent == 1
    assert OutboundMessage.objects.get().state in ("sent", "delivered")
    smtp_logins = [e for e in psc_and_mss.auth_log() if e["protocol"] == "smtp" and e["user"] == A_BOX]
    assert smtp_logins and smtp_logins[-1]["ok"]
    assert smtp_logins[-1]["mechanism"] == "XOAUTH2"
    assert smtp_logins[-1]["token_issuer"] == "psc" and smtp_logins[-1]["subject"] == CLAIRE

    # PSC ends the session (4 h, or at PSC): the next refresh fails, Caducée logs her out.
    psc_sandbox.expire_session()
    PscSession.objects.filter(pk=session.pk).update(refreshed_at=session.started_at.replace(year=2000))
    page.goto(f"{page.base_url}/patients/{patient.pk}/")
    page.wait_for_selector("text=Votre session Pro Santé Connect a pris fin")
    assert "/connexion/" in page.url
    session.refresh_from_db()
    assert session.ended_at is not None
    assert page.console_errors == []
    # login link, e-CPS approval, link the account, pick the situation, Continuer, Écrire, Envoyer
    assert clicks.count == 7
