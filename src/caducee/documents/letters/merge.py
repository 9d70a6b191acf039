"""Merge fields of letter templates: `{{patient.nom}}` and the like, substituted from a fixed whitelist.

The template text is written by users, so it is never given to Django's template engine (which would let a
template read any attribute reachable from the context, or load tags): each `{{ name }}` is looked up in a
dictionary of plain strings, in one pass, so a value that itself contains `{{…}}` is not expanded again. An
unknown name is an error that names it and lists the known ones: a letter never goes out with a hole in it.
The result is plain text; escaping is left to where it is shown (HTML page, PDF, CDA title).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.utils import timezone

from caducee.accounts.models import Practice, User
from caducee.accounts.replacement import signature_name
from caducee.core.dates import french_date
from caducee.patients.models import Patient

# Anything between `{{` and `}}` is a field reference, so `{{Patient.Nom}}` or `{{ patient.nom|upper }}` is
# reported as unknown instead of being printed as is.
FIELD = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

# The whitelist, in the order shown to the user, with what each field gives.
FIELDS: dict[str, str] = {
    "patient.nom": "nom de naissance du patient",
    "patient.prenom": "premier prénom de naissance",
    "patient.date_naissance": "date de naissance (JJ/MM/AAAA)",
    "patient.civilite": "Madame ou Monsieur",
    "patient.ne": "« né » ou « née »",
    "correspondant": "le destinataire du courrier",
    "structure.nom": "nom du cabinet",
    "structure.adresse": "adresse du cabinet",
    "structure.ville": "ville du cabinet",
    "structure.telephone": "téléphone du cabinet",
    "medecin.nom": "le médecin auteur (Dr Prénom NOM ; « Dr …, remplaçant le Dr … » pendant un remplacement)",
    "medecin.rpps": "son numéro RPPS",
    "date": "date du jour (JJ/MM/AAAA)",
}


class MergeError(ValueError):
    """The text names merge fields that do not exist. `unknown` lists them, in order of appearance."""

    def __init__(self, unknown: list[str]) -> None:
        self.unknown = unknown
        listed = ", ".join("{{" + name + "}}" for name in unknown)
        known = ", ".join("{{" + name + "}}" for name in FIELDS)
        plural = "s" if len(unknown) > 1 else ""
        super().__init__(f"Champ{plural} de fusion inconnu{plural} : {listed}. Champs disponibles : {known}.")


@dataclass(frozen=True)
class MergeContext:
    patient: Patient
    practice: Practice
    author: User
    correspondent: str
    today: dt.date

    def values(self) -> dict[str, str]:
        identity = self.patient.identity
        practice = self.practice
        return {
            # Identity traits as the INS rules name them (birth name, first birth given name), like the
            # R32 block printed above the letter: the same person on both.
            "patient.nom": identity.birth_name,
            "patient.prenom": identity.first_given_name,
            "patient.date_naissance": identity.birth_date_display,
            "patient.civilite": {"F": "Madame", "M": "Monsieur"}.get(identity.sex, "Madame, Monsieur"),
            "patient.ne": "née" if identity.sex == "F" else "né",
            "correspondant": self.correspondent.strip(),
            "structure.nom": practice.name,
            "structure.adresse": " ".join(
                part for part in (practice.address_line, practice.postal_code, practice.city) if part.strip()
            ),
            "structure.ville": practice.city,
            "structure.telephone": practice.phone,
            # While replacing a doctor the author signs « Dr <remplaçant>, remplaçant le Dr <remplacé> », so every
            # template (« Je soussigné(e), {{medecin.nom}}, … », the signature line) carries the mention.
            "medecin.nom": signature_name(self.author),
            "medecin.rpps": self.author.rpps,
            "date": f"{french_date(self.today)}",
        }


def letter_context(*, patient: Patient, practice: Practice, author: User, correspondent: str) -> MergeContext:
    """The merge context of a letter written today."""
    return MergeContext(
        patient=patient,
        practice=practice,
        author=author,
        correspondent=correspondent,
        today=timezone.localdate(),
    )


def unknown_fields(text: str) -> list[str]:
    """Names between `{{ }}` that are not in the whitelist, each once, in order."""
    seen: dict[str, None] = {}
    for match in FIELD.finditer(text):
        if match.group(1) not in FIELDS:
            seen.setdefault(match.group(1), None)
    return list(seen)


def merge(text: str, context: MergeContext) -> str:
    """`text` with every merge field replaced by its value; MergeError when a field is unknown."""
    unknown = unknown_fields(text)
    if unknown:
        raise MergeError(unknown)
    values = context.values()
    return FIELD.sub(lambda match: values[match.group(1)], text)
