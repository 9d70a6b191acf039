"""Reads of patients: search (R17), the chart, the address book (correspondents and their roles, the care team),
the card's history, and each user's recent patients."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, Exists, IntegerField, Max, OuterRef, QuerySet, Value, When
from django.utils import timezone

from caducee.core.models import AuditEvent
from caducee.core.text import search_key
from caducee.identity.matricule import MatriculeError, clean, parse_matricule
from caducee.identity.models import SearchToken
from caducee.identity.traits import parse_birth_date
from caducee.patients.models import ContactChange, Correspondent, CorrespondentRole, Patient, PatientCorrespondent

_DATE_RE = re.compile(r"\b(\d{1,2}[/.\-]\d{1,2}[/.\-]\d{4}|\d{4}-\d{2}-\d{2})\b")


class SearchError(ValueError):
    pass


def _prefix_range(prefix: str) -> tuple[str, str]:
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def patient_search(query: str, *, limit: int = 50) -> QuerySet[Patient]:
    """R17: birth date and/or the first letters of any nom or prénom (birth or used), ignoring accents,
    hyphens and apostrophes; or the matricule INS, only with its 15 characters and a valid key."""
    query = query.strip()
    patients = Patient.objects.select_related("identity").order_by(
        "identity__birth_name", "identity__first_given_name", "identity__birth_date", "id"
    )
    if not query:
        return patients.none()
    compact = clean(query)
    if len(compact) >= 13 and compact[:6].isdigit():
        try:
            matricule = parse_matricule(query)
        except MatriculeError as exc:
            raise SearchError(str(exc)) from exc
        return patients.filter(identity__ins_matricule=matricule.value)[:limit]
    date_match = _DATE_RE.search(query)
    birth_date = ""
    if date_match:
        try:
            birth_date = parse_birth_date(date_match.group(1))
        except ValueError as exc:
            raise SearchError(f"Date de naissance : {exc}") from exc
        query = query.replace(date_match.group(1), " ")
    ranges = [_prefix_range(key) for key in (search_key(word) for word in query.split()) if key]
    if not date_match:
        return _search_by_names(patients, ranges, limit) if ranges else patients.none()
    # Speed: with a birth date, the date index leaves a handful of identities; check each word on them
    # (EXISTS on the identity's few tokens) instead of listing every identity with a name starting with
    # those letters (bench/README.md: p95 10 → 2 ms on 100,000 patients, SQLite).
    words = [
        Exists(SearchToken.objects.filter(token__gte=low, token__lt=high, identity_id=OuterRef("identity_id")))
        for low, high in ranges
    ]
    return patients.filter(*words, identity__birth_date=birth_date)[:limit]


def _search_by_names(patients: QuerySet[Patient], ranges: list[tuple[str, str]], limit: int) -> QuerySet[Patient]:
    """R17 by name prefixes only: the first `limit` identities in name order, read from the token index.

    Why: the tokens carry copies of the sort key (birth name, first prénom, birth date), so the
    search_token_sorted index alone gives the matches and their order, without visiting the identities
    (bench/README.md: "3 lettres" p95 25.7 → ~12 ms SQLite, 128 → ~15 ms PostgreSQL).
    """
    # The sort key, in sort order, with the identity id last: DISTINCT/INTERSECT and ORDER BY then share
    # one ordering, which SQLite resolves with a single temporary B-tree (twice as fast on MAR).
    columns = ("birth_name", "first_given_name", "birth_date", "identity_id")
    per_word = [
        SearchToken.objects.filter(token__gte=low, token__lt=high).values_list(*columns) for low, high in ranges
    ]
    top: QuerySet[SearchToken, tuple[str, str, str, int]]
    if len(per_word) == 1:
        top = per_word[0].distinct()  # one row per identity: MARIE and MARTIN both match MAR
    else:
        # Every word must match (R17 prefixes are cumulative): INTERSECT of index-only range scans.
        top = per_word[0].intersection(*per_word[1:])
    # Ties on (name, prénom, date) at the last place are broken by identity id (grows with patient id).
    ordered = top.order_by(*columns)[:limit]
    return patients.filter(identity_id__in=[row[-1] for row in ordered])


def patient_get(patient_id: int) -> Patient:
    return Patient.objects.select_related(
        "identity", "medecin_traitant", "medecin_traitant_correspondent", "identity__id_document_checked_by"
    ).get(pk=patient_id)


# -- the address book (issue 5 §5; its writes are in `patients.correspondents`) -----------------------------------

_ROLE_ORDER = [
    CorrespondentRole.MEDECIN_TRAITANT,
    CorrespondentRole.ADRESSEUR,
    CorrespondentRole.SPECIALISTE,
    CorrespondentRole.INFIRMIER,
    CorrespondentRole.PHARMACIEN,
    CorrespondentRole.KINESITHERAPEUTE,
    CorrespondentRole.AUTRE,
]


def patient_correspondents(patient: Patient) -> list[PatientCorrespondent]:
    """The patient's correspondents with their roles — the care team: médecin traitant first, then adresseur,
    spécialiste, infirmier, pharmacien, kinésithérapeute, autre; one query."""
    order = Case(
        *(When(role=role, then=Value(rank)) for rank, role in enumerate(_ROLE_ORDER)),
        default=Value(len(_ROLE_ORDER)),
        output_field=IntegerField(),
    )
    return list(
        PatientCorrespondent.objects.filter(patient=patient)
        .select_related("correspondent")
        .order_by(order, "correspondent__family_name", "correspondent__organisation", "id")
    )


def patient_correspondent(patient: Patient, role: str) -> Correspondent | None:
    """The patient's correspondent with this role (the first one), e.g. the médecin traitant; None if none."""
    link = (
        PatientCorrespondent.objects.filter(patient=patient, role=role)
        .select_related("correspondent")
        .order_by("id")
        .first()
    )
    return link.correspondent if link else None


def correspondent_by_address(address: str) -> Correspondent | None:
    return Correspondent.objects.filter(mss_address=(address or "").strip().lower()).first()


def role_for_profession(profession: str, specialty: str = "") -> str:
    """The care-team role a directory entry suggests (TRE_G15 profession labels): a pharmacist, a nurse, a
    physiotherapist; a doctor other than a general practitioner is a specialist. The user can change it."""
    key = search_key(profession)
    if key.startswith("PHARMACIEN"):
        return CorrespondentRole.PHARMACIEN
    if key.startswith("INFIRMIER"):
        return CorrespondentRole.INFIRMIER
    if "KINESITHERAPEUTE" in key:
        return CorrespondentRole.KINESITHERAPEUTE
    if key.startswith("MEDECIN") and specialty and "GENERALE" not in search_key(specialty):
        return CorrespondentRole.SPECIALISTE
    return CorrespondentRole.AUTRE


# -- the card's history ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeRow:
    at: dt.datetime
    by: str
    kind: str
    changes: list[tuple[str, str]]  # (field label, previous value)


HISTORY_LIMIT = 20


def contact_history(patient: Patient, *, limit: int = HISTORY_LIMIT) -> list[ChangeRow]:
    """The last changes of the card (coordonnées, médecin traitant), newest first, with the fields' French labels
    and the values they had before; one query, bounded."""
    rows = ContactChange.objects.filter(patient=patient).select_related("by").order_by("-at", "-id")[:limit]
    labels = {f.name: str(f.verbose_name) for f in Patient._meta.get_fields() if hasattr(f, "verbose_name")}
    return [
        ChangeRow(
            at=row.at,
            by=row.by.display_name() if row.by is not None else "système",
            kind=row.get_kind_display(),
            changes=[(labels.get(name, name), str(row.previous.get(name, "")) or "(vide)") for name in row.fields],
        )
        for row in rows
    ]


# -- each user's recent patients (the home page) --------------------------------------------------------------------

OPEN_ACTION = "patient.read"  # patients.services.patient_open: every opening of a chart
RECENT_DAYS = 30
RECENT_LIMIT = 10


def opened_patients(user: Any, *, since: dt.datetime, limit: int = RECENT_LIMIT) -> list[tuple[int, dt.datetime]]:
    """(patient id, last opening) of the charts `user` opened since `since`, the last opened first.

    Read from the audit trail (every chart opening is there, R16/SC.SSI) with the audit_actor_action_at index:
    one range of (actor, action, at) grouped by patient — bounded by `since`, whatever the trail's size."""
    if getattr(user, "pk", None) is None:
        return []
    rows = (
        AuditEvent.objects.filter(actor=user, action=OPEN_ACTION, at__gte=since, patient_id__isnull=False)
        .order_by()
        .values("patient_id")
        .annotate(last=Max("at"))
        .order_by("-last", "-patient_id")[:limit]
    )
    return [(row["patient_id"], row["last"]) for row in rows if row["patient_id"] is not None]


# The actions that put a patient on a user's list of the day: opening the chart, a consultation opened, saved,
# read or validated by the user (no agenda yet: these are the patients of the day).
TODAY_ACTIONS = (OPEN_ACTION, "consultation.open", "consultation.save", "consultation.read", "consultation.validate")


@dataclass(frozen=True)
class TodayRow:
    patient: Patient
    last: dt.datetime
    consulted: bool  # a consultation of this user's today


def todays_patients(user: Any, *, limit: int = 30) -> list[TodayRow]:
    """The patients `user` opened or consulted today, the last first: one grouped range of the audit_actor_action_at
    index per action, bounded by midnight."""
    if getattr(user, "pk", None) is None:
        return []
    rows = (
        AuditEvent.objects.filter(
            actor=user, action__in=TODAY_ACTIONS, at__gte=start_of_today(), patient_id__isnull=False
        )
        .order_by()
        .values("patient_id")
        .annotate(
            last=Max("at"),
            consulted=Max(Case(When(action__startswith="consultation.", then=Value(1)), default=Value(0))),
        )
        .order_by("-last", "-patient_id")[:limit]
    )
    found = patients_by_id([(row["patient_id"], row) for row in rows if row["patient_id"] is not None])
    return [TodayRow(patient, row["last"], bool(row["consulted"])) for patient, row in found]


def start_of_today() -> dt.datetime:
    """Midnight today in the practice's time zone (the "du jour" lists start there)."""
    today = timezone.localdate()
    return timezone.make_aware(dt.datetime.combine(today, dt.time.min))


def recent_patients(user: Any, *, days: int = RECENT_DAYS, limit: int = RECENT_LIMIT) -> list[tuple[Patient, Any]]:
    """The patients `user` opened in the last `days` days, with the last opening, the last opened first."""
    opened = opened_patients(user, since=timezone.now() - dt.timedelta(days=days), limit=limit)
    return patients_by_id(opened)


def patients_by_id(rows: list[tuple[int, Any]]) -> list[tuple[Patient, Any]]:
    """The patients of (id, value) rows in their order, with their identity; one query; deleted ones skipped."""
    found = Patient.objects.select_related("identity").in_bulk([patient_id for patient_id, _ in rows])
    return [(found[patient_id], value) for patient_id, value in rows if patient_id in found]
