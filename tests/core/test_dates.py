"""One French date formatter (core/dates.py, issue 12 §3)."""

from __future__ import annotations

import datetime as dt

from caducee.core.dates import french_date, french_datetime


def test_dates_of_every_kind() -> None:
    assert french_date(dt.date(2026, 12, 7)) == "07/12/2026"
    assert french_date(dt.date(987, 1, 2)) == "02/01/0987"
    assert french_date("1997-02-26") == "26/02/1997"
    assert french_date("1997-00-00") == "00/00/1997"  # RNIV: unknown day and month kept as 00
    assert french_date("1997") == "1997"
    assert french_date(None) == french_date("") == ""


def test_aware_datetimes_are_shown_in_local_time(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TIME_ZONE = "Europe/Paris"
    late = dt.datetime(2026, 12, 7, 23, 30, tzinfo=dt.UTC)  # already the 8th in Paris
    assert french_date(late) == "08/12/2026"
    assert french_datetime(late) == "08/12/2026 à 00:30"
    assert french_datetime(None) == ""
