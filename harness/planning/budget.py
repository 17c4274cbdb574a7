"""A device's budget: what a variant may cost (latency, size, memory, energy) and may lose (accuracy).

Written in devices.yaml (`budget: {p99_ms: 30, accuracy_drop: 0.5pt, size_mb: 5}`) or as `harness
recommend` flags (`--p99 30ms --accuracy-drop 0.5pt --size 5MB`). Each value is a number in the key's
own unit or a string with a unit; they are parsed once into a typed Budget here, so every other part
reads milliseconds, megabytes, millijoules. The accuracy drop needs its unit said: `pt` (percentage
points of a top-1 or mAP fraction), `dB` (PSNR) or `%` (relative to fp32's value).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields, replace
from collections.abc import Mapping

from errors import quote

# key -> (unit it is stored in, {unit spelling: factor to that unit}); a bare number is the key's unit.
_TIME = {"ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}
_SIZE = {"mb": 1.0, "kb": 0.001, "gb": 1000.0, "b": 1e-6, "mib": 1.048576, "kib": 0.001024, "gib": 1073.741824}
_ENERGY = {"mj": 1.0, "j": 1000.0, "uj": 0.001, "µj": 0.001}
UNITS: dict[str, tuple[str, dict[str, float]]] = {
    "p50_ms": ("ms", _TIME), "p99_ms": ("ms", _TIME), "size_mb": ("MB", _SIZE), "memory_mb": ("MB", _SIZE),
    "energy_mj": ("mJ", _ENERGY),
}
ACCURACY_UNITS = {"pt": "pt", "db": "dB", "%": "%"}
KEYS = ("p50_ms", "p99_ms", "accuracy_drop", "size_mb", "memory_mb", "energy_mj")
_NUMBER = r"([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)"


class BudgetError(ValueError):
    """A budget value that cannot be read; the message says why, the caller says where."""


@dataclass(frozen=True)
class AccuracyDrop:
    """The most accuracy a variant may lose against fp32: `amount` in `unit` (pt, dB or %)."""

    amount: float
    unit: str

    def __str__(self) -> str:
        return f"{self.amount:g}{'' if self.unit == '%' else ' '}{self.unit}"


@dataclass(frozen=True)
class Budget:
    p50_ms: float | None = None
    p99_ms: float | None = None
    accuracy_drop: AccuracyDrop | None = None
    size_mb: float | None = None
    memory_mb: float | None = None
    energy_mj: float | None = None

    def merged(self, over: Budget) -> Budget:
        """This budget with every key `over` sets replaced (flags over devices.yaml)."""
        given = {f.name: getattr(over, f.name) for f in fields(over) if getattr(over, f.name) is not None}
        return replace(self, **given)

    def items(self) -> list[tuple[str, float | AccuracyDrop]]:
        return [(k, getattr(self, k)) for k in KEYS if getattr(self, k) is not None]

    def text(self) -> str:
        names = {"p50_ms": "p50", "p99_ms": "p99", "accuracy_drop": "accuracy drop", "size_mb": "size",
                 "memory_mb": "memory", "energy_mj": "energy"}
        units = {"p50_ms": " ms", "p99_ms": " ms", "size_mb": " MB", "memory_mb": " MB", "energy_mj": " mJ"}
        return ", ".join(f"{names[k]} ≤ {v if isinstance(v, AccuracyDrop) else f'{v:g}'}{units.get(k, '')}"
                         for k, v in self.items()) or "none"


def parse_value(key: str, value: object) -> float | AccuracyDrop:
    """One budget value: `30`, `"30ms"`, `"0.03 s"`; `"0.5pt"`, `"0.3dB"`, `"1%"` for accuracy_drop."""
    if key not in KEYS:
        raise BudgetError(f"unknown budget {quote(str(key), 40)} (known: {', '.join(KEYS)})")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BudgetError(f"expected a number or a number with a unit (got {quote(str(value), 40)})")
    if key == "accuracy_drop":
        match = re.fullmatch(rf"\s*{_NUMBER}\s*(pt|db|%)\s*", str(value), re.IGNORECASE)
        if not match:
            raise BudgetError(f"expected an amount with its unit, pt (points), dB or % "
                              f"(e.g. 0.5pt), got {quote(str(value), 40)}")
        amount = float(match.group(1))
        if not math.isfinite(amount):
            raise BudgetError(f"must be a finite number (got {quote(str(value), 40)})")
        return AccuracyDrop(amount, ACCURACY_UNITS[match.group(2).lower()])
    unit, factors = UNITS[key]
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        match = re.fullmatch(rf"\s*{_NUMBER}\s*([a-zµ]*)\s*", value, re.IGNORECASE)
        suffix = match.group(2).lower() if match else ""
        if not match or (suffix and suffix not in factors):
            raise BudgetError(f"expected a number in {unit} or with a unit ({', '.join(_spell(factors))}), "
                              f"got {quote(value, 40)}")
        number = float(match.group(1)) * (factors[suffix] if suffix else 1.0)
    if not math.isfinite(number) or number <= 0:
        raise BudgetError(f"must be a number above 0 (got {quote(str(value), 40)})")
    return number


def _spell(factors: dict[str, float]) -> list[str]:
    return [{"mb": "MB", "kb": "kB", "gb": "GB", "b": "B", "mib": "MiB", "kib": "KiB", "gib": "GiB", "mj": "mJ",
             "j": "J", "uj": "uJ"}.get(k, k) for k in factors if k != "µs" and k != "µj"]


def parse_budget(data: object) -> Budget:
    """A devices.yaml `budget:` mapping; BudgetError names the key that is wrong."""
    if data is None:
        return Budget()
    if not isinstance(data, dict):
        raise BudgetError("expected a mapping such as {p99_ms: 30, accuracy_drop: 0.5pt, size_mb: 5}")
    out: dict[str, float | AccuracyDrop] = {}
    for key, value in data.items():
        try:
            out[str(key)] = parse_value(str(key), value)
        except BudgetError as exc:
            raise BudgetError(f"{key}: {exc}" if str(key) in KEYS else str(exc)) from None
    return budget_of(out)


def budget_of(values: Mapping[str, float | AccuracyDrop]) -> Budget:
    """A Budget from values parse_value read, by key (each of the right kind: parse_value gives an AccuracyDrop
    for accuracy_drop only)."""
    def limit(key: str) -> float | None:
        value = values.get(key)
        return value if isinstance(value, float) else None

    drop = values.get("accuracy_drop")
    return Budget(p50_ms=limit("p50_ms"), p99_ms=limit("p99_ms"),
                  accuracy_drop=drop if isinstance(drop, AccuracyDrop) else None, size_mb=limit("size_mb"),
                  memory_mb=limit("memory_mb"), energy_mj=limit("energy_mj"))
