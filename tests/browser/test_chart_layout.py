"""Issue 13 §2: the chart page has exactly one main heading (h1) and the top bar stays on one line on a 1024-px
screen, for the doctor (the longest menu) and the secretary. Failed before the fix: no h1 on the chart, and the
top bar wrapped onto two or three lines at 1024 px."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _check_chart_at_1024(page, patient, username: str) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(f"{page.base_url}/patients/{patient.pk}/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(".banner")
    page.screenshot(path=str(ARTIFACTS / f"chart-1024-{username}.png"), full_page=False)
    assert page.locator("h1").count() == 1
    assert "ADRTROIS" in page.locator("h1").inner_text()
    bar = page.locator("header.topbar").bounding_box()
    brand = page.locator("header.topbar .brand").bounding_box()
    assert bar is not None and brand is not None
    # One line: the bar is no taller than one line of its tallest item plus its padding.
    assert bar["height"] <= 56, bar
    # Nothing in the bar spills past the right edge (no horizontal scroll).
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    for item in page.locator("header.topbar a, header.topbar button").all():
        box = item.bounding_box()
        assert box is not None and abs(box["y"] + box["height"] / 2 - (brand["y"] + brand["height"] / 2)) < 8, (
            item.inner_text(),
            box,
            brand,
        )
    assert page.console_errors == []


def test_chart_heading_and_topbar_doctor(browser_page, make_patient, doctor) -> None:  # type: ignore[no-untyped-def]
    doctor.first_name, doctor.last_name = "Marie-Christine", "DE LA FONTAINE-BERNARD"
    doctor.save(update_fields=["first_name", "last_name"])
    patient = make_patient()
    _check_chart_at_1024(browser_page, patient, "medecin")


def test_chart_heading_and_topbar_secretary(browser_page, make_patient, secretary) -> None:  # type: ignore[no-untyped-def]
    secretary.first_name, secretary.last_name = "Anne-Sophie", "DUPONT-MOREAU"
    secretary.save(update_fields=["first_name", "last_name"])
    patient = make_patient()
    _check_chart_at_1024(browser_page, patient, "secretaire")
