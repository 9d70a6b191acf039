"""Issue 5 acceptance in a browser: dr A sends a VSM to dr B through the sandbox operator (STARTTLS + XOAUTH2);
B's inbox takes it in by IMAP and files it in the right chart by itself (qualified INS + four traits, UX.07); A sees
the message "remis" (DSN) then "lu" (B's read receipt, MDN displayed). Clicks counted (docs/journeys.md)."""

# ruff: noqa: F811 — pytest fixtures imported by name and used as arguments
from __future__ import annotations

import time
from typing import Any

import pytest

from caducee.accounts.models import Role, User
from caducee.core.outbox import run_worker
from caducee.documents.models import Document
from caducee.documents.production import vsm_create
from caducee.mss.models import Mailbox, MailboxKind, OutboundMessage, ReceivedDocument
from caducee.mss.sync import sync_mailbox
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_ins_journey import Clicks
from tests.conftest import PASSWORD
from tests.documents.cda_records import qualify
from tests.sandbox.mss_fixtures import mss_operator, mss_pki, mss_sandbox  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

A_BOX, B_BOX = "claire.martin@test.mssante.fr", "hugo.bernard@test.mssante.fr"


def _until(condition: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _login(page: Any, clicks: Clicks, username: str) -> None:
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    clicks.click("button[type=submit]")


def test_a_vsm_from_doctor_a_is_filed_in_doctor_bs_chart_and_a_sees_remis_then_lu(
    mss_operator, browser_page, practice, doctor, make_patient
) -> None:  # type: ignore[no-untyped-def]
    colleague = User.objects.create_user(
        username="collegue", password=PASSWORD, role=Role.MEDECIN, first_name="Hugo", last_name="BERNARD"
    )
    a_box = Mailbox.objects.create(address=A_BOX, kind=MailboxKind.PER, owner=doctor, display_name="MARTIN Claire")
    b_box = Mailbox.objects.create(address=B_BOX, kind=MailboxKind.PER, owner=colleague, display_name="BERNARD Hugo")
    patient = qualify(make_patient())
    patient.medecin_traitant = colleague  # B is proposed as the médecin traitant
    patient.save(update_fields=["medecin_traitant"])
    vsm = vsm_create(actor=doctor, patient=patient)

    page = browser_page
    clicks = Clicks(page)
    page.goto(f"{page.base_url}/documents/{vsm.pk}/")
    _login(page, clicks, "medecin")
    clicks.click("a:has-text('Envoyer par messagerie')")
    # Proposed, not pre-ticked: a VSM is not in the arrêté of 26 April 2022's list (a letter would be pre-ticked).
    assert not page.is_checked(f"input[value='{B_BOX}']")
    clicks.click(f"input[value='{B_BOX}']")
    page.fill("#corps", "Cher confrère, voici la synthèse de notre patiente.")
    page.screenshot(path=str(ARTIFACTS / "mss-compose.png"), full_page=True)
    clicks.click("button[name=envoyer]")
    page.wait_for_selector("text=Message mis en envoi")
    sent = OutboundMessage.objects.get()
    assert list(sent.documents.all()) == [vsm] and sent.subject.startswith("XDM/1.0/DDM+")

    # The worker submits it (STARTTLS + XOAUTH2); the operator delivers it and returns a DSN to A.
    assert run_worker(until_idle=True).sent == 1
    _until(lambda: sync_mailbox(a_box).fetched or OutboundMessage.objects.get().state == "delivered", "no DSN")
    sent.refresh_from_db()
    assert sent.state == OutboundMessage.State.DELIVERED
    clicks.click("a:has-text('Messagerie')")
    clicks.click("a:has-text('Envoyés')")
    assert page.inner_text("[data-testid=mss-state]") == "remis"
    page.screenshot(path=str(ARTIFACTS / "mss-sent-remis.png"), full_page=True)
    assert clicks.count == 6  # login, Envoyer par messagerie, tick B, Envoyer, Messagerie, Envoyés

    # B's inbox: taken in by UID, the document filed in the right chart by itself (strict QUAL match, UX.07).
    result = sync_mailbox(b_box)
    assert result.fetched == 1 and not result.error
    received = ReceivedDocument.objects.get()
    assert received.state == ReceivedDocument.State.FILED and received.patient == patient
    assert received.document == vsm  # our own document came back: filed where it already is, never twice
    assert Document.objects.filter(patient=patient).count() == 1

    page.click("button:has-text('Se déconnecter')")
    page.goto(f"{page.base_url}/messagerie/")
    _login(page, Clicks(page), "collegue")
    assert page.locator(".topbar .badge").inner_text() == "1"  # the unread counter
    page.click("tr.unread a")
    page.wait_for_selector("[data-testid=received-filed]")
    assert "dans le dossier de" in page.inner_text("[data-testid=received-filed]")
    assert "XDM/1.0/DDM+" not in page.content()
    page.screenshot(path=str(ARTIFACTS / "mss-received-filed.png"), full_page=True)

    # B's read receipt (and the automatic integration one) go back through the outbox; A's state ends at "lu".
    run_worker(until_idle=True)
    _until(
        lambda: sync_mailbox(a_box) is not None and OutboundMessage.objects.get().state == "read",
        "A's message never reached lu",
    )
    page.click("button:has-text('Se déconnecter')")
    page.goto(f"{page.base_url}/messagerie/envoyes/")
    _login(page, Clicks(page), "medecin")
    assert page.inner_text("[data-testid=mss-state]") == "lu"
    page.screenshot(path=str(ARTIFACTS / "mss-sent-lu.png"), full_page=True)
    assert page.console_errors == []
