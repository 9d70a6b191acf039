"""Reads of the clinical record: the summary the chart and the VSM/IPS-FR builders use, and terminology search.

`record_summary` is the single read the VSM builder needs (issue 3 §4): a frozen structure of
active (not soft-deleted) entries, in a fixed, bounded number of queries whatever the record size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, TypeVar

from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from caducee.core.text import search_key
from caducee.patients.models import Ald, Patient
from caducee.record.allergens import allergen_search
from caducee.record.dose_units import dose_unit_search
from caducee.record.models import (
    Allergy,
    AllergyStatement,
    Concept,
    Entry,
    FamilyHistory,
    History,
    Lifestyle,
    LongTermTreatment,
    Problem,
    ProfessionalRisk,
    RecordHistory,
    VigilancePoint,
    Vital,
)
from caducee.record.terminology import OID_CIM10, OID_UCUM, label_key, resolve_system

M = TypeVar("M", bound=Entry)
AllergyStatus = Literal["present", "none_known", "unknown"]

# Order in which the last vitals are shown (and put in the VSM): the Vital.Kind declaration order.
_VITAL_ORDER = {kind.value: index for index, kind in enumerate(Vital.Kind)}


@dataclass(frozen=True)
class RecordSummary:
    """The patient's structured record at one moment. Entries are model instances, read-only by contract:
    `created_by` is already loaded (authors of CDA entries) and every tuple is in display order."""

    patient: Patient
    active_problems: tuple[Problem, ...]
    resolved_problems: tuple[Problem, ...]
    medical_history: tuple[History, ...]
    surgical_history: tuple[History, ...]
    family_history: tuple[FamilyHistory, ...]
    allergies: tuple[Allergy, ...]
    # 'present' when allergies are recorded, 'none_known' when a professional asserted "aucune allergie
    # connue", 'unknown' otherwise: the VSM says "non renseigné" and never turns silence into "none".
    allergy_status: AllergyStatus
    allergy_statement: AllergyStatement | None
    professional_risks: tuple[ProfessionalRisk, ...]
    lifestyle: tuple[Lifestyle, ...]
    vigilance_points: tuple[VigilancePoint, ...]
    treatments: tuple[LongTermTreatment, ...]
    last_vitals: tuple[Vital, ...]
    alds: tuple[Ald, ...]

    @property
    def is_ald(self) -> bool:
        return bool(self.alds)

    @property
    def is_empty(self) -> bool:
        return not any(
            (
                self.active_problems,
                self.resolved_problems,
                self.medical_history,
                self.surgical_history,
                self.family_history,
                self.allergies,
                self.allergy_status == "none_known",
                self.professional_risks,
                self.lifestyle,
                self.vigilance_points,
                self.treatments,
                self.last_vitals,
                self.alds,
            )
        )

    def vital(self, kind: str) -> Vital | None:
        return next((v for v in self.last_vitals if v.kind == kind), None)


def _live(model: type[M], patient: Patient) -> QuerySet[M]:
    """Entries not soft-deleted, with their author (CDA entry authors) joined in the same query."""
    return model._default_manager.filter(patient=patient, deleted_at__isnull=True).select_related("created_by")


def record_summary(patient: Patient, *, on: date | None = None) -> RecordSummary:
    """Everything the summary shows, in 11 queries (one per table), never one per entry.

    `on` (default today) decides which ALDs (start <= on <= end) and treatments (start <= on < end) are current.
    """
    today = on or date.today()
    problems = list(_live(Problem, patient).order_by("-onset", "label", "id"))
    histories = list(_live(History, patient).order_by("-date", "label", "id"))
    # A treatment stops on its end date (treatment_stop sets today): from that day it is no longer current.
    treatments = _live(LongTermTreatment, patient).filter(Q(end__isnull=True) | Q(end__gt=today))
    # Last measure of each kind in one query (window function: SQLite ≥ 3.25 and PostgreSQL).
    vitals = (
        _live(Vital, patient)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("kind")], order_by=[F("measured_at").desc(), F("id").desc()])
        )
        .filter(rank=1)
    )
    allergies = tuple(_live(Allergy, patient).order_by("agent_label", "id"))
    statement = AllergyStatement.objects.filter(patient=patient).select_related("asserted_by").first()
    status: AllergyStatus = "present" if allergies else "unknown"
    if not allergies and statement is not None and statement.none_known:
        status = "none_known"
    return RecordSummary(
        patient=patient,
        active_problems=tuple(p for p in problems if p.status == Problem.Status.ACTIVE),
        resolved_problems=tuple(p for p in problems if p.status == Problem.Status.RESOLVED),
        medical_history=tuple(h for h in histories if h.kind == History.Kind.MEDICAL),
        surgical_history=tuple(h for h in histories if h.kind == History.Kind.SURGICAL),
        family_history=tuple(_live(FamilyHistory, patient).order_by("relation", "label", "id")),
        allergies=allergies,
        allergy_status=status,
        allergy_statement=statement,
        professional_risks=tuple(_live(ProfessionalRisk, patient).order_by("label", "id")),
        lifestyle=tuple(_live(Lifestyle, patient).order_by("kind", "id")),
        vigilance_points=tuple(_live(VigilancePoint, patient).order_by("-created_at", "id")),
        treatments=tuple(treatments.filter(Q(start__isnull=True) | Q(start__lte=today)).order_by("drug_label", "id")),
        last_vitals=tuple(sorted(vitals, key=lambda v: _VITAL_ORDER.get(v.kind, 99))),
        alds=tuple(
            Ald.objects.filter(patient=patient, start__lte=today)
            .filter(Q(end__isnull=True) | Q(end__gte=today))
            .order_by("start", "id")
        ),
    )


def record_changed_since(patient: Patient, when: datetime | None) -> bool:
    """True when any record entry was created, changed or deleted after `when` (None: ever).

    Pre-ticks "mettre à jour le VSM" at validation: every change writes a RecordHistory row, so
    one indexed EXISTS on (patient, -at) answers it.
    """
    changes = RecordHistory.objects.filter(patient=patient)
    if when is not None:
        changes = changes.filter(at__gt=when)
    return changes.exists()


def record_history(patient: Patient, *, limit: int = 200) -> QuerySet[RecordHistory]:
    return RecordHistory.objects.filter(patient=patient).select_related("by").order_by("-at", "-id")[:limit]


# ---------------------------------------------------------------------------------------------------
# Terminology search (search-as-you-type)

_WORD_SPLIT = re.compile(r"[\s,;:/'’()\[\]\-]+")
_CIM10_COMPACT = re.compile(r"^([A-Z][0-9]{2})([0-9A-Z]{1,2})$")


def concept_search(system: str, text: str, limit: int = 20) -> list[Concept]:
    """Concepts of one system whose code starts with the text, or whose label has a word starting with
    each word typed, ignoring case, accents and punctuation (R17-like: "diab typ 2", "E11", "e119").

    Code matches come first, then labels, shortest label first; inactive (withdrawn) codes are left out.
    `system` is a name (cim10, ccam, atc, edqm, ucum, cis, route) or an OID.
    """
    oid, code_pattern = resolve_system(system)
    limit = max(1, min(limit, 50))
    words = [w for w in (search_key(part) for part in _WORD_SPLIT.split(text)) if w]
    if not words:
        return []
    base = Concept.objects.filter(system=oid, active=True)
    if code_pattern:
        base = base.filter(code__regex=code_pattern)
    hits: list[Concept] = []
    if len(words) == 1:
        typed = text.strip().replace(" ", "")
        # Codes are upper case except UCUM's, which are case-sensitive ("mg", "mL"): try both forms
        # (PostgreSQL's LIKE is case-sensitive, SQLite's is not).
        codes = {typed, typed.upper()}
        compact = _CIM10_COMPACT.match(words[0])
        if oid == OID_CIM10 and compact:  # "E119" typed for "E11.9"
            codes.add(f"{compact.group(1)}.{compact.group(2)}")
        code_q = Q()
        for code in codes:
            code_q |= Q(code__startswith=code)
        hits = list(base.filter(code_q).order_by("code")[:limit])
    if len(hits) < limit:
        label_q = base.exclude(label_key="")
        for word in words:
            # label_key holds space-separated words: a prefix of any word is "starts with" or " word".
            label_q = label_q.filter(Q(label_key__startswith=word) | Q(label_key__contains=" " + word))
        seen = {c.pk for c in hits}
        by_label = [c for c in label_q.order_by("label_key", "code")[: limit * 3] if c.pk not in seen]
        first = words[0]
        by_label.sort(key=lambda c: (not c.label_key.startswith(first), len(c.label_key), c.label_key))
        hits.extend(by_label[: limit - len(hits)])
    return hits


def dose_unit_suggestions(text: str, limit: int = 15) -> list[dict[str, str]]:
    """Search-as-you-type of a dose unit (issue 13 §2): the French table (« cp » → comprimé), then a UCUM code
    typed exactly as it is (« mmol/L »); never the UCUM table's English names (« tablespoon - US »).
    `value` is what lands in the field (French), `code` what is stored."""
    hits = [
        {"code": u.code, "value": u.singular, "label": " · ".join(dict.fromkeys((u.plural, *u.abbreviations[:2])))}
        for u in dose_unit_search(text, limit)
    ]
    typed = text.strip()
    if typed and not hits and Concept.objects.filter(system=OID_UCUM, code=typed, active=True).exists():
        hits.append({"code": typed, "value": typed, "label": "UCUM"})
    return hits


def allergen_suggestions(text: str, limit: int = 15) -> list[dict[str, str]]:
    """Search-as-you-type of an allergy's substance (issue 13 §2): the French list (pénicillines, iode,
    latex…), then the ATC substances and classes of the loaded terminology that have a label."""
    hits = [{"code": a.code, "label": a.label} for a in allergen_search(text)][:limit]
    seen = {h["code"] for h in hits if h["code"]} | {h["label"] for h in hits}
    for concept in concept_search("atc", text, limit=limit):
        if len(hits) >= limit:
            break
        if concept.label and concept.code not in seen and concept.label not in seen:
            hits.append({"code": concept.code, "label": concept.label})
            seen.add(concept.code)
    return hits


def concept_labels(system: str, codes: list[str]) -> dict[str, str]:
    """Labels of several codes in one query (screens showing coded entries)."""
    oid, _pattern = resolve_system(system)
    return dict(Concept.objects.filter(system=oid, code__in=codes).values_list("code", "label"))


__all__ = [
    "AllergyStatus",
    "RecordSummary",
    "allergen_suggestions",
    "concept_labels",
    "concept_search",
    "dose_unit_suggestions",
    "label_key",
    "record_changed_since",
    "record_history",
    "record_summary",
]
