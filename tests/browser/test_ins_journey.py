"""The INS journey of issue 2 §5, as a new secretary lives it, in a real browser against the INSi sandbox.

Login → search (not found) → new patient without carte Vitale → PROV (red) → Interroger INSi → INSi's
traits beside the local ones → accept → RECUP (blue) → check a high-trust document → QUAL (green).
Every click is counted (docs/journeys.md).
"""

from __future__ import annotations

import pytest

from caducee.identity.models import Identity, InsiCall, Status
from tests.browser.conftest import ARTIFACTS
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Clicks:
    def __init__(self, page) -> None:  # type: ignore[no-untyped-def]
        self.page, self.count = page, 0

    def click(self, selector: str) -> None:
        self.page.click(selector)
        self.count += 1


def _login(page, clicks: Clicks) -> None:  # type: ignore[no-untyped-def]
    page.goto(page.base_url + "/")
    page.fill("#username", "secretaire")
    page.fill("#password", PASSWORD)
    clicks.click("button[type=submit]")
    page.wait_for_url(page.base_url + "/")


def _pastille(page) -> str:  # type: ignore[no-untyped-def]
    return page.get_attribute(".banner .pastille", "class") or ""


def test_secretary_qualifies_an_identity(browser_page, insi_sandbox, practice, secretary) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    clicks = Clicks(page)
    _login(page, clicks)

    # R17 anteriority search first: nobody born that day with those letters.
    page.fill("#q", "26/02/1997 adr")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Aucun patient trouvé")

    clicks.click("text=Nouveau patient >> nth=0")
    clicks.click("text=Sans carte Vitale")
    page.fill("#f-birth_name", "Adrtrois")
    page.fill("#f-first_given_name", "Dominique")
    page.fill("#f-birth_date", "26/02/1997")
    page.select_option("#f-sex", "F")
    page.fill("#f-birthplace_cog", "2A020")
    clicks.click("button:has-text('Enregistrer')")

    # R3 + R24: the banner shows the traits and a red pastille, without a click.
    page.wait_for_selector(".banner")
    assert "pastille-prov" in _pastille(page)
    assert page.inner_text(".banner .birth-name") == "ADRTROIS"
    assert "Interroger le téléservice INSi" in page.inner_text(".remaining")

    clicks.click("button:has-text('Interroger INSi')")
    page.wait_for_selector("[data-testid=insi-outcome]")
    assert "Identité trouvée" in page.inner_text("[data-testid=insi-outcome]")
    assert "297022A020778 78" in page.content()
    clicks.click('button:has-text("Accepter l\'identité INSi")')

    page.wait_for_selector(".banner .pastille-recup")
    assert page.inner_text("[data-testid=identity-status]") == "Identité récupérée"

    page.select_option("#document", "CN")
    clicks.click("input[name=checked]")
    clicks.click('button:has-text("Valider l\'identité")')
    page.wait_for_selector(".banner .pastille-qual")
    assert page.inner_text("[data-testid=identity-status]") == "Identité qualifiée"
    assert "297022A02077878" in page.inner_text("[data-testid=ins]")
    page.screenshot(path=str(ARTIFACTS / "ins-journey-qual.png"), full_page=True)

    # The whole journey, login included, in 8 clicks (docs/journeys.md).
    assert clicks.count == 8
    assert page.console_errors == []

    identity = Identity.objects.get(birth_name="ADRTROIS")
    assert identity.status == Status.QUAL and identity.from_sandbox
    assert InsiCall.objects.filter(identity=identity, outcome="00").count() == 1


def test_new_patient_from_the_carte_vitale(browser_page, insi_sandbox, practice, secretary) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    clicks = Clicks(page)
    _login(page, clicks)
    clicks.click("text=Nouveau patient >> nth=0")
    clicks.click("text=Avec carte Vitale")
    clicks.click("text=FONTAINE LOUIS")
    # Mandatory traits come pre-filled from the card; only the birthplace is missing.
    assert page.input_value("#f-birth_name") == "FONTAINE"
    assert page.input_value("#f-birth_date") == "11/03/2015"
    clicks.click("button:has-text('Enregistrer')")
    page.wait_for_selector(".banner .pastille-prov")
    clicks.click("button:has-text('Interroger INSi')")
    page.wait_for_selector("[data-testid=insi-outcome]")
    page.screenshot(path=str(ARTIFACTS / "ins-insi-compare.png"), full_page=True)
    clicks.click('button:has-text("Accepter l\'identité INSi")')
    page.wait_for_selector(".banner .pastille-recup")
    # Twins on their mother's card: the rang de naissance (2) picks LOUIS, not JULES.
    assert "115033306361241" in page.inner_text("[data-testid=ins]")
    assert clicks.count == 7
    assert InsiCall.objects.get(identity__first_given_name="LOUIS").operation == "vitale"
