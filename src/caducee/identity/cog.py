"""Birthplaces by name (issue 13 §1): the Code officiel géographique (COG) of INSEE, searched by name, stored as a code.

R1/R5/R6 of the INS implementation guide: the identity keeps the « code lieu de naissance » (COG, 5 characters;
99999 when unknown — R5's note; 99xxx for a country abroad); R26: it is read-only once the identity is qualified.
This module loads the places (INSEE's public CSV files, or the demo table built by scripts/build_cog_table.py),
searches them by accent-insensitive prefix, and turns what was typed in the form into a code.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.db import transaction

from caducee.core.text import search_key, strip_accents
from caducee.identity.models import UNKNOWN_BIRTHPLACE, CogPlace

DEMO_TABLE = Path(__file__).resolve().parent / "data" / "cog_demo.tsv.gz"
COG_RE = re.compile(r"^(?:[0-9]{2}|2[AB])[0-9]{3}$")
# A code at the end of what was typed: « Lyon (69) — 69123 », « Italie (99127) ».
_TRAILING_CODE = re.compile(r"[\s(—–-]((?:[0-9]{2}|2[AB])[0-9]{3})\)?\s*$")
# « Saint-Denis (93) », « Saint-Denis 974 »: a department after the name.
_TRAILING_DEPT = re.compile(r"^(.*?)[\s(]+([0-9]{2,3}|2[AB])\)?\s*$")
_SAINT = re.compile(r"\b(STE|ST)\b")
_KIND_ORDER = {"COM": 0, "ARM": 1, "PAYS": 2, "COMD": 3, "COMA": 4, "ANC": 5}


class BirthplaceError(ValueError):
    """What was typed is no known place, or several: the French reason for the form."""


def place_key(name: str) -> str:
    """R17's normalisation, « St »/« Ste » read as « Saint »/« Sainte » (« st denis » finds Saint-Denis)."""
    words = re.sub(r"[\-'’.]+", " ", strip_accents(name).upper())
    words = _SAINT.sub(lambda m: "SAINTE" if m.group(1) == "STE" else "SAINT", words)
    return search_key(words)


def place_label(place: CogPlace) -> str:
    """What the list shows and the field keeps: « Lyon (69) — 69123 », « Italie (99127) »."""
    if place.kind == CogPlace.Kind.COUNTRY:
        return f"{place.name} ({place.code})"
    extra = "" if place.kind in (CogPlace.Kind.COMMUNE, CogPlace.Kind.ARRONDISSEMENT) else ", ancienne commune"
    return f"{place.name} ({place.department}{extra}) — {place.code}"


@dataclass(frozen=True)
class Row:
    code: str
    kind: str
    name: str
    department: str = ""
    parent_code: str = ""
    valid_until: date | None = None


def places_search(query: str, *, limit: int = 15) -> list[CogPlace]:
    """Prefix search by name, accent-insensitive; current communes first, then arrondissements, countries and
    historic communes; an exact name before longer ones."""
    dept = ""
    if m := _TRAILING_DEPT.match(query.strip()):
        query, dept = m.group(1), m.group(2)
    key = place_key(query)
    if len(key) < 2:
        return []
    qs = CogPlace.objects.filter(key__startswith=key)
    if dept:
        qs = qs.filter(department=dept)
    found = list(qs[:400])
    found.sort(key=lambda p: (p.key != key, _KIND_ORDER.get(p.kind, 9), p.key, p.department, p.code))
    return found[:limit]


def resolve_birthplace(typed: str) -> str:
    """The COG code for what was typed in the birthplace field. Empty → 99999 (R5: unknown). A code (alone or at the
    end of a label from the list) is taken as typed — so a code outside the loaded table still works; a name must
    designate one place (« Lyon » → 69123; « Saint-Denis » asks for the department)."""
    text = " ".join((typed or "").split())
    if not text:
        return UNKNOWN_BIRTHPLACE
    if COG_RE.match(text.upper()):
        return text.upper()
    if m := _TRAILING_CODE.search(text.upper()):
        return m.group(1)
    places = places_search(text, limit=400)
    dept = m.group(2) if (m := _TRAILING_DEPT.match(text)) else ""
    key = place_key(m.group(1) if dept and m else text)
    exact = [p for p in places if p.key == key]
    # No exact name: a beginning that designates one place only (« Lyon 3e », « Ital »).
    current = [p for p in exact if p.kind in (CogPlace.Kind.COMMUNE, CogPlace.Kind.COUNTRY)] or exact or places
    codes = sorted({p.code for p in current})
    if len(codes) == 1:
        place = current[0]
        if place.kind == CogPlace.Kind.COMMUNE and _has_arrondissements(place.code):
            # Paris, Lyon, Marseille: the RNIPP (hence INSi, R6) records the arrondissement of birth, which the
            # identity document shows (« Lyon 3e »); the commune's code stays possible when it is unknown.
            raise BirthplaceError(
                f"« {text} » : précisez l'arrondissement de naissance, indiqué sur la pièce d'identité "
                f"(par exemple « {place.name} 1er Arrondissement ») ; s'il est inconnu, choisissez "
                f"« {place_label(place)} »"
            )
        return codes[0]
    if len(codes) > 1:
        where = ", ".join(f"{p.department or p.code}" for p in current[:6])
        raise BirthplaceError(
            f"plusieurs lieux s'appellent « {text} » ({where}) : choisissez dans la liste "
            f"ou précisez le département, par exemple « {current[0].name} ({current[0].department}) »"
        )
    if not CogPlace.objects.exists():
        raise BirthplaceError("la table des communes n'est pas chargée (caducee import-cog) : saisissez le code COG")
    raise BirthplaceError(
        f"« {text} » : aucune commune ni aucun pays de ce nom ; choisissez dans la liste, "
        "saisissez le code COG (99xxx à l'étranger) ou laissez vide (99999, inconnu)"
    )


def _has_arrondissements(code: str) -> bool:
    return CogPlace.objects.filter(kind=CogPlace.Kind.ARRONDISSEMENT, parent_code=code).exists()


# --- loading -------------------------------------------------------------------------------------------------------


def _demo_rows() -> Iterator[Row]:
    with gzip.open(DEMO_TABLE, "rt", encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            yield Row(r["code"], r["kind"], r["name"], r["department"], r["parent_code"])


def _date(value: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    if "/" in value:  # 01/01/2016
        d, m, y = value.split("/")
        return date(int(y), int(m), int(d))
    return date.fromisoformat(value[:10])


def _dept(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]


def rows_from_insee(name: str, text: str) -> Iterator[Row]:
    """Rows of one of INSEE's COG CSV files, recognised by its header: v_commune_AAAA (TYPECOM, COM, DEP, LIBELLE,
    COMPARENT), v_commune_depuis_1943 (COM, LIBELLE, DATE_DEBUT, DATE_FIN) or v_pays (COG, ACTUAL, LIBCOG)."""
    sample = text[:2000]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    fields = {f.upper() for f in reader.fieldnames or []}
    kinds = {"COM": "COM", "ARM": "ARM", "COMD": "COMD", "COMA": "COMA"}
    for raw in reader:
        r = {k.upper(): (v or "").strip() for k, v in raw.items() if k}
        if {"COG", "LIBCOG"} <= fields:  # v_pays: ACTUAL 1 = current country (2 = former, 3 = territory)
            if COG_RE.match(r["COG"]) and r.get("ACTUAL", "1") in ("1", "2", "3", "4"):
                yield Row(r["COG"], "PAYS", r.get("LIBENR") or r["LIBCOG"])
        elif "TYPECOM" in fields and "DATE_FIN" not in fields:
            kind = kinds.get(r["TYPECOM"])
            if kind:
                yield Row(r["COM"], kind, r["LIBELLE"], r.get("DEP") or _dept(r["COM"]), r.get("COMPARENT", ""))
        elif {"COM", "LIBELLE", "DATE_FIN"} <= fields:  # the history: names that ended are former communes
            if r["DATE_FIN"] and r.get("TYPECOM", "COM") in ("COM", ""):
                yield Row(r["COM"], "ANC", r["LIBELLE"], _dept(r["COM"]), "", _date(r["DATE_FIN"]))
        else:
            raise BirthplaceError(f"{name} : fichier COG non reconnu (colonnes {', '.join(sorted(fields))})")


def places_import(*, rows: Iterable[Row]) -> dict[str, int]:
    """Load places; idempotent (a place already there — same code, kind and name — is updated, not doubled)."""
    seen: dict[tuple[str, str, str], Row] = {}
    for row in rows:
        seen[(row.code, row.kind, row.name)] = row
    existing = {(p.code, p.kind, p.name): p for p in CogPlace.objects.all()}
    new, changed = [], []
    for k, row in seen.items():
        values = {
            "key": place_key(row.name)[:200],
            "department": row.department,
            "parent_code": row.parent_code,
            "valid_until": row.valid_until,
        }
        if place := existing.get(k):
            if any(getattr(place, f) != v for f, v in values.items()):
                for f, v in values.items():
                    setattr(place, f, v)
                changed.append(place)
        else:
            new.append(CogPlace(code=row.code, kind=row.kind, name=row.name[:200], **values))
    with transaction.atomic():
        CogPlace.objects.bulk_create(new, batch_size=2000)
        CogPlace.objects.bulk_update(changed, ["key", "department", "parent_code", "valid_until"], batch_size=2000)
    return {"created": len(new), "updated": len(changed), "total": CogPlace.objects.count()}


def import_demo_places() -> dict[str, int]:
    return places_import(rows=_demo_rows())


def ensure_demo_places() -> None:
    """The demo loads the table once (seed-demo)."""
    if not CogPlace.objects.exists():
        import_demo_places()
