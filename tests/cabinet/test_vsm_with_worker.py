"""Issue 13 §4: `caducee vsm --ald --send-dmp` while a worker sends (SQLite) — no « database is locked ».

Real processes on a temporary SQLite data dir, as the acceptance check runs them: `caducee seed-demo`, then
`caducee sandbox` (the DMP) and `caducee worker --threads 2` in the background, then the command.

The cause: the command streamed the ALD patients through one open read cursor (`QuerySet.iterator()`) and wrote
each summary while it was open. On SQLite (WAL) an open read statement pins the connection to a snapshot; once
another process has committed (the worker claiming the first VSM queued), the next `BEGIN IMMEDIATE` of that
connection cannot upgrade the stale snapshot and fails at once with « database is locked » — the busy timeout does
not apply. The seed-demo practice has fewer ALD patients than a chunk of the stream (the cursor is then exhausted
by the first read): the first run of the test makes chunks of 2 patients, as a practice with more ALD patients
than a chunk has them, and fails before the fix; the second runs the command exactly as the acceptance check does.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

SMALL_CHUNKS = """
import sys
import django
django.setup()
from django.core.management import call_command
from caducee.cabinet.management.commands import vsm
vsm.CHUNK = 2  # more ALD patients than a chunk, as in a real practice (200 a chunk)
call_command("vsm", "--ald", "--send-dmp")
"""


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # this test's own SQLite file
    env.update(
        CADUCEE_DATA_DIR=str(data_dir),
        CADUCEE_SANDBOX="1",
        DJANGO_SETTINGS_MODULE="caducee.config.settings",
        CADUCEE_LOG_LEVEL="CRITICAL",
    )
    return env


def _caducee(*args: str) -> list[str]:
    return [sys.executable, "-m", "caducee.cli", *args]


def _queued(db: Path) -> dict[str, int]:
    with sqlite3.connect(db, timeout=30) as conn:
        return dict(conn.execute("SELECT state, count(*) FROM core_delivery GROUP BY state").fetchall())


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_vsm_send_dmp_exits_0_while_a_worker_sends(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = _env(data_dir)
    db = data_dir / "caducee.sqlite3"
    subprocess.run(_caducee("migrate", "-v", "0"), env=env, check=True, timeout=300, capture_output=True)
    subprocess.run(_caducee("seed-demo"), env=env, check=True, timeout=300, capture_output=True)

    published = data_dir / "sandbox.env"
    sandbox = subprocess.Popen(
        _caducee("sandbox", "--only", "dmp"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    worker: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 60
        while "CADUCEE_DMP_URL=" not in (published.read_text(encoding="utf-8") if published.exists() else ""):
            assert time.monotonic() < deadline and sandbox.poll() is None, "le bac à sable ne démarre pas"
            time.sleep(0.05)
        worker = subprocess.Popen(
            _caducee("worker", "--threads", "2"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(1.0)  # the worker polls the outbox

        runs = [
            subprocess.run([sys.executable, "-c", SMALL_CHUNKS], env=env, capture_output=True, timeout=300),
            subprocess.run(_caducee("vsm", "--ald", "--send-dmp"), env=env, capture_output=True, timeout=300),
        ]
        for run in runs:
            errors = run.stderr.decode(errors="replace")
            assert run.returncode == 0, errors[-3000:]
            assert "database is locked" not in errors
            assert "envoi(s) au DMP mis en file d'attente" in run.stdout.decode()
        assert worker.poll() is None, "le worker s'est arrêté"

        # The worker went on sending meanwhile: every queued summary reaches the DMP.
        deadline = time.monotonic() + 90
        while set(_queued(db)) != {"sent"} and time.monotonic() < deadline:
            time.sleep(0.3)
        states = _queued(db)
        assert set(states) == {"sent"} and states["sent"] >= 2, states
    finally:
        if worker is not None:
            _stop(worker)
        _stop(sandbox)
