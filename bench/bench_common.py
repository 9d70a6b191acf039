"""Helpers shared by the benchmarks (run as `python bench/bench_*.py`: this directory is on sys.path)."""

from __future__ import annotations

import math


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
