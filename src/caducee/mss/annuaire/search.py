"""Instant offline search of the MSSanté directory (issue 5 §5, SC.MSS "Recherche destinataires").

Three letters of the name plus a city or a specialty find a correspondent among the ~500,000 mailboxes of the public
extraction in a few milliseconds (§9: < 30 ms). The name is matched as a prefix of `search_name` with an
index-friendly range (`search_name >= key AND search_name < successor(key)`, the same plan on SQLite and PostgreSQL,
no LIKE that a non-C collation could not index), walked in index order and cut at `limit`.

- City: the exact normalised city when the directory has it (`search_city = key`, so an index on
  (search_city, search_name) serves city + name in one seek), else a prefix of it ("saint-et"); digits are a
  postal code prefix.
- Specialty or profession: a substring of `search_specialty` ("cardio", "kiné", "généraliste"), turned into
  `search_specialty IN (…)` over the few hundred distinct values (cached for a minute), so an index on
  (search_specialty, search_name) serves it too; a rare specialty no longer means walking every name of the range.
"""

from __future__ import annotations

import threading
import time

from django.db.models import QuerySet

from caducee.core.text import search_key
from caducee.mss.annuaire.records import city_key, specialty_query_key, successor
from caducee.mss.models import DirectoryEntry

MIN_NAME_LETTERS = 3  # alone; two suffice with a city or a specialty (LY, NG, LI exist as names)
MAX_LIMIT = 200
SPECIALTY_CACHE_SECONDS = 60.0
MAX_SPECIALTY_VALUES = 200  # more matching values than this: a plain substring filter

_cache_lock = threading.Lock()
_specialty_cache: tuple[float, list[str]] | None = None


def forget_directory_cache() -> None:
    """Drop the cached specialty values (after an import or a FHIR save in this process)."""
    global _specialty_cache
    with _cache_lock:
        _specialty_cache = None


def specialty_values() -> list[str]:
    """The distinct `search_specialty` values of the directory (a few hundred), cached a minute."""
    global _specialty_cache
    now = time.monotonic()
    with _cache_lock:
        if _specialty_cache is not None and now - _specialty_cache[0] < SPECIALTY_CACHE_SECONDS:
            return _specialty_cache[1]
    values = sorted(
        v for v in DirectoryEntry.objects.order_by().values_list("search_specialty", flat=True).distinct() if v
    )
    with _cache_lock:
        _specialty_cache = (now, values)
    return values


def prefix_filter(queryset: QuerySet[DirectoryEntry], field: str, key: str) -> QuerySet[DirectoryEntry]:
    """`field` starts with `key`, as a range the field's B-tree index can serve."""
    upper = successor(key)
    queryset = queryset.filter(**{f"{field}__gte": key})
    return queryset.filter(**{f"{field}__lt": upper}) if upper is not None else queryset


def directory_query(query: str, *, city: str = "", specialty: str = "") -> QuerySet[DirectoryEntry] | None:
    """The ordered queryset of `directory_search`, or None when the query is too short to be useful."""
    key = search_key(query)
    city = city.strip()
    specialty_text = specialty.strip()
    needed = MIN_NAME_LETTERS - 1 if (city or specialty_text) else MIN_NAME_LETTERS
    if len(key) < needed:
        return None
    entries = prefix_filter(DirectoryEntry.objects.all(), "search_name", key)
    if city:
        digits = "".join(ch for ch in city if ch.isdigit())
        if digits and len(digits) == len(city.replace(" ", "")):
            entries = entries.filter(postal_code__startswith=digits)  # "69003", "69"
        elif town := city_key(city):
            if DirectoryEntry.objects.filter(search_city=town).exists():
                entries = entries.filter(search_city=town)
            else:
                entries = prefix_filter(entries, "search_city", town)
    if specialty_text and (wanted := specialty_query_key(specialty_text)):
        matching = [v for v in specialty_values() if wanted in v]
        if not matching:
            return entries.none()
        if len(matching) <= MAX_SPECIALTY_VALUES:
            entries = entries.filter(search_specialty__in=matching)
        else:
            entries = entries.filter(search_specialty__contains=wanted)
    return entries.order_by("search_name", "id")


def directory_search(query: str, *, city: str = "", specialty: str = "", limit: int = 20) -> list[DirectoryEntry]:
    """Directory entries whose name starts with `query` (accents, case, spaces and hyphens ignored), optionally in a
    city (name or postal code prefix) and with a specialty or profession; at most `limit`, by name."""
    entries = directory_query(query, city=city, specialty=specialty)
    if entries is None:
        return []
    found = list(entries[: max(1, min(limit, MAX_LIMIT))])
    # The key joins nom and prénom ("MARTINEZLUIS" < "MARTINPAUL"); within the page, show nom then prénom.
    found.sort(
        key=lambda e: (search_key(e.family_name) or e.search_name, search_key(e.given_name), e.search_name, e.pk)
    )
    return found
