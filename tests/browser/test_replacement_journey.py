"""Remplacement (issue 6), in the browser: the doctor opens the replacement from the top bar in three clicks, the
remplaçant's top bar shows « Remplacement du Dr … », the doctor ends it on return."""

from __future__ import annotations

import pytest

from caducee.accounts.models import Replacement, Role, User
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_ins_journey import Clicks
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login(page, clicks: Clicks, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(page.base_url + "/connexion/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    clicks.click("button[type=submit]")
    page.wait_for_selector("header nav")


def test_doctor_opens_and_ends_a_replacement(browser_page, practice, doctor) -> None:  # type: ignore[no-untyped-def]
    doctor.first_name = "Jean"
    doctor.save()
    remplacant = User.objects.create_user(
        username="remplacant", password=PASSWORD, role=Role.REMPLACANT, first_name="Paul", last_name="REMPLACANT"
    )
    page = browser_page
    clicks = Clicks(page)
    _login(page, clicks, "medecin")
    clicks.count = 0
    clicks.click("header nav a:has-text('Remplacement')")
    page.select_option("#remplacant", str(remplacant.pk))
    clicks.click("button:has-text('Ouvrir le remplacement')")
    page.wait_for_selector("text=Remplacement ouvert")
    assert clicks.count == 2  # the menu entry, « Ouvrir le remplacement » (plus choosing the remplaçant)
    page.screenshot(path=str(ARTIFACTS / "replacement-doctor.png"), full_page=True)
    replacement = Replacement.objects.get()
    assert (replacement.replaced_id, replacement.remplacant_id) == (doctor.pk, remplacant.pk)

    page.context.clear_cookies()
    _login(page, clicks, "remplacant")
    banner = page.locator(".replacement-banner")
    assert "Remplacement du Dr Jean MEDECIN" in banner.inner_text()
    page.screenshot(path=str(ARTIFACTS / "replacement-remplacant.png"), full_page=True)

    page.context.clear_cookies()
    _login(page, clicks, "medecin")
    page.click("header nav a:has-text('Remplacement')")
    page.click("button:has-text('Fin du remplacement')")
    page.wait_for_selector("text=Fin du remplacement de Dr Paul REMPLACANT.")
    replacement.refresh_from_db()
    assert replacement.closed_by_id == doctor.pk
    assert page.console_errors == []
