"""The letter templates every practice starts with (French), seeded by migration 0003 and `letters_seed_defaults`.

Plain data and one function taking the model class, so the data migration can use its historical model.
A practice edits or deactivates them; seeding again never overwrites a template that already has the name.
"""

from __future__ import annotations

from typing import Any

_REFERRAL = """Cher confrère, chère consœur,

Je vous adresse {{patient.civilite}} {{patient.prenom}} {{patient.nom}}, {{patient.ne}} le {{patient.date_naissance}}, \
pour avis et prise en charge.

Motif :

Pathologies en cours :
{{patient.problemes}}

Antécédents :
{{patient.antecedents}}

Traitement en cours :
{{patient.traitements}}

Allergies :
{{patient.allergies}}

Je vous remercie de bien vouloir me tenir informé(e) de vos conclusions.

Bien confraternellement,

{{medecin.nom}}"""

_CONSULTATION_REPORT = """{{patient.civilite}} {{patient.prenom}} {{patient.nom}}, {{patient.ne}} le \
{{patient.date_naissance}}, a été vu(e) en consultation le {{date}}.

Motif de consultation :

Examen clinique :

Conclusion :

Conduite à tenir :

{{medecin.nom}}"""

_CERTIFICATE = """Je soussigné(e), {{medecin.nom}}, certifie avoir examiné ce jour {{patient.civilite}} \
{{patient.prenom}} {{patient.nom}}, {{patient.ne}} le {{patient.date_naissance}}, et constaté :



Certificat établi à la demande de l'intéressé(e) et remis en main propre pour faire valoir ce que de droit.

Fait à {{structure.ville}}, le {{date}}.

{{medecin.nom}}"""

_FREE = """Cher confrère, chère consœur,



Bien confraternellement,

{{medecin.nom}}
{{structure.nom}} — {{structure.telephone}}"""

# (name, kind, body); kinds are LetterTemplate.Kind values.
DEFAULT_TEMPLATES: tuple[tuple[str, str, str], ...] = (
    ("Lettre d'adressage à un confrère", "adressage", _REFERRAL),
    ("Compte rendu de consultation", "cr_consultation", _CONSULTATION_REPORT),
    ("Certificat médical", "certificat", _CERTIFICATE),
    ("Courrier libre", "libre", _FREE),
)


def seed_default_templates(model: Any) -> int:
    """Create the default templates missing from `model` (LetterTemplate, current or historical); how many."""
    created = 0
    for name, kind, body in DEFAULT_TEMPLATES:
        _, was_created = model.objects.get_or_create(name=name, defaults={"kind": kind, "body": body})
        created += was_created
    return created
