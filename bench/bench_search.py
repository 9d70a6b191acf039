"""Benchmark: patient search (R17) and the patient chart, on a synthetic practice.

    .venv/bin/python bench/bench_search.py [--patients 100000] [--queries 500] [--seed 1] [--charts 100]

SQLite in var/bench/ unless DATABASE_URL is set. The practice is generated (caducee.patients.synthetic)
when the database holds fewer patients than asked. Times are server-side: `list(patient_search(q))`,
and the chart page through Django's test client (whole request: middleware, session, audit, template).
A benchmark reports; it never fails: the exit status is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench_common import percentile

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 20.0


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caducee.config.settings")
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("CADUCEE_DATA_DIR", str(ROOT / "var" / "bench"))
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def ensure_practice(patients: int, seed: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from caducee.patients.models import Patient
    from caducee.patients.synthetic import generate_practice

    call_command("migrate", interactive=False, verbosity=0)
    existing = Patient.objects.count()
    if existing >= patients:
        print(f"Base : {existing} patients déjà présents ({connection.vendor}).")
        return
    missing = patients - existing
    print(f"Génération de {missing} patients synthétiques ({connection.vendor})…", flush=True)
    started = time.monotonic()

    def progress(done: int) -> None:
        if done % 20_000 == 0 or done == missing:
            print(f"  {done}/{missing} ({time.monotonic() - started:.0f} s)", flush=True)

    # Another seed for a top-up, so that the added patients differ from the ones already there.
    generate_practice(patients=missing, seed=seed + existing, progress=progress)
    print(f"Généré en {time.monotonic() - started:.1f} s.")
    if connection.vendor == "postgresql":
        # What autovacuum does shortly after a bulk load (PostgreSQL ≥ 13 also vacuums after inserts):
        # planner statistics, and the visibility map that index-only scans need.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def _date(iso: str) -> str:
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


def build_queries(per_type: int, rng: random.Random) -> list[tuple[str, str]]:
    """Realistic front-desk queries, built from patients actually in the database."""
    from caducee.identity.matricule import parse_matricule
    from caducee.identity.models import Identity

    ids = list(Identity.objects.values_list("id", flat=True))
    sample = rng.sample(ids, min(len(ids), per_type * 3))
    rows = list(
        Identity.objects.filter(id__in=sample).values(
            "birth_name", "used_name", "first_given_name", "birth_date", "ins_matricule"
        )
    )
    rng.shuffle(rows)
    with_ins = [r for r in rows if r["ins_matricule"]]

    def name(r: Mapping[str, Any]) -> str:
        return r["used_name"] if r["used_name"] and rng.random() < 0.5 else r["birth_name"]

    def prefix(word: str) -> str:
        return word[: rng.choice((2, 3, 4))]

    makers: dict[str, Callable[[Mapping[str, Any]], str]] = {
        "date seule": lambda r: _date(r["birth_date"]),
        "date + 2-3 lettres": lambda r: f"{_date(r['birth_date'])} {name(r)[: rng.choice((2, 3))]}",
        "3 lettres du nom": lambda r: name(r)[:3].lower(),
        "2 préfixes (nom prénom)": lambda r: (
            f"{prefix(name(r))} {prefix(r['first_given_name'])}"
            if rng.random() < 0.7
            else f"{prefix(r['first_given_name'])} {prefix(name(r))}"
        ),
        "matricule INS (15 car.)": lambda r: (
            parse_matricule(r["ins_matricule"]).formatted() if rng.random() < 0.5 else r["ins_matricule"]
        ),
    }
    queries: list[tuple[str, str]] = []
    for kind, make in makers.items():
        source = with_ins if kind.startswith("matricule") else rows
        queries += [(kind, make(r)) for r in source[:per_type]]
    rng.shuffle(queries)
    return queries


def bench_search(
    queries: list[tuple[str, str]], slowest: list[tuple[float, str, str]]
) -> dict[str, tuple[list[float], list[int]]]:
    from caducee.patients.selectors import patient_search

    for _, q in queries[:30]:  # warm-up: connection, caches, first compilations
        list(patient_search(q))
    results: dict[str, tuple[list[float], list[int]]] = defaultdict(lambda: ([], []))
    for kind, q in queries:
        started = time.perf_counter()
        found = list(patient_search(q))
        elapsed = (time.perf_counter() - started) * 1000
        results[kind][0].append(elapsed)
        results[kind][1].append(len(found))
        slowest.append((elapsed, kind, q))
    slowest.sort(reverse=True)
    return results


def bench_chart(count: int, rng: random.Random) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from caducee.accounts.models import Role, User
    from caducee.identity.models import Status
    from caducee.patients.models import Patient

    user, _ = User.objects.get_or_create(username="bench-secretaire", defaults={"role": Role.SECRETAIRE})
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    qual = list(Patient.objects.filter(identity__status=Status.QUAL).values_list("id", flat=True)[:5000])
    picked = rng.sample(qual, min(count, len(qual)))
    client.get(reverse("patients:chart", args=[picked[0]]))  # warm-up (templates)
    times = []
    for patient_id in picked:
        started = time.perf_counter()
        response = client.get(reverse("patients:chart", args=[patient_id]))
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    queries = {}
    for status in Status.values:
        patient = Patient.objects.filter(identity__status=status).first()
        if patient is None:
            continue
        with CaptureQueriesContext(connection) as ctx:
            client.get(reverse("patients:chart", args=[patient.pk]))
        queries[status] = len(ctx.captured_queries)
    return {"times": times, "queries": queries}


def report(results: dict[str, tuple[list[float], list[int]]], chart: dict[str, Any], title: str) -> None:
    print()
    print(title)
    header = (
        f"{'type de requête':<26}{'n':>6}{'résultats':>11}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
        f"   cible p95 < {TARGET_P95_MS:.0f} ms"
    )
    print(header)
    print("-" * len(header))
    everything: list[float] = []
    missed = []
    for kind in sorted(results):
        times, counts = results[kind]
        everything += times
        ok = percentile(times, 95) < TARGET_P95_MS
        if not ok:
            missed.append(kind)
        print(
            f"{kind:<26}{len(times):>6}{statistics.mean(counts):>11.1f}{percentile(times, 50):>8.2f}"
            f"{percentile(times, 95):>8.2f}{percentile(times, 99):>8.2f}{max(times):>8.2f}"
            f"   {'oui' if ok else 'NON'}"
        )
    print("-" * len(header))
    p95 = percentile(everything, 95)
    print(
        f"{'ensemble':<26}{len(everything):>6}{'':>11}{percentile(everything, 50):>8.2f}{p95:>8.2f}"
        f"{percentile(everything, 99):>8.2f}{max(everything):>8.2f}   {'oui' if p95 < TARGET_P95_MS else 'NON'}"
    )
    print("(temps en ms, côté serveur : list(patient_search(q)) ; résultats = nombre moyen de patients rendus)")
    if missed:
        print(f"Cible manquée pour : {', '.join(missed)} (voir bench/README.md)")
    times = chart["times"]
    print()
    print(f"Dossier patient (patients:chart, secrétaire, {len(times)} patients QUAL, requête complète) :")
    print(f"  médiane {statistics.median(times):.1f} ms, p95 {percentile(times, 95):.1f} ms, max {max(times):.1f} ms")
    print("  requêtes SQL par page : " + ", ".join(f"{s} {n}" for s, n in chart["queries"].items()))


def database_label() -> str:
    from django.db import connection

    if connection.vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        row = cursor.fetchone()
    return f"PostgreSQL {row[0] if row else ''}".strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500, help="requêtes par type (5 types)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--charts", type=int, default=100, help="pages de dossier mesurées")
    parser.add_argument("--slowest", type=int, default=0, help="afficher les N recherches les plus lentes")
    args = parser.parse_args()
    _setup()

    ensure_practice(args.patients, args.seed)
    from caducee.patients.models import Patient

    rng = random.Random(args.seed)
    queries = build_queries(args.queries, rng)
    slowest: list[tuple[float, str, str]] = []
    results = bench_search(queries, slowest)
    chart = bench_chart(args.charts, rng)
    engine = database_label()
    report(
        results,
        chart,
        f"Recherche de patients (patient_search, R17) — {engine}, "
        f"{Patient.objects.count()} patients, {args.queries} requêtes par type",
    )
    if args.slowest:
        print(f"\nLes {args.slowest} recherches les plus lentes :")
        for elapsed, kind, q in slowest[: args.slowest]:
            print(f"  {elapsed:8.2f} ms  {kind:<26} {q!r}")


if __name__ == "__main__":
    main()
    sys.exit(0)
