"""Benchmark: the doctor's patient chart with a rich record and 500 past consultations (issue 3 §6).

    .venv/bin/python bench/bench_chart.py [--consultations 500] [--runs 50]

Its own SQLite database in var/bench-chart/ unless DATABASE_URL is set (then it must be a scratch database:
the tables are flushed). Time is server-side, through Django's test client (middleware, session, audit,
template). Target: < 50 ms. A benchmark reports; it never fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--consultations", type=int, default=500)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caducee.config.settings")
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("CADUCEE_DATA_DIR", str(ROOT / "var" / "bench-chart"))
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from caducee.accounts.models import User
    from caducee.cabinet.demo import seed_demo
    from caducee.patients.models import Patient
    from caducee.record.models import Consultation

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    seed_demo(synthetic_patients=0)
    doctor = User.objects.get(username="dr.martin")
    patient = Patient.objects.filter(alds__isnull=False).distinct().order_by("pk").first()
    assert patient is not None
    Consultation.objects.bulk_create(
        Consultation(patient=patient, author=doctor, motif=f"Consultation {i}", state="validee")
        for i in range(args.consultations)
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(doctor)
    url = f"/patients/{patient.pk}/"
    client.get(url)
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    times.sort()
    print(
        f"chart ({connection.vendor}, {args.consultations} consultations, rich record): "
        f"median {statistics.median(times):.1f} ms, p95 {times[int(0.95 * len(times)) - 1]:.1f} ms, "
        f"{len(queries)} queries (target < 50 ms)"
    )


if __name__ == "__main__":
    main()
