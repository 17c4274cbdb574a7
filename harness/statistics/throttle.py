"""Throttling seen, not guessed: did a CPU clock fall while the timed loop ran? Pure functions.

Two signs, both read from cpufreq (or tegrastats) samples taken before and during the timed window:
a CPU's frequency cap (scaling_max_freq) lowered below its value before the run (a thermal or
power governor stepped in), or the running clock (the highest core's frequency at a sample) fell
more than `tolerance` below the highest it had reached earlier in the window.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

DEFAULT_TOLERANCE = 0.10
# One clock reading: {cpuN: {"cur": MHz, "max": MHz}} (rpi/runner.py read_cpufreq), or {cpuN: MHz} from a probe.
ClockReading = Mapping[str, Mapping[str, float] | float]


def _cur(reading: ClockReading) -> float | None:
    vals = [float(v["cur"] if isinstance(v, Mapping) else v) for v in reading.values()
            if (v.get("cur") if isinstance(v, Mapping) else v)]
    return max(vals) if vals else None


def clock_fell(before: Sequence[ClockReading], during: Sequence[ClockReading],
               tolerance: float = DEFAULT_TOLERANCE) -> tuple[bool | None, str | None]:
    """(fell, why) from readings {cpu: {"cur": MHz, "max": MHz}} (or {cpu: MHz}); None when no reading."""
    if not during:
        return None, None
    caps_before: dict[str, float] = {}
    for reading in before:
        for cpu, v in reading.items():
            if isinstance(v, Mapping) and v.get("max"):
                caps_before[cpu] = max(caps_before.get(cpu, 0.0), float(v["max"]))
    for reading in during:
        for cpu, v in reading.items():
            if isinstance(v, Mapping) and v.get("max") and cpu in caps_before and float(v["max"]) < caps_before[cpu]:
                return True, (f"{cpu} frequency cap fell from {caps_before[cpu]:.0f} to {float(v['max']):.0f} MHz "
                              "during the timed window")
    peak: float | None = None
    for reading in during:
        cur = _cur(reading)
        if cur is None:
            continue
        if peak is not None and cur < (1.0 - tolerance) * peak:
            return True, f"CPU clock fell from {peak:.0f} to {cur:.0f} MHz during the timed window"
        peak = cur if peak is None else max(peak, cur)
    return (False, None) if peak is not None else (None, None)
