"""Pure statistics over raw latency samples: percentiles, spread and validity checks."""
from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Iterable, Mapping, Sequence

from harness.store.results import Measurement, Validity

# MAD x 1.4826 estimates the standard deviation of normal data; one outlier barely moves it.
MAD_TO_SIGMA = 1.4826
# Below this many samples p99 is close to the maximum (MLPerf asks for enough queries per percentile).
P99_MIN_RUNS = 100


@dataclass(frozen=True)
class LatencySummary:
    """Every figure is measured or None: a tool that printed only some statistics leaves the rest empty."""

    count: int
    p50_us: float | None
    p90_us: float | None
    p99_us: float | None
    mean_us: float
    std_us: float | None
    min_us: float | None
    max_us: float | None
    cv: float | None
    p5_us: float | None = None
    p95_us: float | None = None
    mad_us: float | None = None
    robust_spread: float | None = None  # sigma-equivalent share of the median: 1.4826 MAD / median


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


def median(values: Sequence[float]) -> float:
    return percentile(sorted(values), 50)


def summarize(samples: Sequence[float]) -> LatencySummary:
    """Summary of latency samples; CV is the sample standard deviation over the mean."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    n = len(ordered)
    mean = sum(ordered) / n
    var = sum((x - mean) ** 2 for x in ordered) / (n - 1) if n > 1 else 0.0
    std = math.sqrt(var)
    p50 = percentile(ordered, 50)
    mad = median([abs(x - p50) for x in ordered])
    return LatencySummary(
        count=n,
        p50_us=p50,
        p90_us=percentile(ordered, 90),
        p99_us=percentile(ordered, 99),
        mean_us=mean,
        std_us=std,
        min_us=ordered[0],
        max_us=ordered[-1],
        cv=std / mean if mean > 0 else 0.0,
        p5_us=percentile(ordered, 5),
        p95_us=percentile(ordered, 95),
        mad_us=mad,
        robust_spread=MAD_TO_SIGMA * mad / p50 if p50 > 0 else 0.0,
    )


def _num(d: Mapping[str, float | int | None], key: str) -> float | None:
    v = d.get(key)
    return float(v) if v is not None else None


def summary_from_printed(d: Mapping[str, float | int | None]) -> LatencySummary:
    """A LatencySummary from a tool's printed statistics, each under its own name; absent ones stay None.

    Without samples the robust spread comes from the printed upper percentiles (p95 - p50 is 1.645
    sigma for normal data, p90 - p50 is 1.2816 sigma); with neither it is unknown.
    """
    printed_mean = d["mean_us"]
    if printed_mean is None:  # as float(None) would: a printed summary always has its mean
        raise TypeError("a printed summary without mean_us")
    mean = float(printed_mean)
    std = _num(d, "std_us")
    p50, p90, p95 = _num(d, "p50_us"), _num(d, "p90_us"), _num(d, "p95_us")
    spread = None
    if p50:
        if p95 is not None:
            spread = (p95 - p50) / 1.645 / p50
        elif p90 is not None:
            spread = (p90 - p50) / 1.2816 / p50
    return LatencySummary(
        count=int(d.get("count") or 0), p50_us=p50, p90_us=p90, p99_us=_num(d, "p99_us"), mean_us=mean,
        std_us=std, min_us=_num(d, "min_us"), max_us=_num(d, "max_us"),
        cv=(std / mean if mean and std is not None else None), p5_us=_num(d, "p5_us"), p95_us=p95,
        robust_spread=spread,
    )


def level_shift(samples: Sequence[float]) -> float | None:
    """How far the median of a window's second half lies from its first half's (|ratio - 1|), samples in
    time order. A steady window moves ~1 %; on this Firecracker VM a window now and then ran its first
    half at 1.9x and its second at 1x with nothing else running (the hypervisor packing the two vCPUs on
    one core): its robust spread stayed under 10 % because more than half the samples sat in one level.
    None under 20 samples."""
    n = len(samples)
    if n < 20:
        return None
    first, second = median(samples[: n // 2]), median(samples[n // 2:])
    return abs(second / first - 1.0) if first > 0 else None


def judge(
    *,
    runs: int,
    duration_s: float,
    cv: float | None,
    min_runs: int,
    min_s: float,
    cv_threshold: float,
    throttled: bool,
    ops_total: int | None,
    ops_delegated: int | None,
    delegate: str | None,
    robust_spread: float | None = None,
    spread_threshold: float = 0.10,
    p99_measured: bool = False,
    throttle_why: str | None = None,
    shift: float | None = None,
) -> Validity:
    """Validity flags, following benchmark_model (runs and seconds), pyperf (a robust spread judges
    stability; CV, which one outlier inflates, is kept as a fact) and MLPerf (enough runs for p99)."""
    notes: list[str] = []
    min_runs_met = runs >= min_runs
    if not min_runs_met:
        notes.append(f"{runs} runs < {min_runs} (max_s reached first)")
    min_duration_met = duration_s + 1e-9 >= min_s
    if not min_duration_met:
        notes.append(f"{duration_s:.2f} s < {min_s:.2f} s")
    cv_ok = cv is None or cv <= cv_threshold
    stable: bool | None = None
    if robust_spread is not None:
        stable = robust_spread <= spread_threshold
        if not stable:
            notes.append(f"robust spread (1.4826 MAD/median) {robust_spread:.1%} > {spread_threshold:.0%}: "
                         "results are unstable")
        elif not cv_ok:
            notes.append(f"CV {cv:.1%} > {cv_threshold:.0%} from a few outliers; the median is steady")
    if shift is not None and shift > spread_threshold:
        stable = False
        notes.append(f"level shift: the window's second half's median is {shift:.0%} away from its first half's "
                     f"(> {spread_threshold:.0%}): the machine changed speed during the run; results are unstable")
    elif not cv_ok:  # no robust figure (a tool printed only mean and std): CV is all there is
        notes.append(f"CV {cv:.1%} > {cv_threshold:.0%}: results are unstable")
    if p99_measured and runs < P99_MIN_RUNS:
        notes.append(f"p99 from {runs} runs (< {P99_MIN_RUNS}) is close to the maximum")
    if throttled:
        notes.append(throttle_why or "thermal throttling seen during the run")
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
        stable=stable,
    )


@dataclass(frozen=True)
class RepeatSpread:
    """Run-to-run variation of one key measured N times: the N medians and their spread."""

    medians_us: tuple[float, ...]
    median_of_medians_us: float
    spread: float  # (max - min) / median of the medians
    mad_spread: float  # 1.4826 MAD / median of the medians


def repeat_spread(medians_us: Sequence[float]) -> RepeatSpread:
    """How far N repeated medians of one job lie apart (run-to-run variance, measured not assumed)."""
    if not medians_us:
        raise ValueError("no medians")
    mid = median(medians_us)
    mad = median([abs(x - mid) for x in medians_us])
    return RepeatSpread(tuple(medians_us), mid, (max(medians_us) - min(medians_us)) / mid if mid else 0.0,
                        MAD_TO_SIGMA * mad / mid if mid else 0.0)


def repeat_spreads(rows: Iterable[Measurement]) -> dict[tuple[str, str, str], RepeatSpread]:
    """Per (device, model, variant) with more than one ok repeat: the spread of their medians."""
    medians: dict[tuple[str, str, str], dict[int, float]] = {}
    for m in rows:
        if m.status == "ok" and m.p50_us:
            medians.setdefault(m.key, {})[m.repeat_index] = m.p50_us
    return {k: repeat_spread([v[i] for i in sorted(v)]) for k, v in medians.items() if len(v) > 1}
