"""Reads of patients: search (R17) and the chart."""

from __future__ import annotations

import re

from django.db.models import Exists, OuterRef, Q, QuerySet

from caducee.core.text import search_key
from caducee.identity.matricule import MatriculeError, clean, parse_matricule
from caducee.identity.models import SearchToken
from caducee.identity.traits import parse_birth_date
from caducee.patients.models import Patient

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
    conditions: list[Q | Exists] = []
    if date_match:
        try:
            conditions.append(Q(identity__birth_date=parse_birth_date(date_match.group(1))))
        except ValueError as exc:
            raise SearchError(f"Date de naissance : {exc}") from exc
        query = query.replace(date_match.group(1), " ")
    for word in query.split():
        key = search_key(word)
        if not key:
            continue
        low, high = _prefix_range(key)
        tokens = SearchToken.objects.filter(token__gte=low, token__lt=high)
        if date_match:
            # Speed: with a birth date, the date index leaves a handful of identities; check each word on
            # them (EXISTS on the identity's few tokens) instead of listing every identity with a name
            # starting with those letters (bench/README.md: p95 10 → 2 ms on 100,000 patients, SQLite).
            conditions.append(Exists(tokens.filter(identity_id=OuterRef("identity_id"))))
        else:
            conditions.append(Q(identity_id__in=tokens.values("identity_id")))
    if not conditions:
        return patients.none()
    return patients.filter(*conditions)[:limit]


def patient_get(patient_id: int) -> Patient:
    return Patient.objects.select_related("identity", "medecin_traitant", "identity__id_document_checked_by").get(
        pk=patient_id
    )
