"""Which chart a received document belongs to: candidates by INS then by traits, a 0–100 score with its reasons.

SC.MSS/UX.02 and UX.07: a document is filed automatically only on a *strict* match — a QUAL identity whose matricule
INS and OID and the four traits (birth name, first given name, birth date, sex) equal the document's. Anything less
goes to the work list with the candidates and their scores (UX.09–12, LGC.MSS.01), best first.

Scores: matricule INS 35 + OID 5 (a different matricule takes 30 off), birth name 20, first given name 15, birth
date 15, sex 10. A document without INS is scored on its traits alone, scaled to 100. Only a strict match reaches
100; a perfect match on a non-QUAL identity stops at 99 (it still needs a click).
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from caducee.core.text import search_key
from caducee.documents.received import PatientTraits
from caducee.identity.models import Identity, SearchToken, Status

MAX_CANDIDATES = 5
_SCAN = 50  # identities looked at per retrieval path
_TRAIT_POINTS = 60  # birth name 20 + first given name 15 + birth date 15 + sex 10


@dataclass(frozen=True)
class Candidate:
    patient_id: int
    score: int  # 0–100
    reasons: tuple[str, ...]
    strict: bool

    def as_json(self) -> dict[str, Any]:
        return {"patient": self.patient_id, "score": self.score, "reasons": list(self.reasons), "strict": self.strict}


def _similar(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b).ratio() if a and b else 0.0


def _name_points(incoming: str, local: str, points: int, label: str, reasons: list[str]) -> int:
    a, b = search_key(incoming), search_key(local)
    if a and a == b:
        reasons.append(f"{label} identique")
        return points
    ratio = _similar(a, b)
    if ratio >= 0.75:
        reasons.append(f"{label} proche ({round(ratio * 100)} %)")
        return round(points * ratio * 0.75)
    reasons.append(f"{label} différent")
    return 0


def _date_points(incoming: str, local: str, reasons: list[str]) -> int:
    if incoming and incoming == local:
        reasons.append("date de naissance identique")
        return 15
    a, b = incoming.split("-"), local.split("-")
    swapped = len(a) == 3 and len(b) == 3 and a[0] == b[0] and a[1:] == [b[2], b[1]]
    one_off = len(a) == len(b) == 3 and sum(x != y for x, y in zip(a, b, strict=True)) == 1
    if swapped or one_off:
        reasons.append("date de naissance proche (jour/mois inversés ou une différence)")
        return 7
    reasons.append("date de naissance différente")
    return 0


def _same_ins_and_traits(traits: PatientTraits, identity: Identity) -> bool:
    return (
        not identity.is_doubtful
        and not identity.is_fictitious
        and bool(traits.ins_matricule)
        and identity.ins_matricule == traits.ins_matricule
        and identity.ins_oid == traits.ins_oid
        and search_key(identity.birth_name) == search_key(traits.birth_name) != ""
        and search_key(identity.first_given_name) == search_key(traits.first_given_name) != ""
        and identity.birth_date == traits.birth_date != ""
        and identity.sex == traits.sex != ""
    )


def is_strict(traits: PatientTraits, identity: Identity) -> bool:
    """UX.07: QUAL identity, same matricule INS and OID, same four strict traits."""
    return identity.status == Status.QUAL and _same_ins_and_traits(traits, identity)


def known_here(traits: PatientTraits, identity: Identity) -> bool:
    """R52's exception: this INS with these traits already exists here with the status QUAL or RECUP."""
    return identity.status in (Status.QUAL, Status.RECUP) and _same_ins_and_traits(traits, identity)


def score(traits: PatientTraits, identity: Identity) -> Candidate:
    reasons: list[str] = []
    points = 0
    if traits.ins_matricule:
        if identity.ins_matricule == traits.ins_matricule:
            points += 35
            reasons.append("matricule INS identique")
            if identity.ins_oid == traits.ins_oid:
                points += 5
            else:
                reasons.append("OID de l'INS différent")
        elif identity.ins_matricule:
            points -= 30
            reasons.append("matricule INS différent")
        else:
            reasons.append("pas d'INS dans le dossier local")
    points += _name_points(traits.birth_name, identity.birth_name, 20, "nom de naissance", reasons)
    if not reasons[-1].endswith("identique") and identity.used_name:
        if search_key(identity.used_name) == search_key(traits.birth_name):
            points += 10
            reasons[-1] = "nom de naissance égal au nom utilisé du dossier"
    given = search_key(traits.first_given_name)
    if given and given in {search_key(g) for g in identity.given_names_list} - {search_key(identity.first_given_name)}:
        points += 10
        reasons.append("premier prénom parmi les prénoms de naissance du dossier")
    else:
        points += _name_points(traits.first_given_name, identity.first_given_name, 15, "premier prénom", reasons)
    points += _date_points(traits.birth_date, identity.birth_date, reasons)
    if traits.sex and traits.sex == identity.sex:
        points += 10
        reasons.append("sexe identique")
    else:
        reasons.append("sexe différent" if traits.sex else "sexe absent du document")
    if not traits.ins_matricule:
        reasons.insert(0, "pas d'INS dans le document")
        points = round(points * 100 / _TRAIT_POINTS)
    strict = is_strict(traits, identity)
    if not strict:
        if identity.status != Status.QUAL:
            reasons.append(f"identité locale au statut {identity.status}")
        points = min(points, 99)
    return Candidate(
        patient_id=identity.patient.pk, score=max(0, min(points, 100)), reasons=tuple(reasons), strict=strict
    )


def candidate_identities(traits: PatientTraits) -> list[Identity]:
    """Identities (with a chart) sharing the matricule INS, the birth name token, or first given name + birth date."""
    ids: set[int] = set()
    if traits.ins_matricule:
        ids.update(Identity.objects.filter(ins_matricule=traits.ins_matricule).values_list("pk", flat=True)[:_SCAN])
    name = search_key(traits.birth_name)
    if name:
        ids.update(
            SearchToken.objects.filter(token=name).values_list("identity_id", flat=True)[:_SCAN]  # R17 token index
        )
    if traits.birth_date and traits.first_given_name:
        ids.update(
            Identity.objects.filter(birth_date=traits.birth_date, first_given_name=traits.first_given_name).values_list(
                "pk", flat=True
            )[:_SCAN]
        )
    if not ids:
        return []
    return list(Identity.objects.filter(pk__in=ids, patient__isnull=False).select_related("patient"))


def candidates_for(
    traits: PatientTraits, *, identities: list[Identity] | None = None, limit: int = MAX_CANDIDATES
) -> list[Candidate]:
    """The charts this document may belong to, best first (strict matches first, then by score)."""
    found = candidate_identities(traits) if identities is None else identities
    scored = [score(traits, identity) for identity in found]
    scored.sort(key=lambda c: (not c.strict, -c.score, c.patient_id))
    return [c for c in scored if c.score > 0][:limit]


def identities_with_ins(traits: PatientTraits) -> list[Identity]:
    """Local identities carrying the document's matricule INS (R52 decides from them whether INSi is called)."""
    if not traits.ins_matricule:
        return []
    return list(Identity.objects.filter(ins_matricule=traits.ins_matricule))
