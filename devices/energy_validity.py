"""What makes an energy figure valid, in one file: every reason a row's energy is left empty or flagged.

An energy per inference is kept only when all of these hold; otherwise its columns stay empty and
`extra["energy_invalid"]` says why (or, for a thin figure, `extra["energy_few_samples"]` flags it):

1. The device ran on its battery. On USB or a charger the battery current includes charging, so the power
   read there is not what the model cost (`battery_samples_verdict`, Android and iOS alike).
2. There were power readings at all (the probe's own reason is kept when there were none).
3. The timed loop is known on the host's clock, where the power samples are (devices/timing.py):
   `NO_WINDOW` otherwise.
4. Some power sample lies near the timed window: `NO_SAMPLE_NEAR_WINDOW` otherwise.
5. At least MIN_WINDOW_SAMPLES samples inside the window; with fewer the figure stands but rests on
   interpolation, and the row says so in its validity notes (`few_samples_note`).

The integral itself (trapezoid over the window, idle baseline subtracted) is harness/statistics/energy.py.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

# Fewer samples than this inside the window: the integral rests on interpolation, not measurement.
MIN_WINDOW_SAMPLES = 5

NO_WINDOW = "timed window unknown on the host's clock: no energy per inference"
NO_SAMPLE_NEAR_WINDOW = "no power sample near the timed window"

ON_EXTERNAL_POWER = {
    "android": ("phone powered over USB/charger during the run: battery current includes charging, so no energy "
                "per inference"),
    "ios": ("iPhone charging or on external power during the run: the battery's current includes charging, so "
            "no energy per inference"),
}

S = TypeVar("S")


def battery_samples_verdict(samples: Sequence[S], on_external_power: bool, device: str,
                            no_readings_why: str) -> tuple[list[S], dict[str, object]]:
    """Rules 1 and 2 for a battery-powered device: the samples to keep as the row's power and what to add
    to extra. On external power none are kept (they are recorded aside, as `power_samples_while_powered`)."""
    if on_external_power:
        return [], {"energy_invalid": ON_EXTERNAL_POWER[device], "power_samples_while_powered": list(samples)}
    if not samples:
        return [], {"energy_invalid": no_readings_why}
    return list(samples), {}


def few_samples_note(samples_in_window: int, window_s: float) -> str | None:
    """Rule 5: the note a thin figure carries, or None when the window held enough samples."""
    if samples_in_window >= MIN_WINDOW_SAMPLES:
        return None
    return (f"{samples_in_window} power samples in the {window_s:.2f} s timed window "
            f"(< {MIN_WINDOW_SAMPLES}): energy rests on interpolation")
