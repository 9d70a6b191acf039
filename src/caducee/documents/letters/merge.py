"""Merge fields of letter templates: `{{patient.nom}}` and the like, substituted from a fixed whitelist.

The template text is written by users, so it is never given to Django's template engine (which would let a
template read any attribute reachable from the context, or load tags): each `{{ name }}` is looked up in a
dictionary of plain strings, in one pass, so a value that itself contains `{{…}}` is not expanded again. An
unknown name is an error that names it and lists the known ones: a letter never goes out with a hole in it.
The result is plain text; escaping is left to where it is shown (HTML page, PDF, CDA title).

The record's lists (issue 13 §2: a referral letter names the problems, treatments and allergies) give one line per
entry, each starting with « – », so that `Traitement en cours :\n{{patient.traitements}}` reads as a list in the
letter's paragraph; an empty list says so in words (« aucun … renseigné »), and allergies distinguish "none known"
(asserted by a professional) from "not recorded", as the VSM does.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from caducee.accounts.models import Practice, User
from caducee.accounts.replacement import signature_name
from caducee.core.dates import french_date
from caducee.patients.models import Patient
from caducee.record.dose_units import dose_unit_label
from caducee.record.models import Allergy, LongTermTreatment, Problem
from caducee.record.selectors import RecordSummary, record_summary

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
    "patient.problemes": "pathologies en cours, une par ligne (avec le code CIM-10)",
    "patient.antecedents": "antécédents médicaux et chirurgicaux, un par ligne",
    "patient.traitements": "traitements au long cours en cours, un par ligne (dose et posologie)",
    "patient.allergies": "allergies et intolérances, une par ligne (ou « aucune allergie connue »)",
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

    def values(self, names: set[str] | None = None) -> dict[str, str]:
        """Every field's value; the record is read (11 queries) only when `names` (default: all) needs it."""
        identity = self.patient.identity
        practice = self.practice
        record = {}
        if names is None or names & RECORD_FIELDS:
            record = record_values(record_summary(self.patient, on=self.today))
        return record | {
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


RECORD_FIELDS = frozenset({"patient.problemes", "patient.antecedents", "patient.traitements", "patient.allergies"})


def _lines(items: list[str], empty: str) -> str:
    return "\n".join(f"– {item}" for item in items) if items else empty


def _problem(problem: Problem) -> str:
    return f"{problem.label} ({problem.cim10_code})" if problem.cim10_code else problem.label


def _quantity(value: Decimal) -> str:
    return format(value.normalize(), "f").replace(".", ",")


def _treatment(treatment: LongTermTreatment) -> str:
    text = treatment.drug_label
    if treatment.dose_quantity is not None:
        unit = dose_unit_label(treatment.dose_unit, treatment.dose_quantity)
        text += f" — {_quantity(treatment.dose_quantity)} {unit}".rstrip()
    if treatment.frequency:
        text += f", {treatment.frequency}"
    return text


def _allergy(allergy: Allergy) -> str:
    text = allergy.agent_label + (" (intolérance)" if allergy.is_intolerance else "")
    details = [allergy.reaction] if allergy.reaction else []
    if allergy.severity:
        details.append(allergy.get_severity_display().lower())
    return f"{text} : {', '.join(details)}" if details else text


def record_values(summary: RecordSummary) -> dict[str, str]:
    """The record's merge fields (issue 13 §2), from the same summary the chart and the VSM show."""
    if summary.allergy_status == "present":
        allergies = _lines([_allergy(a) for a in summary.allergies], "")
    elif summary.allergy_status == "none_known":
        allergies = "Aucune allergie connue"
    else:
        allergies = "Non renseignées"
    histories = [*summary.medical_history, *summary.surgical_history]
    return {
        "patient.problemes": _lines([_problem(p) for p in summary.active_problems], "Aucune pathologie en cours"),
        "patient.antecedents": _lines([h.label for h in histories], "Aucun antécédent renseigné"),
        "patient.traitements": _lines([_treatment(t) for t in summary.treatments], "Aucun traitement au long cours"),
        "patient.allergies": allergies,
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
    values = context.values({match.group(1) for match in FIELD.finditer(text)})
    return FIELD.sub(lambda match: values[match.group(1)], text)
