"""Sustained performance: what a model costs after minutes of use, not only in a short cool window.

A sustained run is one unbroken timed loop (rpi/runner.py `_sustained_loop`, or back-to-back tool runs)
cut into windows. From the windows, the temperatures and the clock readings this module gives the cold
p50 (the first window), the steady-state p50 (the windows of the last `steady_s`), their ratio, the time
of the first throttle event (a CPU clock or its cap falling, or a thermal status at or above 1) and the
temperature reached. Pure functions of the row's samples: a table and a test get the same figures.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.statistics.throttle import DEFAULT_TOLERANCE, ClockReading

if TYPE_CHECKING:
    from devices.runner_result import RunnerResult

# Readings as the runner writes them, [t_s, phase, values] (devices.runner_result TempReading, ClockReading).
TempRow = tuple[float, str, Mapping[str, float]]
ClockRow = tuple[float, str, ClockReading]

SAMPLES_KEPT = 20_000  # a sustained row keeps at most this many latencies (about 200 KB of JSON)
STEADY_MAX_S = 120.0  # "steady state": the last two minutes, or the last third of a shorter run
STEADY_SHARE = 1.0 / 3.0


@dataclass(frozen=True)
class Window:
    """One window of the loop: it ended `end_s` after the timed loop started."""

    end_s: float
    runs: int
    p50_us: float | None
    hottest_c: float | None
    cpu_mhz: float | None  # the highest core's clock at the window's last reading


@dataclass(frozen=True)
class SustainedSummary:
    duration_s: float
    cold_p50_us: float | None  # the first window
    steady_p50_us: float | None  # every run in the windows of the last steady_s
    steady_p99_us: float | None
    steady_s: float  # how much of the end counted as steady state
    steady_over_cold: float | None  # steady p50 / cold p50: 1.3 = 30 % slower after `duration_s`
    first_throttle_s: float | None  # seconds after the loop started; None: no event seen
    throttle_cause: str | None
    temp_start_c: float | None
    temp_reached_c: float | None  # the hottest zone's highest reading during the loop
    interrupted: bool
    windows: tuple[Window, ...]

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["windows"] = [asdict(w) for w in self.windows]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SustainedSummary:
        known: dict[str, Any] = {k: data.get(k) for k in cls.__dataclass_fields__ if k != "windows"}
        return cls(**known, windows=tuple(Window(**w) for w in data.get("windows") or ()))


def _hottest(zones: Mapping[str, float]) -> float | None:
    return max(zones.values()) if zones else None


def _cur(clocks: ClockReading) -> float | None:
    vals = [float(v.get("cur") or 0) if isinstance(v, Mapping) else float(v) for v in clocks.values()]
    vals = [v for v in vals if v > 0]
    return max(vals) if vals else None


def first_throttle(cpu_freq: Sequence[ClockRow], statuses: Sequence[tuple[float, int]] = (),
                   tolerance: float = DEFAULT_TOLERANCE) -> tuple[float | None, str | None]:
    """The earliest throttle event: (t_s on the readings' clock, what happened). Readings are
    [t_s, phase, {cpu: {"cur": MHz, "max": MHz}}]; `statuses` (t_s, Android thermal status)."""
    events: list[tuple[float, str]] = []
    caps: dict[str, float] = {}
    peak: float | None = None
    for row in cpu_freq:
        if len(row) != 3:
            continue
        t, phase, clocks = float(row[0]), row[1], row[2]
        for cpu, v in clocks.items():
            if isinstance(v, Mapping) and v.get("max"):
                cap = float(v["max"])
                if phase == "run" and cpu in caps and cap < caps[cpu]:
                    events.append((t, f"{cpu} frequency cap fell from {caps[cpu]:.0f} to {cap:.0f} MHz"))
                    break
                caps[cpu] = max(caps.get(cpu, 0.0), cap)
        cur = _cur(clocks)
        if cur is None or phase == "before":
            continue
        if peak is not None and cur < (1.0 - tolerance) * peak:
            events.append((t, f"CPU clock fell from {peak:.0f} to {cur:.0f} MHz"))
        peak = cur if peak is None else max(peak, cur)
    for t, status in statuses:
        if status >= 1:
            events.append((float(t), f"thermal status {status}"))
            break
    if not events:
        return None, None
    return min(events, key=lambda e: e[0])


def summarize_sustained(latencies_us: Sequence[float], windows: Sequence[Sequence[float]],
                        temperatures: Sequence[TempRow] = (), cpu_freq: Sequence[ClockRow] = (),
                        statuses: Sequence[tuple[float, int]] = (), timed_start_s: float = 0.0,
                        interrupted: bool = False, steady_s: float | None = None,
                        window_p50_us: Sequence[float | None] | None = None) -> SustainedSummary:
    """`windows` are [end t_s, runs done so far] on the readings' clock (the timed loop started at
    `timed_start_s` on it); every time in the summary counts from the loop's start. Tools that print no
    samples give `window_p50_us` (one p50 per window) instead of `latencies_us`."""
    lat = np.asarray(latencies_us, dtype=np.float64)
    ends = [(float(w[0]) - timed_start_s, int(w[1])) for w in windows]
    duration = ends[-1][0] if ends else 0.0
    steady = steady_s if steady_s is not None else min(STEADY_MAX_S, duration * STEADY_SHARE)
    rows: list[Window] = []
    steady_idx: list[int] = []
    start_n, start_t = 0, 0.0
    temps = [(float(r[0]) - timed_start_s, _hottest(r[2])) for r in temperatures if len(r) == 3]
    clocks = [(float(r[0]) - timed_start_s, _cur(r[2])) for r in cpu_freq if len(r) == 3]
    for i, (end, n) in enumerate(ends):
        chunk = lat[start_n:n] if lat.size else lat
        if window_p50_us is not None:
            p50 = window_p50_us[i]
        else:
            p50 = float(np.median(chunk)) if chunk.size else None
        hot = [h for t, h in temps if start_t < t <= end + 1e-6 and h is not None]
        mhz = [c for t, c in clocks if start_t < t <= end + 1e-6 and c is not None]
        rows.append(Window(round(end, 3), n - start_n, round(p50, 3) if p50 is not None else None,
                           max(hot) if hot else None, mhz[-1] if mhz else None))
        if end > duration - steady - 1e-9 or i == len(ends) - 1:
            steady_idx.append(i)
        start_n, start_t = n, end
    cold = rows[0].p50_us if rows else None
    if lat.size and steady_idx:
        first = ends[steady_idx[0] - 1][1] if steady_idx[0] > 0 else 0
        tail = lat[first:]
        steady_p50: float | None = float(np.median(tail)) if tail.size else None
        steady_p99: float | None = float(np.percentile(tail, 99)) if tail.size >= 100 else None
    else:
        vals = [p for p in (rows[i].p50_us for i in steady_idx) if p is not None]
        steady_p50, steady_p99 = (float(np.median(vals)) if vals else None), None
    t_throttle, cause = first_throttle(cpu_freq, statuses)
    run_temps = [h for t, h in temps if 0 <= t <= duration + 1e-6 and h is not None]
    before = [h for t, h in temps if t <= 0 and h is not None]
    return SustainedSummary(
        duration_s=round(duration, 3),
        cold_p50_us=cold,
        steady_p50_us=round(steady_p50, 3) if steady_p50 is not None else None,
        steady_p99_us=round(steady_p99, 3) if steady_p99 is not None else None,
        steady_s=round(steady, 3),
        steady_over_cold=round(steady_p50 / cold, 4) if steady_p50 and cold else None,
        first_throttle_s=round(t_throttle - timed_start_s, 3) if t_throttle is not None else None,
        throttle_cause=cause,
        temp_start_c=before[-1] if before else (run_temps[0] if run_temps else None),
        temp_reached_c=max(run_temps) if run_temps else None,
        interrupted=interrupted,
        windows=tuple(rows),
    )


def from_runner(r: RunnerResult, statuses: Sequence[tuple[float, int]] = ()) -> SustainedSummary | None:
    """The summary of a runner result in sustained mode (it has windows); None otherwise."""
    if not r.windows:
        return None
    statuses = list(statuses) + [(float(t), int(v)) for t, v in r.thermal_status]
    return summarize_sustained(r.latencies_us, r.windows, r.temperatures, r.cpu_freq, statuses,
                               float(r.timed_start_s or 0.0), bool(r.interrupted), window_p50_us=r.window_p50_us)


def sustained_text(s: SustainedSummary) -> str:
    """`cold 12.1 ms, 15.8 ms after 6.0 min (x1.31); first throttle at 2.1 min (CPU clock fell ...); 71 C`."""
    def ms(us: float | None) -> str:
        return f"{us / 1000:.3g} ms" if us is not None else "-"

    def when(t: float) -> str:
        return f"{t / 60:.1f} min" if t >= 90 else f"{t:.0f} s"

    parts = [f"cold {ms(s.cold_p50_us)}, {ms(s.steady_p50_us)} after {when(s.duration_s)}"
             + (f" (x{s.steady_over_cold:.2f})" if s.steady_over_cold else "")]
    parts.append(f"first throttle at {when(s.first_throttle_s)} ({s.throttle_cause})"
                 if s.first_throttle_s is not None else "no throttle event")
    if s.temp_reached_c is not None:
        parts.append(f"reached {s.temp_reached_c:.1f} C")
    if s.interrupted:
        parts.append("interrupted")
    return "; ".join(parts)


def bounded_sample(latencies_us: Sequence[float], bound: int = SAMPLES_KEPT) -> tuple[tuple[float, ...],
                                                                                       dict[str, object]]:
    """At most `bound` of a long loop's latencies, evenly spaced in time order (every (n/bound)-th, the
    first kept), so a stored row stays bounded (600 000 runs of a 10-minute loop would be tens of MB) and
    the kept ones still cover cold start and steady state in proportion. Every figure of the row (the
    percentiles, each window's p50, cold and steady state) is computed from all of them before this; what
    the sample serves is a later comparison's bootstrap. Returns the kept samples and what says so."""
    n = len(latencies_us)
    if n <= bound:
        return tuple(latencies_us), {}
    kept = tuple(latencies_us[(i * n) // bound] for i in range(bound))
    return kept, {"kept": bound, "of": n, "how": f"every {n / bound:.2f}-th in time order; the row's figures, "
                                                  "windows and steady state from all of them"}
