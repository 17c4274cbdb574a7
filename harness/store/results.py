"""Result records: frozen dataclasses with units in field names and raw samples kept.

One `SCHEMA_VERSION` covers the JSON the runner prints, the JSON export and the SQLite database.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

# 2: runs.label (indexed), set by `harness nightly` to find the last good night.
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class TempSample:
    """One temperature reading of every zone at `t_s` seconds after the job started."""

    t_s: float
    phase: str  # before | run | after
    zones_c: dict[str, float]


@dataclass(frozen=True)
class PowerSample:
    """One power reading (a rail or a battery) at `t_s` seconds after the job started."""

    t_s: float
    power_mw: float
    source: str = ""


@dataclass(frozen=True)
class Validity:
    """Why a measurement can or cannot be trusted; `valid` is all of them at once."""

    min_runs_met: bool
    min_duration_met: bool
    cv_ok: bool
    no_throttling: bool
    delegate_full: bool
    notes: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return all(
            (self.min_runs_met, self.min_duration_met, self.cv_ok, self.no_throttling, self.delegate_full)
        )

    def flags(self) -> list[str]:
        """Short names of the checks that failed, for tables."""
        names = {
            "min_runs_met": "runs",
            "min_duration_met": "duration",
            "cv_ok": "cv",
            "no_throttling": "throttled",
            "delegate_full": "delegate",
        }
        return [short for attr, short in names.items() if not getattr(self, attr)]


@dataclass(frozen=True)
class Measurement:
    """One (run, device, model, variant) benchmark; an error row has `status='error'` and no samples."""

    run_id: str
    device: str
    model: str
    variant: str
    status: str  # ok | error
    error: str | None = None
    schema_version: int = SCHEMA_VERSION
    runtime: str | None = None
    runtime_version: str | None = None
    threads: int | None = None
    delegate: str | None = None
    model_size_bytes: int | None = None
    init_us: float | None = None
    first_inference_us: float | None = None
    latencies_us: tuple[float, ...] = ()
    duration_s: float | None = None
    p50_us: float | None = None
    p90_us: float | None = None
    p99_us: float | None = None
    mean_us: float | None = None
    std_us: float | None = None
    min_us: float | None = None
    max_us: float | None = None
    cv: float | None = None
    peak_rss_mb: float | None = None
    peak_rss_delta_mb: float | None = None
    temp_before_c: float | None = None
    temp_after_c: float | None = None
    temp_max_c: float | None = None
    temperatures: tuple[TempSample, ...] = ()
    power_samples: tuple[PowerSample, ...] = ()
    avg_power_mw: float | None = None
    energy_per_inference_mj: float | None = None
    ops_total: int | None = None
    ops_delegated: int | None = None
    validity: Validity | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # accuracy, MACs, GFLOP/s, size, ...
    extra: dict[str, Any] = field(default_factory=dict)  # target-specific facts (throttle bits, ...)
    started_at: float | None = None
    finished_at: float | None = None
    # The machine that drove the device: this host in single-host mode, the agent's name in a farm.
    # Kept in the row's JSON only (no column, no migration): older files read it as None.
    host: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.device, self.model, self.variant)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.validity is not None:
            data["validity"]["valid"] = self.validity.valid
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Measurement":
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        if data.get("validity") is not None:
            v = dict(data["validity"])
            v.pop("valid", None)
            v["notes"] = tuple(v.get("notes", ()))
            data["validity"] = Validity(**v)
        data["latencies_us"] = tuple(data.get("latencies_us") or ())
        data["temperatures"] = tuple(TempSample(**t) for t in data.get("temperatures") or ())
        data["power_samples"] = tuple(PowerSample(**p) for p in data.get("power_samples") or ())
        return cls(**data)


@dataclass(frozen=True)
class RunInfo:
    """A run: what was asked, where, with which code, and how it ended."""

    run_id: str
    created_at: float
    host: str
    git_revision: str | None
    packages: dict[str, str]
    plan: dict[str, Any]
    status: str = "running"  # running | finished | interrupted
    schema_version: int = SCHEMA_VERSION
    label: str | None = None  # e.g. nightly:ok, nightly:regression
