"""Benchmark: the DMP feed and consultation against the sandbox DMP, over the real client and the real outbox.

    .venv/bin/python bench/bench_dmp.py [--documents 500] [--consultations 30] [--listing 200]

A fresh SQLite database in var/bench-dmp/ unless DATABASE_URL is set (then that database is used: give it an
empty one). The sandboxes run in their own process (`caducee sandbox`), the worker in its own (`caducee worker`),
as in production. Measured (issue 4 §7):

1. outbox throughput: N documents already queued, `caducee worker --until-idle` in a child process — documents
   per second (wall time of the child, start-up included, and the span between the first and last `sent_at`),
   and the worker's peak resident memory (`getrusage(RUSAGE_CHILDREN)`), target ≥ 50 documents/s and < 200 MB;
2. from "Valider" to the VSM registered in the sandbox DMP, with a worker running (`caducee worker`, its
   default polling): `consultation_validate(make_vsm=True, send_dmp=True)` then polling the delivery until it is
   sent — p50/p95, target p95 < 1 s;
3. TD3.1 on a DMP holding 200 documents: `DmpClient.find_documents` (client + sandbox), and the chart's first
   full `dmp_refresh` (TD0.2 + TD3.1 + 200 entries written) — target < 300 ms.

A benchmark reports; it never fails: the exit status is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_common import percentile

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "var" / "bench-dmp"


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caducee.config.settings")
    os.environ["CADUCEE_SANDBOX"] = "1"
    os.environ["CADUCEE_DATA_DIR"] = str(DATA_DIR)
    # A fresh database restarts the document sequences: the sandbox DMP's store goes with it (as `caducee demo`).
    names = ["sandbox/dmp.sqlite3"] + ([] if os.environ.get("DATABASE_URL") else ["caducee.sqlite3"])
    for name in names:
        for suffix in ("", "-wal", "-shm"):
            (DATA_DIR / f"{name}{suffix}").unlink(missing_ok=True)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def _caducee(*args: str) -> list[str]:
    return [sys.executable, "-m", "caducee.cli", *args]


def start_sandbox() -> subprocess.Popen[bytes]:
    """`caducee sandbox` in its own process; once it published its settings (DATA_DIR/sandbox.env), this process,
    started before it, takes them (the workers started later read them at their start)."""
    from caducee.core.endpoints import apply_endpoint_settings, read_settings_file

    published = DATA_DIR / "sandbox.env"
    published.unlink(missing_ok=True)
    process = subprocess.Popen(_caducee("sandbox"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        values = read_settings_file(published)
        if "CADUCEE_DMP_URL" in values:
            apply_endpoint_settings(values)
            return process
        time.sleep(0.05)
    process.kill()
    raise SystemExit("le bac à sable ne démarre pas")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--consultations", type=int, default=30)
    parser.add_argument("--listing", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="worker processes sending the queue at once")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker process")
    options = parser.parse_args()
    _setup()

    from django.core.management import call_command
    from django.utils import timezone

    from caducee.accounts.models import User
    from caducee.cabinet.consultations import consultation_validate
    from caducee.cabinet.demo import seed_demo
    from caducee.core.models import Delivery
    from caducee.dmp.client import dmp_client
    from caducee.dmp.models import DmpConsent
    from caducee.dmp.selectors import dmp_caller_for, dmp_patient_ins
    from caducee.dmp.services import dmp_refresh, dmp_send_document
    from caducee.documents.letters.services import letter_create
    from caducee.documents.models import LetterTemplate
    from caducee.identity.models import Status
    from caducee.patients.models import Patient
    from caducee.patients.synthetic import generate_practice
    from caducee.record.consultations import consultation_open

    call_command("migrate", interactive=False, verbosity=0)
    seed_demo(synthetic_patients=0)
    generate_practice(patients=int((options.documents + options.consultations + 10) / 0.45) + 50, seed=7)
    doctor = User.objects.get(username="dr.martin")
    template = LetterTemplate.objects.first()
    assert template is not None
    qualified = list(
        Patient.objects.filter(identity__status=Status.QUAL, identity__ins_matricule__gt="")
        .select_related("identity")
        .order_by("pk")[: options.documents + options.consultations + 1]
    )
    sandbox = start_sandbox()
    try:
        # 1. Throughput and memory.
        started = time.perf_counter()
        for patient in qualified[: options.documents]:
            document = letter_create(
                actor=doctor, patient=patient, template=template, correspondent="Dr Confrère", body="Bilan."
            )
            dmp_send_document(actor=doctor, document=document)
        print(f"{options.documents} courriers produits et mis en file en {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        command = _caducee("worker", "--until-idle", "--threads", str(options.threads))
        workers = [subprocess.Popen(command, stdout=subprocess.DEVNULL) for _ in range(options.workers)]  # noqa: S603
        for worker in workers:
            worker.wait()
        wall = time.perf_counter() - started
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        sent = list(Delivery.objects.filter(state=Delivery.State.SENT).values_list("sent_at", flat=True))
        rejected = Delivery.objects.exclude(state=Delivery.State.SENT).count()
        span = (max(sent) - min(sent)).total_seconds() if len(sent) > 1 else float("nan")
        print(
            f"Débit ({options.workers} worker(s) × {options.threads} fil(s)) : {len(sent)} envoyés, "
            f"{rejected} non envoyés ; "
            f"{len(sent) / wall:.1f} doc/s (processus entiers, {wall:.1f} s) ; "
            f"{len(sent) / span:.1f} doc/s entre le 1er et le dernier envoi ; "
            f"mémoire max d'un worker {rss_mb:.0f} Mo"
        )

        # 2. From "Valider" to registered, the worker running as in production.
        worker = subprocess.Popen(_caducee("worker"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        time.sleep(2)  # start-up
        latencies = []
        for patient in qualified[options.documents : options.documents + options.consultations]:
            consultation = consultation_open(actor=doctor, patient=patient)
            t0 = time.perf_counter()
            (vsm,) = consultation_validate(
                actor=doctor, consultation=consultation, make_vsm=True, vsm_exclude=set(), send_dmp=True
            )
            while not Delivery.objects.filter(document_ref=vsm.unique_id, state=Delivery.State.SENT).exists():
                if time.perf_counter() - t0 > 30:
                    break
                time.sleep(0.005)
            latencies.append((time.perf_counter() - t0) * 1000)
        worker.terminate()
        worker.wait(timeout=30)
        print(
            f"Valider → VSM enregistré dans le DMP ({len(latencies)} consultations) : "
            f"p50 {statistics.median(latencies):.0f} ms, p95 {percentile(latencies, 95):.0f} ms"
        )

        # 3. TD3.1 on a DMP of N documents.
        patient = qualified[-1]
        for _ in range(options.listing):
            document = letter_create(actor=doctor, patient=patient, template=template, correspondent="X", body="Suivi.")
            dmp_send_document(actor=doctor, document=document)
        subprocess.run(_caducee("worker", "--until-idle"), check=True, stdout=subprocess.DEVNULL)  # noqa: S603
        api, caller, ins = dmp_client(), dmp_caller_for(doctor), dmp_patient_ins(patient)
        api.set_authorization(caller, ins)
        timings, count = [], 0
        for _ in range(20):
            t0 = time.perf_counter()
            count = len(api.find_documents(caller, ins))
            timings.append((time.perf_counter() - t0) * 1000)
        DmpConsent.objects.create(patient=patient, consult_consent=True, recorded_by=doctor, recorded_at=timezone.now())
        t0 = time.perf_counter()
        entries = dmp_refresh(actor=doctor, patient=patient)
        refresh_ms = (time.perf_counter() - t0) * 1000
        print(
            f"TD3.1 FindDocuments ({count} documents) : p50 {statistics.median(timings):.0f} ms, "
            f"p95 {percentile(timings, 95):.0f} ms ; premier dmp_refresh complet ({len(entries)} entrées) "
            f"{refresh_ms:.0f} ms"
        )
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)


if __name__ == "__main__":
    main()
