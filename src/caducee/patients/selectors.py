"""Reads of patients: search (R17), the chart, the address book (correspondents and their roles)."""

from __future__ import annotations

import re

from django.db.models import Case, Exists, IntegerField, OuterRef, QuerySet, Value, When

from caducee.core.text import search_key
from caducee.identity.matricule import MatriculeError, clean, parse_matricule
from caducee.identity.models import SearchToken
from caducee.identity.traits import parse_birth_date
from caducee.patients.models import Correspondent, CorrespondentRole, Patient, PatientCorrespondent

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
    return Patient.objects.select_related("identity", "medecin_traitant", "identity__id_document_checked_by").get(
        pk=patient_id
    )


# -- the address book (issue 5 §5; its writes are in `patients.correspondents`) -----------------------------------

_ROLE_ORDER = [
    CorrespondentRole.MEDECIN_TRAITANT,
    CorrespondentRole.ADRESSEUR,
    CorrespondentRole.SPECIALISTE,
    CorrespondentRole.AUTRE,
]


def patient_correspondents(patient: Patient) -> list[PatientCorrespondent]:
    """The patient's correspondents with their roles: médecin traitant first, then adresseur, spécialiste, autre;
    one query."""
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
