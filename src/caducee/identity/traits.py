"""Input of identity traits: normalisation and checks before anything is saved (R1, R5, RNIV)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date

from django.utils import timezone

from caducee.core.inputs import model_max_length, too_long
from caducee.core.text import is_insi_compatible, normalize_trait
from caducee.identity.cog import BirthplaceError, resolve_birthplace
from caducee.identity.models import UNKNOWN_BIRTHPLACE, Identity, Sex

STRICT_TRAITS = ("birth_name", "birth_given_names", "first_given_name", "birth_date", "sex", "birthplace_cog")
COMPLEMENTARY_TRAITS = ("used_name", "used_given_name")
TRAIT_LABELS = {
    "birth_name": "Nom de naissance",
    "birth_given_names": "Prénom(s) de naissance",
    "first_given_name": "Premier prénom de naissance",
    "birth_date": "Date de naissance",
    "sex": "Sexe",
    "birthplace_cog": "Lieu de naissance (COG)",
    "used_name": "Nom utilisé",
    "used_given_name": "Prénom utilisé",
}
_COG_RE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


class TraitsError(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{TRAIT_LABELS.get(k, k)} : {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class Traits:
    birth_name: str
    first_given_name: str
    birth_date: str  # YYYY-MM-DD, 00 allowed for an unknown month/day
    sex: str
    birthplace_cog: str = UNKNOWN_BIRTHPLACE
    birth_given_names: str = ""
    used_name: str = ""
    used_given_name: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str]:
        data = asdict(self)
        data.pop("extra")
        return data


def parse_birth_date(raw: str) -> str:
    """Accept JJ/MM/AAAA or AAAA-MM-JJ; 00 for an unknown day or month (RNIV). Return AAAA-MM-JJ."""
    value = raw.strip()
    if m := re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", value):
        day, month, year = m.groups()
    elif m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value):
        year, month, day = m.groups()
    else:
        raise ValueError("format attendu JJ/MM/AAAA")
    y, mo, d = int(year), int(month), int(day)
    if mo == 0 and d != 0:
        raise ValueError("jour connu mais mois inconnu : impossible")
    if y < 1850:
        raise ValueError("année invalide")
    if mo and d:
        try:
            real = date(y, mo, d)
        except ValueError as exc:
            raise ValueError("date inexistante") from exc
        if real > timezone.localdate():
            raise ValueError("date dans le futur")
    elif mo > 12:
        raise ValueError("mois invalide")
    elif y > timezone.localdate().year:
        raise ValueError("date dans le futur")
    return f"{y:04d}-{mo:02d}-{d:02d}"


def _name(value: str, errors: dict[str, str], key: str, *, required: bool) -> str:
    normalized = normalize_trait(value or "")
    if not normalized:
        if required:
            errors[key] = "obligatoire"
        return ""
    if not is_insi_compatible(normalized):
        errors[key] = "lettres, espace, apostrophe et tiret uniquement"
    # Issue 13 §4: the column's length (a 101-letter name was a 500 on PostgreSQL, stored whole on SQLite).
    elif message := too_long(normalized, model_max_length(Identity, key)):
        errors[key] = message
    return normalized


def clean_traits(raw: dict[str, str]) -> Traits:
    """R5: only nom de naissance, premier prénom, date de naissance, sexe and lieu de naissance are required
    (the lieu may be 99999, unknown). Names are stored upper-case without diacritics (RNIV)."""
    errors: dict[str, str] = {}
    birth_name = _name(raw.get("birth_name", ""), errors, "birth_name", required=True)
    given_list = _name(raw.get("birth_given_names", ""), errors, "birth_given_names", required=False)
    first = _name(raw.get("first_given_name", ""), errors, "first_given_name", required=True)
    if not first and given_list:
        first = given_list.split()[0]
        errors.pop("first_given_name", None)
    if first and given_list and given_list.split()[0] != first:
        errors["first_given_name"] = "doit être le premier des prénoms de naissance"
    used_name = _name(raw.get("used_name", ""), errors, "used_name", required=False)
    used_given = _name(raw.get("used_given_name", ""), errors, "used_given_name", required=False)
    try:
        birth_date = parse_birth_date(raw.get("birth_date", ""))
    except ValueError as exc:
        errors["birth_date"] = str(exc) if raw.get("birth_date") else "obligatoire"
        birth_date = ""
    sex = (raw.get("sex") or "").strip().upper()
    if sex not in Sex.values:
        errors["sex"] = "M, F ou I"
    try:  # issue 13 §1: a commune or country by name (the COG), or its code; empty = 99999 (R5)
        cog = resolve_birthplace(raw.get("birthplace_cog") or "")
    except BirthplaceError as exc:
        errors["birthplace_cog"] = str(exc)
        cog = UNKNOWN_BIRTHPLACE
    if errors:
        raise TraitsError(errors)
    return Traits(
        birth_name=birth_name,
        first_given_name=first,
        birth_given_names=given_list or first,
        birth_date=birth_date,
        sex=sex,
        birthplace_cog=cog,
        used_name=used_name,
        used_given_name=used_given,
    )
