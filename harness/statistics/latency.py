"""Pure statistics over raw latency samples: percentiles, variation and validity checks."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from harness.store.results import Validity


@dataclass(frozen=True)
class LatencySummary:
    count: int
    p50_us: float
    p90_us: float
    p99_us: float
    mean_us: float
    std_us: float
    min_us: float
    max_us: float
    cv: float


def percentile(sorted_samples: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) of already sorted samples, q in [0, 100]."""
    if not sorted_samples:
        raise ValueError("no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside [0, 100]")
    pos = (len(sorted_samples) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_samples) - 1)
    frac = pos - lo
    return sorted_samples[lo] + (sorted_samples[hi] - sorted_samples[lo]) * frac


def summarize(samples: Sequence[float]) -> LatencySummary:
    """Summary of latency samples; CV is the sample standard deviation over the mean."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    n = len(ordered)
    mean = sum(ordered) / n
    var = sum((x - mean) ** 2 for x in ordered) / (n - 1) if n > 1 else 0.0
    std = math.sqrt(var)
    return LatencySummary(
        count=n,
        p50_us=percentile(ordered, 50),
        p90_us=percentile(ordered, 90),
        p99_us=percentile(ordered, 99),
        mean_us=mean,
        std_us=std,
        min_us=ordered[0],
        max_us=ordered[-1],
        cv=std / mean if mean > 0 else 0.0,
    )


def judge(
    *,
    runs: int,
    duration_s: float,
    cv: float,
    min_runs: int,
    min_s: float,
    cv_threshold: float,
    throttled: bool,
    ops_total: int | None,
    ops_delegated: int | None,
    delegate: str | None,
) -> Validity:
    """Validity flags, following benchmark_model (runs and seconds) and pyperf/trtexec (variation)."""
    notes: list[str] = []
    min_runs_met = runs >= min_runs
    if not min_runs_met:
        notes.append(f"{runs} runs < {min_runs} (max_s reached first)")
    min_duration_met = duration_s + 1e-9 >= min_s
    if not min_duration_met:
        notes.append(f"{duration_s:.2f} s < {min_s:.2f} s")
    cv_ok = cv <= cv_threshold
    if not cv_ok:
        notes.append(f"CV {cv:.1%} > {cv_threshold:.0%}: results are unstable")
    if throttled:
        notes.append("thermal throttling seen during the run")
    delegate_full = True
    if delegate not in (None, "none", "cpu") and ops_total:
        delegate_full = (ops_delegated or 0) >= ops_total
        if not delegate_full:
            notes.append(f"delegate {delegate} took {ops_delegated or 0}/{ops_total} ops")
    return Validity(
        min_runs_met=min_runs_met,
        min_duration_met=min_duration_met,
        cv_ok=cv_ok,
        no_throttling=not throttled,
        delegate_full=delegate_full,
        notes=tuple(notes),
    )
