"""The JSON parts of a Measurement, typed: its metrics, its sampler series and the sensors left out of them.

They are stored as JSON in the row (columns `metrics`, `extra`; `series` and `ignored_sensors` in the row's JSON),
so every key is optional (`total=False`): an older row, another target or another pass has other ones, and a key
absent is a figure not measured. The names carry their units. `extra` (what a target saw that has no column) stays
a JSON object that readers narrow: its keys are each target's own facts (devices/), an open set.
"""
from __future__ import annotations

import types
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Literal, TypedDict, Union, get_args, get_origin, get_type_hints, is_typeddict

from converters.variant_metrics import VariantMetrics

if TYPE_CHECKING:
    from typing_extensions import TypeIs


class Metrics(VariantMetrics, total=False):
    """What the variant keeps (converters.build) plus what the row computes from its latency and the device's peak,
    and, where the device's own outputs were scored, their accuracy (converters.device_eval: accuracy_source)."""

    pass_params: dict[str, int | float | str | bool | None]  # the pass's parameters as the variant label wrote them
    achieved_gflops: float  # 2 x MACs / p50 latency, GFLOP/s
    device_peak_gflops: float  # the device's matmul probe for the kernels this variant runs, GFLOP/s
    peak_kind: str  # fp32 | int8: which probe is the denominator
    fraction_of_peak: float  # achieved / peak, 0..1; absent when the probe is no denominator (note says why)
    fraction_of_peak_note: str
    device_peak_rounds_gflops: list[float]  # each round of the peak probe, GFLOP/s
    device_peak_swing: float  # max / min - 1 of those rounds


class Series(TypedDict, total=False):
    """Every sample a sampler took, aligned on `t_s` (None where a sample did not print that figure);
    per rail / sensor / core dictionaries map its name to its column."""

    t_s: list[float]  # seconds on the host's clock (the reporting timeline shifts it to start at 0)
    rails_mw: dict[str, list[float | None]]  # tegrastats: each rail's instant power, mW
    power_mw: dict[str, list[float | None]]  # a meter or battery: each source's power, mW
    temps_c: dict[str, list[float | None]]  # each sensor, C (placeholders left out: ignored_sensors)
    cpu_load_pct: dict[str, list[float | None]]  # cpuN -> load %
    cpu_freq_mhz: dict[str, list[float | None]]  # cpuN -> MHz (None while the core is off)
    gpu_load_pct: list[float | None]
    gpu_freq_mhz: list[float | None]
    emc_load_pct: list[float | None]
    emc_freq_mhz: list[float | None]
    ram_used_mb: list[float | None]
    swap_used_mb: list[float | None]
    throttled_now: list[list[str]]  # Raspberry Pi: the throttle bits set at each sample (vcgencmd get_throttled)


class IgnoredSensor(TypedDict, total=False):
    """A placeholder a sampler read and left out of the series (devices/probes/placeholders.py)."""

    sensor: str
    value: str  # as printed
    reason: str
    times_printed: int  # tegrastats: how many lines of the log printed it


def as_row_metrics(counted: VariantMetrics) -> Metrics:
    """A variant's metrics as the start of its row's (the row adds what it computes)."""
    row: Metrics = {}
    return {**row, **counted}


def facts(extra: Mapping[str, object], key: str) -> dict[str, object]:
    """`extra[key]` where it is a JSON object (a target's facts about one thing: tegrastats, sustained, ...),
    else empty: a reader narrows each value it uses."""
    value = extra.get(key)
    return value if isinstance(value, dict) else {}


def number(value: object) -> float | None:
    """A JSON number as float; None for anything else (null, text, true/false)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def is_metrics(values: Mapping[str, object]) -> TypeIs[Metrics]:
    """True when every key `Metrics` names has a value of its type (other keys may be there: an imported log's
    own figures); what lets a dict read from elsewhere become a row's metrics without taking it on trust."""
    return isinstance(values, dict) and misfit(Metrics, values) is None


def misfit(typed: type, values: Mapping[str, object]) -> str | None:
    """The first key the TypedDict `typed` names whose value in `values` is not of its type; None if all fit."""
    return next((k for k, hint in _hints(typed).items() if k in values and not _fits(hint, values[k])), None)


def is_series(value: object) -> TypeIs[Series]:
    """True for a JSON object whose keys `Series` names hold columns of its types (a target's series in extra)."""
    return _fits(Series, value)


def is_ignored_sensors(value: object) -> TypeIs[list[IgnoredSensor]]:
    """True for a JSON list of placeholders as samplers record them ({sensor, value, reason})."""
    return _fits(list[IgnoredSensor], value)


@cache
def _hints(typed: type) -> dict[str, object]:
    return get_type_hints(typed)


def _fits(hint: object, value: object) -> bool:
    """Does the JSON value have the type `hint`: TypedDicts (their named keys; others may be there), dicts with
    str keys, lists, unions, literals and the JSON scalars; an int is a float, a bool is neither."""
    if is_typeddict(hint):
        assert isinstance(hint, type)
        return isinstance(value, dict) and all(_fits(h, value[k]) for k, h in _hints(hint).items() if k in value)
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(a, value) for a in args)
    if origin is Literal:
        return value in args
    if origin is list:
        return isinstance(value, list) and all(_fits(args[0], v) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) and _fits(args[1], v) for k, v in value.items())
    if hint is type(None):
        return value is None
    if isinstance(value, bool):
        return hint is bool
    if hint is float:
        return isinstance(value, (int, float))
    return isinstance(hint, type) and isinstance(value, hint)
