"""Benchmark: the MSSanté address book over a full-size public extraction (issue 5 §9: search < 30 ms).

    .venv/bin/python bench/bench_annuaire.py [--rows 500000] [--queries 400] [--seed 2026]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/caducee_bench .venv/bin/python bench/bench_annuaire.py

A fresh SQLite database in var/bench-annuaire/ unless DATABASE_URL is set (then that database is used; its
directory rows are replaced by the import). Measured:

1. `generate_extraction` of N synthetic rows (fictitious people, the real file's 31 columns);
2. `caducee annuaire import FILE --json` in a child process: wall time, CPU time and the child's peak resident
   memory (`getrusage(RUSAGE_CHILDREN)`);
3. `directory_search` p50/p95/max over many queries "3 letters + city" and "3 letters + specialty" (half drawn from
   one existing entry — name prefix and its own city or specialty —, half mixing a prefix with another entry's
   city or specialty, which finds few or no rows: the worst case for a name-range walk), target < 30 ms;
4. the same after adding the two composite indexes proposed for `DirectoryEntry` (unless already there):
   (search_city, search_name) and (search_specialty, search_name) — their build time is printed too.

A benchmark reports; it never fails: the exit status is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_common import fresh_django, percentile

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "var" / "bench-annuaire"
PROPOSED_INDEXES = {
    "mss_directory_city_name": ("search_city", "search_name"),
    "mss_directory_specialty_name": ("search_specialty", "search_name"),
}


def _setup() -> None:
    fresh_django(DATA_DIR)


def _caducee(*args: str) -> list[str]:
    return [sys.executable, "-m", "caducee.cli", *args]


def _queries(count: int, seed: int) -> dict[str, list[tuple[str, str, str]]]:
    """(name text, city, specialty) queries drawn from the imported rows."""
    from caducee.mss.models import DirectoryEntry

    rng = random.Random(seed)
    ids = list(DirectoryEntry.objects.values_list("id", flat=True).order_by("id"))
    sample = list(
        DirectoryEntry.objects.filter(id__in=rng.sample(ids, min(len(ids), count * 2))).values(
            "family_name", "organisation", "city", "specialty", "profession"
        )
    )
    rng.shuffle(sample)

    def name3(row: dict[str, str]) -> str:
        return (row["family_name"] or row["organisation"])[:3].lower()

    def specialty_word(row: dict[str, str]) -> str:
        label = row["specialty"] or row["profession"]
        return max(label.replace("-", " ").split(), key=len).lower() if label else "infirmier"

    half = count // 2
    city = [(name3(r), r["city"].lower(), "") for r in sample[:half] if r["city"]]
    city += [
        (name3(a), b["city"].lower(), "")
        for a, b in zip(sample[: half // 2], sample[half : half + half // 2], strict=False)
    ]
    spec = [(name3(r), "", specialty_word(r)) for r in sample[half : 2 * half]]
    spec += [
        (name3(a), "", specialty_word(b)) for a, b in zip(sample[: half // 2], sample[-(half // 2) :], strict=False)
    ]
    rng.shuffle(city)
    rng.shuffle(spec)
    return {"3 lettres + ville": city[:half], "3 lettres + spécialité": spec[:half]}


def _run_queries(queries: dict[str, list[tuple[str, str, str]]]) -> dict[str, dict[str, float]]:
    from django.db import reset_queries

    from caducee.mss.annuaire.search import directory_search

    results: dict[str, dict[str, float]] = {}
    for kind, items in queries.items():
        for text, city, specialty in items[:20]:  # warm the cache (pages, the specialty list)
            directory_search(text, city=city, specialty=specialty)
        timings: list[float] = []
        cpu: list[float] = []
        found = 0
        for text, city, specialty in items:
            started, started_cpu = time.perf_counter(), time.process_time()
            entries = directory_search(text, city=city, specialty=specialty)
            timings.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            found += bool(entries)
            reset_queries()
        results[kind] = {
            "n": len(timings),
            "with_results": found,
            "p50_ms": round(statistics.median(timings), 2),
            "p95_ms": round(percentile(timings, 95), 2),
            "max_ms": round(max(timings), 2),
            # This process's CPU only (SQLite works in-process; PostgreSQL's server time is not in it): on a
            # loaded machine the wall time also counts the waits for a CPU.
            "cpu_p50_ms": round(statistics.median(cpu), 2),
            "cpu_p95_ms": round(percentile(cpu, 95), 2),
        }
    return results


def _existing_indexes() -> set[str]:
    from django.db import connection

    from caducee.mss.models import DirectoryEntry

    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, DirectoryEntry._meta.db_table)
    return {
        name
        for name, info in constraints.items()
        if info.get("index") and tuple(info.get("columns") or ()) in PROPOSED_INDEXES.values()
    }


def _drop_bench_indexes() -> None:
    """A previous run's indexes (PostgreSQL keeps them) go, unless the model declares them."""
    from django.db import connection

    from caducee.mss.models import DirectoryEntry

    declared = {index.name for index in DirectoryEntry._meta.indexes}
    with connection.cursor() as cursor:
        for name in PROPOSED_INDEXES:
            if name not in declared:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")


def _add_proposed_indexes() -> float:
    from django.db import connection

    from caducee.mss.models import DirectoryEntry

    table = connection.ops.quote_name(DirectoryEntry._meta.db_table)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for name, columns in PROPOSED_INDEXES.items():
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(columns)})")
        cursor.execute(f"ANALYZE {table}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    _setup()
    from django.db import connection

    from caducee.sandbox.annuaire import generate_extraction

    backend = connection.vendor
    report: dict[str, object] = {"database": backend, "rows": args.rows, "load_average": os.getloadavg()}
    path = DATA_DIR / "Extraction_Correspondance_MSSante_bench.txt"
    started = time.perf_counter()
    generate_extraction(path, rows=args.rows, seed=args.seed)
    report["generate_s"] = round(time.perf_counter() - started, 1)
    report["file_mb"] = round(path.stat().st_size / 1e6, 1)

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.run(  # noqa: S603 (our own command)
        _caducee("annuaire", "import", str(path), "--json"),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        cwd=ROOT,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode != 0:
        print(child.stdout, child.stderr, file=sys.stderr)
        raise SystemExit("import failed")
    imported = json.loads(child.stdout)
    report["import"] = {
        "wall_s": round(wall, 1),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
        "rows_per_s": round(imported["lignes"] / wall),
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
        "imported": imported["importees"],
        "duplicates": imported["doublons"],
        "bad_lines": imported["lignes_invalides"],
    }

    queries = _queries(args.queries, args.seed)
    _drop_bench_indexes()
    present = _existing_indexes()
    report["search_as_committed"] = _run_queries(queries)
    report["composite_indexes_already_present"] = sorted(present)
    if len(present) < len(PROPOSED_INDEXES):
        report["create_proposed_indexes_s"] = round(_add_proposed_indexes(), 1)
        report["search_with_proposed_indexes"] = _run_queries(queries)
    report["load_average_end"] = os.getloadavg()
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
