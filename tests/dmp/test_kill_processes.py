"""Issue 4 §3: kill the worker or the sandbox DMP at any moment — nothing is lost, nothing is registered twice.

Real processes, as in production: `caducee sandbox` (the DMP over mutual TLS, its own SQLite store) and two
`caducee worker`, on a SQLite database file. They are killed with SIGKILL at random moments (seeded) while
documents are being sent, and restarted; then the workers are left to finish. Every delivery must end "sent",
and the sandbox's registry must hold each document exactly once (one Approved entry per uniqueId).
Short lease and back-off (settings) so that a killed worker's claim and a refused connection are retried in
seconds, not minutes.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

DOCUMENTS = 100
SEED = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from caducee.accounts.models import User
from caducee.dmp.services import dmp_send_document
from caducee.documents.letters.services import letter_create
from caducee.documents.models import LetterTemplate
from caducee.identity.models import Status
from caducee.cabinet.demo import seed_demo
from caducee.patients.models import Patient
from caducee.patients.synthetic import generate_practice

seed_demo(synthetic_patients=0)
generate_practice(patients=300, seed=3)
doctor = User.objects.get(username="dr.martin")
template = LetterTemplate.objects.first()
patients = Patient.objects.filter(identity__status=Status.QUAL, identity__ins_matricule__gt="").order_by("pk")
for patient in patients[:{count}]:
    document = letter_create(actor=doctor, patient=patient, template=template, correspondent="Dr X", body="Bilan.")
    dmp_send_document(actor=doctor, document=document)
"""


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # this test's own SQLite file
    env.update(
        CADUCEE_DATA_DIR=str(data_dir),
        CADUCEE_SANDBOX="1",
        CADUCEE_OUTBOX_LEASE_SECONDS="2",
        CADUCEE_OUTBOX_BACKOFF_SECONDS="1",
        DJANGO_SETTINGS_MODULE="caducee.config.settings",
        CADUCEE_LOG_LEVEL="CRITICAL",
    )
    return env


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "caducee.cli", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _sandbox(env: dict[str, str], data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """`caducee sandbox` on a fixed DMP port: the workers read its endpoint settings once, at their start
    (DATA_DIR/sandbox.env), and a restarted sandbox must answer where they look."""
    published = data_dir / "sandbox.env"
    published.unlink(missing_ok=True)
    process = _start(env, "sandbox", "--only", "dmp", "--dmp-port", str(port))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "CADUCEE_DMP_URL=" in (published.read_text(encoding="utf-8") if published.exists() else ""):
            return process
        time.sleep(0.05)
    process.kill()
    raise AssertionError("le bac à sable ne démarre pas")


def _states(db: Path) -> dict[str, int]:
    with sqlite3.connect(db, timeout=30) as conn:
        return dict(conn.execute("SELECT state, count(*) FROM core_delivery GROUP BY state").fetchall())


def _time_passes(db: Path) -> None:
    """Back-offs run out (they double with every failure while the DMP is down: minutes after a few kills)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    with sqlite3.connect(db, timeout=30) as conn:
        conn.execute("UPDATE core_delivery SET next_attempt_at = ? WHERE state = 'failed'", (now,))


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def test_killing_workers_and_the_sandbox_loses_nothing_and_registers_nothing_twice(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = _env(data_dir)
    subprocess.run([sys.executable, "-c", SEED.format(count=DOCUMENTS)], env=env, check=True, timeout=300)
    db = data_dir / "caducee.sqlite3"
    assert _states(db) == {"pending": DOCUMENTS}

    rng = random.Random(20261123)
    port = _free_port()
    sandbox = _sandbox(env, data_dir, port)
    workers = [_start(env, "worker", "--sleep", "0.1") for _ in range(2)]
    kills = {"worker": 0, "sandbox": 0}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _states(db).get("sent", 0) < DOCUMENTS * 0.9:
            time.sleep(rng.uniform(0.1, 0.6))
            if rng.random() < 0.65:
                index = rng.randrange(len(workers))
                _kill(workers[index])
                kills["worker"] += 1
                workers[index] = _start(env, "worker", "--sleep", "0.1")
            else:
                _kill(sandbox)
                kills["sandbox"] += 1
                time.sleep(rng.uniform(0.0, 1.0))  # the DMP stays down a moment
                sandbox = _sandbox(env, data_dir, port)
            _time_passes(db)
        # Left alone, the workers finish: every delivery is sent.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _states(db).get("sent", 0) < DOCUMENTS:
            _time_passes(db)
            time.sleep(0.3)
    finally:
        for process in [*workers, sandbox]:
            if process.poll() is None:
                _kill(process)

    assert kills["worker"] >= 3 and kills["sandbox"] >= 2, kills
    assert _states(db) == {"sent": DOCUMENTS}
    with sqlite3.connect(db) as conn:
        sent = {row[0] for row in conn.execute("SELECT document_unique_id FROM core_delivery")}
    with sqlite3.connect(data_dir / "sandbox" / "dmp.sqlite3") as conn:
        rows = conn.execute(
            "SELECT unique_id, count(*) FROM documents WHERE is_signature = 0 AND status LIKE '%Approved' "
            "GROUP BY unique_id"
        ).fetchall()
    registered = {unique_id: count for unique_id, count in rows if unique_id in sent}
    assert set(registered) == sent  # nothing lost
    assert set(registered.values()) == {1}  # nothing registered twice
