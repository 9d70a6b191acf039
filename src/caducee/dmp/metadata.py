"""Values of the XDS metadata the DMP returns (pure): DTM dates, XCN authors, XON institutions."""

from __future__ import annotations

import datetime as dt


def xds_datetime(value: str) -> dt.datetime | None:
    """An XDS DTM (UTC, YYYY[MM[DD[HH[MM[SS]]]]]) as an aware datetime, None when empty or unreadable."""
    digits = (value or "").strip()[:14]
    if len(digits) < 4 or not digits.isdigit():
        return None
    padded = digits + "0101000000"[len(digits) - 4 :] if len(digits) < 14 else digits
    try:
        return dt.datetime.strptime(padded[:14], "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def xds_dtm(moment: dt.datetime) -> str:
    """An aware datetime as an XDS DTM (UTC, YYYYMMDDHHMMSS)."""
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


def author_label(xcn: str) -> str:
    """An XCN author (`id^FAMILY^Given^…`) as "Given FAMILY" (its id when it has no name)."""
    parts = xcn.split("^")
    family = parts[1] if len(parts) > 1 else ""
    given = parts[2] if len(parts) > 2 else ""
    return " ".join(p for p in (given, family) if p) or (parts[0] if parts else "")


def institution_label(xon: str) -> str:
    """An XON institution (`Name^…`) as its name."""
    return xon.split("^", 1)[0]
