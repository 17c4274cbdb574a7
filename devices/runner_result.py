"""What a runtime hands back, typed once: the runner's result JSON (contracts/results/*.json) as a frozen record.

rpi/runner.py, the companion apps (Swift `RunnerResult`, Java `RunnerResult`), tftrt_runner.py, trtexec and
benchmark_model all answer in this one shape; tools that measure less leave the rest empty (None or ()),
never filled from a neighbour. The host reads a result through this type instead of `dict.get("...")`, so a
renamed key fails in one place (tests/test_runner_result.py checks it against the golden files, as the Swift
and JVM contract tests do). Keys the type does not name (a runtime's own facts, e.g. TF-TRT's
`conversion_us`) are kept in `other`, and `to_json()` gives back the JSON it was read from, key for key.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

# A reading as the runner writes it: [t_s, phase, {name: value}] (phase: before, run, after).
Reading = tuple[float, str, Mapping[str, Any]]


@dataclass(frozen=True)
class RunnerResult:
    """One runtime's answer for one model. Units are in the names; None means "not measured here"."""

    error: str | None = None
    traceback: str | None = None
    schema_version: int | None = None
    runtime: str | None = None
    runtime_version: str | None = None
    python: str | None = None
    machine: str | None = None
    model_path: str | None = None
    threads: int | None = None
    delegate_requested: str | None = None  # as the job asked
    delegate: str | None = None  # what actually ran ("none" when the delegate took no op)
    delegate_library: str | None = None
    init_us: float | None = None
    first_inference_us: float | None = None
    warmup_runs_done: int | None = None
    duration_s: float | None = None
    timed_window_unix_s: tuple[float, float] | None = None  # the timed loop on the runner's wall clock
    latencies_us: tuple[float, ...] = ()
    # Tools that print only statistics (benchmark_model, trtexec): {count, mean_us, p50_us, ...} as printed.
    summary: Mapping[str, Any] | None = None
    ops_total: int | None = None
    ops_delegated: int | None = None
    ops_on_cpu_kernels: tuple[str, ...] = ()
    inputs: tuple[Mapping[str, Any], ...] = ()
    peak_rss_mb: float | None = None  # VmHWM
    peak_rss_delta_mb: float | None = None  # VmHWM minus the resident size before the model was loaded
    peak_footprint_mb: float | None = None  # a tool's own peak figure (benchmark_model's periodic monitor)
    end_rss_mb: float | None = None  # resident after the run (on the iPhone: phys_footprint)
    temperatures: tuple[Reading, ...] = ()  # (t_s, phase, {zone: C})
    cpu_freq: tuple[Reading, ...] = ()  # (t_s, phase, {cpuN: {"cur": MHz, "max": MHz}})
    # What else used the target's CPUs during the timed window, from its /proc/stat (rpi/runner.py
    # host_cpu_during): other processes' share of all CPUs' time, the hypervisor's steal, runnable tasks.
    host_others_cpu_pct: float | None = None
    host_steal_pct: float | None = None
    host_run_queue: int | None = None
    op_profile: Mapping[str, Any] | None = None
    op_profile_error: str | None = None
    ios: Mapping[str, Any] | None = None  # what only the iOS app records (thermal state, battery, ...)
    # Sustained mode (harness.statistics.sustained): each window's end [t_s, samples so far] on the clock of
    # `temperatures`, one p50 per window where only statistics were printed, where the loop began on that clock,
    # whether Ctrl-C or a failure ended it early, and a phone's thermal status over time [t_s, status].
    windows: tuple[Sequence[float], ...] = ()
    window_p50_us: tuple[float | None, ...] | None = None
    timed_start_s: float | None = None
    interrupted: bool | None = None
    thermal_status: tuple[Sequence[float], ...] = ()
    other: Mapping[str, Any] = field(default_factory=dict)  # keys this type does not name, as written
    # The keys the JSON carried, in order, so to_json() writes back exactly what was read.
    keys: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def ok(self) -> bool:
        """A result the host can build a row from: no error and some latency (samples or printed statistics)."""
        return not self.error and bool(self.latencies_us or self.summary)

    @property
    def memory_mb(self) -> dict[str, float]:
        """Each memory figure the runtime measured, under its own name (a footprint is not a VmHWM)."""
        names = ("peak_rss_mb", "peak_rss_delta_mb", "peak_footprint_mb", "end_rss_mb")
        return {n: float(v) for n in names if (v := getattr(self, n)) is not None}

    @property
    def delegate_asked(self) -> str | None:
        """The delegate the job asked for; older tools write only the one that ran."""
        return self.delegate_requested or self.delegate

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunnerResult:
        """Read a result dict (json.loads of the runner's line, or a tool's runner-shaped dict)."""
        defaults = {f.name: f.default for f in fields(cls) if f.name not in ("other", "keys")}
        kwargs: dict[str, Any] = {k: _typed(k, v) for k, v in data.items() if k in defaults and v is not None}
        # A null where the field's empty value is not None (latencies_us: null) is kept as written.
        other = {k: v for k, v in data.items() if k not in defaults or (v is None and defaults[k] is not None)}
        return cls(**kwargs, other=other, keys=tuple(data))

    @classmethod
    def failed(cls, error: str) -> RunnerResult:
        """A result that says only why nothing was measured."""
        return cls(error=error, keys=("error",))

    def merged(self, data: Mapping[str, Any]) -> RunnerResult:
        """This result with `data`'s keys (JSON as the runner writes it) written over, typed as `from_json` does."""
        return RunnerResult.from_json({**self.to_json(), **data})

    def to_json(self) -> dict[str, Any]:
        """The JSON dict this result was read from (same keys, same JSON types); new fields written when set."""
        keys = list(self.keys) + [f.name for f in fields(self) if f.name not in ("other", "keys")
                                   and f.name not in self.keys and getattr(self, f.name) not in (None, ())]
        out: dict[str, Any] = {}
        for k in keys:
            if k in self.other:
                out[k] = self.other[k]
            elif hasattr(self, k) and k not in ("other", "keys"):
                out[k] = json_value(getattr(self, k))
        return out


def _typed(key: str, value: Any) -> Any:
    """JSON lists become tuples (frozen), numbers the field's type."""
    if key in ("latencies_us",):
        return tuple(float(x) for x in value)
    if key == "timed_window_unix_s":
        return (float(value[0]), float(value[1])) if len(value) == 2 else None
    if key in ("ops_on_cpu_kernels", "inputs", "window_p50_us"):
        return tuple(value)
    if key in ("windows", "thermal_status"):
        return tuple(tuple(w) for w in value)
    if key in ("temperatures", "cpu_freq"):
        return tuple((float(r[0]), str(r[1]), r[2]) for r in value if len(r) == 3 and isinstance(r[2], Mapping))
    if key in ("init_us", "first_inference_us", "duration_s", "peak_rss_mb", "peak_rss_delta_mb",
               "peak_footprint_mb", "end_rss_mb", "host_others_cpu_pct", "host_steal_pct") \
            and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def json_value(value: Any) -> Any:
    """Back to JSON types: tuples as lists, all the way down."""
    if isinstance(value, Mapping):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [json_value(v) for v in value]
    return value
