"""The idle baseline: with bench.idle_power_s the power probe first runs that long with the device at rest,
and what it read before the job started is the baseline (subtracted from the timed window's energy by
harness/statistics/energy.py). One rule for every target that samples power."""
from __future__ import annotations

import time
from typing import TypeVar

P = TypeVar("P", bound=tuple[float, float, str])  # (host time s, mW, source)


def idle_seconds(bench: object) -> float:
    """How long to rest before the job (bench.idle_power_s; 0 or absent: no baseline)."""
    return float(getattr(bench, "idle_power_s", 0.0) or 0.0)


def rest_before_job(idle_s: float) -> float:
    """Let the sampler read the device at rest for idle_s, then return the host time the job starts."""
    if idle_s:
        time.sleep(idle_s)
    return time.time()


def split_idle(samples: list[P], busy_from: float, idle_s: float) -> tuple[list[P], list[P]]:
    """(busy, idle) by the samples' host time (first element); without a baseline every sample is busy."""
    if not idle_s:
        return list(samples), []
    return [p for p in samples if p[0] >= busy_from], [p for p in samples if p[0] < busy_from]
