"""The matricule INS (NIR or NIA): 13 characters + a 2-digit key.

Key = 97 − (n mod 97) with 2A→19 and 2B→18 for Corsica (CNAM nir-validation, NirKey).
The number alone does not tell a NIR from a NIA: the assigning authority's OID does
(1.2.250.1.213.1.4.8 NIR, .9 NIA, .10 test NIR, .11 demo NIR).
Never derive traits (sex, birth date, place) from it: they may differ from civil status.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from caducee.core.oids import OID_INS_NIA, OID_INS_NIR, OID_INS_NIR_DEMO, OID_INS_NIR_TEST

# sex 1|2, year, month 01-12 or 20-99 (unknown month, INSEE), department 01-99|2A|2B, commune, order, key.
_STRUCTURE = re.compile(
    r"^(?P<sex>[12])(?P<year>\d{2})(?P<month>0[1-9]|1[0-2]|[2-9]\d)"
    r"(?P<dept>\d{2}|2[AB])(?P<commune>\d{3})(?P<order>\d{3})(?P<key>\d{2})$"
)

OID_LABELS = {
    OID_INS_NIR: "NIR",
    OID_INS_NIA: "NIA",
    OID_INS_NIR_TEST: "NIR de test",
    OID_INS_NIR_DEMO: "NIR de démonstration",
}


class MatriculeError(ValueError):
    """A matricule that cannot be an INS; the message says why, in French."""


@dataclass(frozen=True)
class Matricule:
    number: str  # 13 characters
    key: str  # 2 digits

    @property
    def value(self) -> str:
        return self.number + self.key

    @property
    def unknown_birth_month(self) -> bool:
        return int(self.number[3:5]) >= 20

    def formatted(self) -> str:
        n = self.number
        return f"{n[0]} {n[1:3]} {n[3:5]} {n[5:7]} {n[7:10]} {n[10:13]} {self.key}"


def compute_key(number: str) -> str:
    """The 2-digit key of a 13-character matricule."""
    digits = number.upper().replace("2A", "19").replace("2B", "18")
    if len(digits) != 13 or not digits.isdigit():
        raise MatriculeError("Le matricule doit compter 13 caractères avant la clé.")
    return f"{97 - int(digits) % 97:02d}"


def clean(raw: str) -> str:
    """Remove the spaces (and dots) people type between groups: "2 97 02 2A 020 778 78"."""
    return re.sub(r"[\s.]", "", raw).upper()


def parse_matricule(raw: str) -> Matricule:
    """Validate a full 15-character matricule INS (R17: all 15 characters and a valid key)."""
    value = clean(raw)
    if len(value) != 15:
        raise MatriculeError(f"Le matricule INS compte 15 caractères (13 + clé de 2 chiffres) : {len(value)} saisis.")
    match = _STRUCTURE.match(value)
    if not match:
        raise MatriculeError(_structure_problem(value))
    expected = compute_key(value[:13])
    if match["key"] != expected:
        raise MatriculeError(f"Clé de contrôle incorrecte : {match['key']} saisie, {expected} attendue.")
    return Matricule(number=value[:13], key=match["key"])


def _structure_problem(value: str) -> str:
    if value[0] not in "12":
        return "Le premier caractère (sexe) doit être 1 ou 2 : ce numéro n'est pas un matricule INS."
    if not re.fullmatch(r"\d{2}", value[3:5]) or not (1 <= int(value[3:5]) <= 12 or int(value[3:5]) >= 20):
        return "Mois de naissance invalide (01 à 12, ou 20 à 99 si inconnu)."
    if not re.fullmatch(r"\d{2}|2[AB]", value[5:7]) or value[5:7] == "00":
        return "Département de naissance invalide (01 à 99, 2A ou 2B)."
    if not value[7:].isdigit():
        return "Seuls des chiffres sont admis après le département."
    return "Structure du matricule INS invalide."


def nature(oid: str) -> str:
    """NIR or NIA, from the OID of the assigning authority."""
    return OID_LABELS.get(oid, "inconnue")
