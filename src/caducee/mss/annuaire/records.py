"""One directory mailbox, whatever its source (public extraction or FHIR API), and its normalised search keys.

The keys follow INS rule R17's spirit for names (`caducee.core.text.search_key`: no accents, case, spaces, hyphens
or apostrophes), so "le gall", "Le-Gall" and "LEGALL" meet. They are plain [0-9A-Z] strings: a prefix becomes the
index-friendly range `key <= value < successor(key)` on SQLite and on PostgreSQL whatever the collation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from caducee.core.text import search_key, strip_accents
from caducee.mss.models import DirectoryEntry

KEY_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NEXT_CHAR = {c: KEY_ALPHABET[i + 1] for i, c in enumerate(KEY_ALPHABET[:-1])}
# "PARIS CEDEX 11", "LYON CEDEX 03": the CEDEX suffix is a postal routing detail, not part of the city.
_NOT_KEY_RE = re.compile(r"[^A-Z0-9]")
_CEDEX_RE = re.compile(r"\s+CEDEX\b.*$")
_MAX_LENGTH: dict[str, int] = {
    f.name: f.max_length for f in DirectoryEntry._meta.concrete_fields if isinstance(f.max_length, int)
}
# What a doctor types for a specialty → the stem found in the RPPS label (TRE_R38 / TRE_G15 wording).
_SPECIALTY_ALIASES = {
    "GENERALISTE": "GENERALE",
    "MG": "MEDECINEGENERALE",
    "KINE": "KINESITHERAPEUTE",
    "KINESITHERAPIE": "KINESITHERAPEUTE",
    "INFIRMIERE": "INFIRMIER",
}


@dataclass
class DirectoryRecord:
    """The values of one `DirectoryEntry` (mss/models.py), before the search keys are computed."""

    address: str
    kind: str = ""
    national_id: str = ""
    civility: str = ""
    family_name: str = ""
    given_name: str = ""
    profession_code: str = ""
    profession: str = ""
    specialty_code: str = ""
    specialty: str = ""
    organisation: str = ""
    service: str = ""
    address_line: str = ""
    postal_code: str = ""
    city: str = ""

    def model_values(self) -> dict[str, Any]:
        """Every model field but `source`/`imported_at`: cut to the column sizes, with the search keys.

        Hot path of the extraction import (~500,000 calls): no `asdict`, keys of repeated values cached."""
        values = dict(self.__dict__)
        for name, value in values.items():
            if len(value) > _MAX_LENGTH.get(name, 1000):
                values[name] = value[: _MAX_LENGTH[name]]
        values["address"] = values["address"].lower()
        values["search_name"] = _cut("search_name", name_key(self.family_name, self.given_name, self.organisation))
        values["search_city"] = _cut("search_city", city_key(self.city))
        values["search_specialty"] = _cut("search_specialty", specialty_key(self.specialty, self.profession))
        return values


def _cut(name: str, value: str) -> str:
    limit = _MAX_LENGTH.get(name)
    return value[:limit] if limit else value


@lru_cache(maxsize=100_000)
def part_key(text: str) -> str:
    """`search_key` of one value, cached: surnames, given names, cities and labels repeat a lot in the directory."""
    if text.isascii():
        return _NOT_KEY_RE.sub("", text.upper())
    return search_key(text)


def name_key(family_name: str, given_name: str = "", organisation: str = "") -> str:
    """ "NOM PRENOM STRUCTURE" as one key: a person is found by the start of the nom d'exercice, a structure's
    mailbox (no person) by the start of its raison sociale."""
    return part_key(family_name) + part_key(given_name) + part_key(organisation)


@lru_cache(maxsize=20_000)
def city_key(city: str) -> str:
    return search_key(_CEDEX_RE.sub("", strip_accents(city).upper().strip()))


@lru_cache(maxsize=20_000)
def specialty_key(specialty: str, profession: str = "") -> str:
    """Specialty and profession keys separated by a space: a `contains` filter never matches across the two."""
    return " ".join(k for k in (search_key(specialty), search_key(profession)) if k)


def specialty_query_key(text: str) -> str:
    """The key of a typed specialty: "cardiologue" → CARDIOLOG (finds "Cardiologie…"), "kiné" → KINESITHERAPEUTE."""
    key = search_key(text)
    if key in _SPECIALTY_ALIASES:
        return _SPECIALTY_ALIASES[key]
    for suffix, stem in (("LOGUE", "LOG"), ("LOGIE", "LOG"), ("IATRE", "IATRI")):
        if key.endswith(suffix) and len(key) > len(suffix) + 2:
            return key[: -len(suffix)] + stem
    return key


def successor(key: str) -> str | None:
    """The smallest [0-9A-Z] string greater than every string starting with `key` (None: no upper bound)."""
    stripped = key.rstrip("Z")
    if not stripped:
        return None
    return stripped[:-1] + _NEXT_CHAR[stripped[-1]]
