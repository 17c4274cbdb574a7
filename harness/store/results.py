"""Result records: frozen dataclasses with units in field names and raw samples kept.

One `SCHEMA_VERSION` covers the JSON the runner prints, the JSON export and the SQLite database.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from harness.store.row_fields import IgnoredSensor, Metrics, Series

# 2: runs.label (indexed), set by `harness nightly` to find the last good night.
# 3: measurements.repeat_index (part of the row key, for `run --repeat N`); p5/p95 and the other
#    percentiles only as measured (summary-only rows lose the p90/p99/min/max a tool never printed).
# 4: measurements.host_others_cpu_pct, host_steal_pct, host_run_queue: what else used this host's CPUs
#    while the job ran (harness.orchestration.hostload); nullable, empty on older rows and remote targets.
SCHEMA_VERSION = 4


@dataclass(frozen=True)
class TempSample:
    """One temperature reading of every zone at `t_s` seconds after the job started."""

    t_s: float
    phase: str  # before | run | after
    zones_c: dict[str, float]


@dataclass(frozen=True)
class PowerSample:
    """One power reading (a rail, a battery, a hwmon sensor) at `t_s` seconds after the job started
    (on the host's clock; the timed window is in `extra["power_window"]` on the same origin)."""

    t_s: float
    power_mw: float
    source: str = ""


@dataclass(frozen=True)
class Validity:
    """Why a measurement can or cannot be trusted; `valid` is all of them at once."""

    min_runs_met: bool
    min_duration_met: bool
    cv_ok: bool  # CV under cv_threshold: kept as a fact; it judges stability only on rows older than `stable`
    no_throttling: bool
    delegate_full: bool
    notes: tuple[str, ...] = ()
    stable: bool | None = None  # robust spread (MAD/median) under its threshold; None on rows before schema 3
    # Other processes took no more than their share of the host's CPUs while the job ran
    # (harness.orchestration.hostload); None where it was not measured (remote targets, older rows).
    host_quiet: bool | None = None

    @property
    def valid(self) -> bool:
        steady = self.cv_ok if self.stable is None else self.stable
        return all((self.min_runs_met, self.min_duration_met, steady, self.no_throttling, self.delegate_full,
                    self.host_quiet is not False))

    def flags(self) -> list[str]:
        """Short names of the checks that failed, for tables."""
        names = {
            "min_runs_met": "runs",
            "min_duration_met": "duration",
            "no_throttling": "throttled",
            "delegate_full": "delegate",
        }
        out = [short for attr, short in names.items() if not getattr(self, attr)]
        if self.stable is None and not self.cv_ok:
            out.insert(2, "cv")
        elif self.stable is False:
            out.insert(2, "unstable")
        if self.host_quiet is False:
            out.append("host busy")
        return out


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
    delegate: str | None = None  # the delegate that ran (runner's report), never only the one asked for
    delegate_requested: str | None = None
    repeat_index: int = 0  # `run --repeat N`: which of the N interleaved measurements of this key
    model_size_bytes: int | None = None
    init_us: float | None = None
    first_inference_us: float | None = None
    latencies_us: tuple[float, ...] = ()
    duration_s: float | None = None
    # Percentiles: computed from raw samples, or what the tool printed under its own name; empty otherwise.
    p5_us: float | None = None
    p50_us: float | None = None
    p90_us: float | None = None
    p95_us: float | None = None
    p99_us: float | None = None
    mean_us: float | None = None
    std_us: float | None = None
    min_us: float | None = None
    max_us: float | None = None
    cv: float | None = None
    robust_spread: float | None = None  # 1.4826 x MAD / median (a sigma-equivalent share; judges stability)
    # Memory: each quantity under its own name, empty where the target cannot see it.
    peak_rss_mb: float | None = None  # VmHWM of the measuring process
    peak_rss_delta_mb: float | None = None  # peak RSS above the process before the model was loaded
    peak_footprint_mb: float | None = None  # benchmark_model's periodic-monitoring peak footprint
    end_rss_mb: float | None = None  # VmRSS when the run ended (not a peak)
    board_ram_used_peak_mb: float | None = None  # whole-board RAM in use (tegrastats), highest in the session
    temp_before_c: float | None = None
    temp_after_c: float | None = None
    temp_max_c: float | None = None
    temperatures: tuple[TempSample, ...] = ()
    power_samples: tuple[PowerSample, ...] = ()
    avg_power_mw: float | None = None  # over the timed window, idle baseline not subtracted
    idle_power_mw: float | None = None  # measured before the job (bench idle_power_s), when asked for
    energy_per_inference_mj: float | None = None  # timed window only, trapezoid, minus idle when measured
    energy_source: str | None = None  # rail, battery or hwmon sensor the power came from
    power_samples_in_window: int | None = None
    cpu_clock_fell: bool | None = None  # a CPU clock (or its cap) fell during the timed window
    # What else ran on the host during the job (harness.orchestration.hostload): other processes' CPU time
    # and the hypervisor's steal as a percentage of all CPUs, and the runnable tasks at the end.
    host_others_cpu_pct: float | None = None
    host_steal_pct: float | None = None
    host_run_queue: int | None = None
    ops_total: int | None = None
    ops_delegated: int | None = None
    validity: Validity | None = None
    metrics: Metrics = field(default_factory=Metrics)  # accuracy, MACs, GFLOP/s, size, ... (row_fields: units)
    # Target-specific facts (throttle bits, probes, energy validity...): each target's own JSON, narrowed where read.
    extra: dict[str, object] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None
    # Every sample a sampler took, aligned on series["t_s"] (tegrastats: rails_mw, temps_c, cpu/gpu/emc loads
    # and clocks per sample), and the placeholders left out of it ([{sensor, value, reason}], see
    # devices/probes/placeholders.py). Kept in the row's JSON like `host` (no column; older rows read empty).
    series: Series = field(default_factory=Series)
    ignored_sensors: tuple[IgnoredSensor, ...] = ()
    # The machine that drove the device: this host in single-host mode, the agent's name in a farm.
    # Kept in the row's JSON only (no column, no migration): older files read it as None.
    host: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.device, self.model, self.variant)

    @property
    def runs(self) -> int:
        """Timed runs measured: all of them, also where the row keeps a bounded sample of the latencies
        (a long sustained run: extra["latencies_kept"], harness.statistics.sustained.bounded_sample)."""
        kept = (self.extra or {}).get("latencies_kept")
        return int(kept["of"]) if isinstance(kept, dict) and kept.get("of") else len(self.latencies_us)

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = dataclasses.asdict(self)
        if self.validity is not None:
            data["validity"] = {**dataclasses.asdict(self.validity), "valid": self.validity.valid}
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
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
        data["ignored_sensors"] = tuple(data.get("ignored_sensors") or ())
        return cls(**data)


@dataclass(frozen=True)
class RunInfo:
    """A run: what was asked, where, with which code, and how it ended."""

    run_id: str
    created_at: float
    host: str
    git_revision: str | None
    packages: dict[str, str]
    plan: dict[str, object]  # the Plan as stored (Plan.to_dict), or what an imported log was (harness import)
    status: str = "running"  # running | finished | interrupted
    schema_version: int = SCHEMA_VERSION
    label: str | None = None  # e.g. nightly:ok, nightly:regression
