"""French dates for people (issue 12 §3: one formatter instead of three): « 07/12/2026 », « 07/12/2026 à 14:05 »."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def french_date(value: dt.date | dt.datetime | str | None) -> str:
    """JJ/MM/AAAA. A datetime is shown in local time; an ISO text AAAA-MM-JJ keeps its 00 for an unknown day or
    month (RNIV: date de naissance partiellement inconnue) and is returned as it is when it is not a full date."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        year, month, day = [*value.split("-"), "", ""][:3]
        return f"{day}/{month}/{year}" if day else value
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"


def french_datetime(value: dt.datetime | None) -> str:
    """JJ/MM/AAAA à HH:MM, in local time ("" for None)."""
    if value is None:
        return ""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{french_date(local.date())} à {local:%H:%M}"
