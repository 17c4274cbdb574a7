"""Energy over the timed window only: pure functions over timestamped power samples.

A power series covers more than the timed loop (process start, model load, warm-up, on a phone
even the push). Energy per inference is the integral of power over the runner's timed window
(trapezoid, the window's edges interpolated from the neighbouring samples), optionally minus an
idle baseline measured before the job, divided by the inferences timed in that window.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

from devices.energy_validity import MIN_WINDOW_SAMPLES  # the validity rules, all in one file

__all__ = ["MIN_WINDOW_SAMPLES", "WindowEnergy", "idle_baseline", "integrate_window", "window_energy"]


@dataclass(frozen=True)
class WindowEnergy:
    energy_mj: float  # over the window, idle baseline subtracted when given
    avg_power_mw: float  # mean power over the window (the integral over its length), idle not subtracted
    samples_in_window: int
    window_s: float
    idle_power_mw: float | None
    few_samples: bool  # fewer than MIN_WINDOW_SAMPLES inside the window

    def per_inference_mj(self, inferences: int) -> float | None:
        return self.energy_mj / inferences if inferences > 0 else None


def _at(series: list[tuple[float, float]], t: float) -> float:
    """Power at time t, linear between neighbours, the nearest sample's value outside the series."""
    if t <= series[0][0]:
        return series[0][1]
    if t >= series[-1][0]:
        return series[-1][1]
    for (t0, p0), (t1, p1) in zip(series, series[1:]):
        if t0 <= t <= t1:
            return p0 if t1 == t0 else p0 + (p1 - p0) * (t - t0) / (t1 - t0)
    return series[-1][1]  # not reached


def integrate_window(samples: Sequence[tuple[float, float]], lo_s: float, hi_s: float) -> float | None:
    """mW x s = mJ of power over [lo_s, hi_s] by the trapezoid rule; None without samples or window."""
    if hi_s <= lo_s or not samples:
        return None
    series = sorted((float(t), float(p)) for t, p in samples)
    points = [(lo_s, _at(series, lo_s))] + [(t, p) for t, p in series if lo_s < t < hi_s] + [(hi_s, _at(series, hi_s))]
    return sum((t1 - t0) * (p0 + p1) / 2.0 for (t0, p0), (t1, p1) in zip(points, points[1:]))


def idle_baseline(samples: Sequence[tuple[float, float]]) -> float | None:
    """Median power of samples taken at rest before the job (robust to one reading during a spike)."""
    values = sorted(float(p) for _, p in samples)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2.0


def window_energy(samples: Sequence[tuple[float, float]], lo_s: float, hi_s: float,
                  idle_samples: Sequence[tuple[float, float]] = (),
                  min_samples: int = MIN_WINDOW_SAMPLES) -> WindowEnergy | None:
    """Energy over [lo_s, hi_s] from (t_s, mW) samples on the window's clock; None when no sample lies
    within one sample gap of the window (nothing to interpolate from)."""
    if hi_s <= lo_s or not samples:
        return None
    ts = sorted(float(t) for t, _ in samples)
    gap = max((b - a for a, b in zip(ts, ts[1:])), default=hi_s - lo_s)
    if ts[-1] < lo_s - gap or ts[0] > hi_s + gap:
        return None
    total = integrate_window(samples, lo_s, hi_s)
    if total is None:
        return None
    inside = sum(1 for t in ts if lo_s <= t <= hi_s)
    idle = idle_baseline(idle_samples)
    window = hi_s - lo_s
    energy = total - (idle * window if idle is not None else 0.0)
    return WindowEnergy(energy_mj=energy, avg_power_mw=total / window, samples_in_window=inside,
                        window_s=window, idle_power_mw=idle, few_samples=inside < min_samples)
