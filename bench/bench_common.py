"""Helpers shared by the benchmarks (run as `python bench/bench_*.py`: this directory is on sys.path)."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def fresh_django(data_dir: Path) -> None:
    """Django on a fresh SQLite database in `data_dir` (or on DATABASE_URL when set), migrated."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caducee.config.settings")
    os.environ["CADUCEE_DATA_DIR"] = str(data_dir)
    if not os.environ.get("DATABASE_URL"):
        for suffix in ("", "-wal", "-shm"):
            (data_dir / f"caducee.sqlite3{suffix}").unlink(missing_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
