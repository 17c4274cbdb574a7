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
from dataclasses import dataclass, field, fields, replace

# JSON as json.loads gives it is `object` here: a reader narrows (isinstance) before it uses a value.
# A reading as the runner writes it: [t_s, phase, {name: value}] (phase: before, run, after).
Zones = Mapping[str, float]  # {zone: C}
Clocks = Mapping[str, Mapping[str, float] | float]  # {cpuN: {"cur": MHz, "max": MHz}} (or {cpuN: MHz})
TempReading = tuple[float, str, Zones]
ClockReading = tuple[float, str, Clocks]


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
    summary: Mapping[str, object] | None = None
    ops_total: int | None = None
    ops_delegated: int | None = None
    ops_on_cpu_kernels: tuple[str, ...] = ()
    inputs: tuple[Mapping[str, object], ...] = ()
    peak_rss_mb: float | None = None  # VmHWM
    peak_rss_delta_mb: float | None = None  # VmHWM minus the resident size before the model was loaded
    peak_footprint_mb: float | None = None  # a tool's own peak figure (benchmark_model's periodic monitor)
    end_rss_mb: float | None = None  # resident after the run (on the iPhone: phys_footprint)
    temperatures: tuple[TempReading, ...] = ()  # (t_s, phase, {zone: C})
    cpu_freq: tuple[ClockReading, ...] = ()  # (t_s, phase, {cpuN: {"cur": MHz, "max": MHz}})
    # What else used the target's CPUs during the timed window, from its /proc/stat (rpi/runner.py
    # host_cpu_during): other processes' share of all CPUs' time, the hypervisor's steal, runnable tasks.
    host_others_cpu_pct: float | None = None
    host_steal_pct: float | None = None
    host_run_queue: int | None = None
    op_profile: Mapping[str, object] | None = None
    op_profile_error: str | None = None
    ios: Mapping[str, object] | None = None  # what only the iOS app records (thermal state, battery, ...)
    # Sustained mode (harness.statistics.sustained): each window's end [t_s, samples so far] on the clock of
    # `temperatures`, one p50 per window where only statistics were printed, where the loop began on that clock,
    # whether Ctrl-C or a failure ended it early, and a phone's thermal status over time [t_s, status].
    windows: tuple[Sequence[float], ...] = ()
    window_p50_us: tuple[float | None, ...] | None = None
    timed_start_s: float | None = None
    interrupted: bool | None = None
    thermal_status: tuple[Sequence[float], ...] = ()
    other: Mapping[str, object] = field(default_factory=dict)  # keys this type does not name, as written
    # The keys the JSON carried, in order, so to_json() writes back exactly what was read.
    keys: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def ok(self) -> bool:
        """A result the host can build a row from: no error and some latency (samples or printed statistics)."""
        return not self.error and bool(self.latencies_us or self.summary)

    @property
    def printed(self) -> dict[str, float]:
        """The numbers of `summary` (count, mean_us, p50_us, ...); a tool's notes in it ("mean_of") left out."""
        out: dict[str, float] = {k: v for k, v in (self.summary or {}).items()
                                 if isinstance(v, (int, float)) and not isinstance(v, bool)}
        return out

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
    def from_json(cls, data: Mapping[str, object]) -> RunnerResult:
        """Read a result dict (json.loads of the runner's line, or a tool's runner-shaped dict), narrowed once:
        a value of the wrong JSON type (or a null where the field's empty value is not None) is kept in
        `other` as written, so `to_json()` still gives back what was read."""
        r = _Reader(data)
        made = cls(
            error=r.text("error"), traceback=r.text("traceback"), schema_version=r.integer("schema_version"),
            runtime=r.text("runtime"), runtime_version=r.text("runtime_version"), python=r.text("python"),
            machine=r.text("machine"), model_path=r.text("model_path"), threads=r.integer("threads"),
            delegate_requested=r.text("delegate_requested"), delegate=r.text("delegate"),
            delegate_library=r.text("delegate_library"), init_us=r.number("init_us"),
            first_inference_us=r.number("first_inference_us"), warmup_runs_done=r.integer("warmup_runs_done"),
            duration_s=r.number("duration_s"), timed_window_unix_s=r.pair("timed_window_unix_s"),
            latencies_us=r.floats("latencies_us"), summary=r.mapping("summary"), ops_total=r.integer("ops_total"),
            ops_delegated=r.integer("ops_delegated"), ops_on_cpu_kernels=r.strs("ops_on_cpu_kernels"),
            inputs=r.mappings("inputs"), peak_rss_mb=r.number("peak_rss_mb"),
            peak_rss_delta_mb=r.number("peak_rss_delta_mb"), peak_footprint_mb=r.number("peak_footprint_mb"),
            end_rss_mb=r.number("end_rss_mb"), temperatures=r.temperatures(), cpu_freq=r.clocks(),
            host_others_cpu_pct=r.number("host_others_cpu_pct"), host_steal_pct=r.number("host_steal_pct"),
            host_run_queue=r.integer("host_run_queue"), op_profile=r.mapping("op_profile"),
            op_profile_error=r.text("op_profile_error"), ios=r.mapping("ios"), windows=r.rows("windows"),
            window_p50_us=r.optional_floats("window_p50_us"), timed_start_s=r.number("timed_start_s", as_float=False),
            interrupted=r.flag("interrupted"), thermal_status=r.rows("thermal_status"))
        # what no field read (keys this type does not name) and what a field could not take, as written
        other = {k: v for k, v in data.items() if k not in r.read or k in r.kept}
        return replace(made, other=other, keys=tuple(data))

    @classmethod
    def failed(cls, error: str) -> RunnerResult:
        """A result that says only why nothing was measured."""
        return cls(error=error, keys=("error",))

    def merged(self, data: Mapping[str, object]) -> RunnerResult:
        """This result with `data`'s keys (JSON as the runner writes it) written over, typed as `from_json` does."""
        return RunnerResult.from_json({**self.to_json(), **data})

    def to_json(self) -> dict[str, object]:
        """The JSON dict this result was read from (same keys, same JSON types); new fields written when set."""
        keys = list(self.keys) + [f.name for f in fields(self) if f.name not in ("other", "keys")
                                   and f.name not in self.keys and getattr(self, f.name) not in (None, ())]
        out: dict[str, object] = {}
        for k in keys:
            if k in self.other:
                out[k] = self.other[k]
            elif hasattr(self, k) and k not in ("other", "keys"):
                out[k] = json_value(getattr(self, k))
        return out


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_float(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class _Reader:
    """Each field's value narrowed to its type once; a key whose value is not of it is remembered (`kept`)."""

    def __init__(self, data: Mapping[str, object]) -> None:
        self.data, self.read, self.kept = data, set[str](), set[str]()

    def get(self, key: str) -> object:
        self.read.add(key)
        return self.data.get(key)

    def _wrong(self, key: str) -> None:
        if key in self.data:
            self.kept.add(key)

    def text(self, key: str) -> str | None:
        value = self.get(key)
        if isinstance(value, str):
            return value
        if value is not None:
            self.kept.add(key)
        return None

    def integer(self, key: str) -> int | None:
        value = self.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if value is not None:
            self.kept.add(key)
        return None

    def number(self, key: str, as_float: bool = True) -> float | None:
        """A number; the JSON's integers as floats where `as_float` (the measured figures), else as written."""
        value = self.get(key)
        got = _is_float(value)
        if got is None:
            if value is not None:
                self.kept.add(key)
            return None
        return got if as_float or not isinstance(value, int) else value

    def flag(self, key: str) -> bool | None:
        value = self.get(key)
        if isinstance(value, bool):
            return value
        if value is not None:
            self.kept.add(key)
        return None

    def mapping(self, key: str) -> Mapping[str, object] | None:
        value = self.get(key)
        if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
            return value
        if value is not None:
            self.kept.add(key)
        return None

    def _list(self, key: str) -> list[object] | None:
        """The key's JSON list; None (remembered as kept when present: a null where () is the empty value)."""
        value = self.get(key)
        if isinstance(value, (list, tuple)):
            return list(value)
        self._wrong(key)
        return None

    def floats(self, key: str) -> tuple[float, ...]:
        items = self._list(key)
        got = tuple(f for f in (_is_float(x) for x in items or ()) if f is not None)
        if items is not None and len(got) != len(items):
            self.kept.add(key)
            return ()
        return got

    def optional_floats(self, key: str) -> tuple[float | None, ...] | None:
        items = self.get(key)
        if items is None:
            return None
        if isinstance(items, (list, tuple)) and all(x is None or _number(x) for x in items):
            return tuple(x if isinstance(x, (int, float)) else None for x in items)
        self.kept.add(key)
        return None

    def pair(self, key: str) -> tuple[float, float] | None:
        if self.get(key) is None:
            return None
        items = self._list(key) or []
        if len(items) == 2 and (a := _is_float(items[0])) is not None and (b := _is_float(items[1])) is not None:
            return a, b
        self.kept.add(key)
        return None

    def strs(self, key: str) -> tuple[str, ...]:
        items = self._list(key) or []
        if all(isinstance(x, str) for x in items):
            return tuple(x for x in items if isinstance(x, str))
        self.kept.add(key)
        return ()

    def mappings(self, key: str) -> tuple[Mapping[str, object], ...]:
        items = self._list(key) or []
        got = tuple(x for x in items if isinstance(x, Mapping))
        if len(got) != len(items):
            self.kept.add(key)
            return ()
        return got

    def rows(self, key: str) -> tuple[Sequence[float], ...]:
        """[[t_s, n], ...] rows (windows, thermal_status), each a list of numbers."""
        items = self._list(key) or []
        got = tuple(tuple(x) for x in items if isinstance(x, (list, tuple)) and all(_number(v) for v in x))
        if len(got) != len(items):
            self.kept.add(key)
            return ()
        return got

    def _readings(self, key: str) -> list[tuple[float, str, Mapping[object, object]]]:
        """[t_s, phase, {name: value}] rows; a malformed row is dropped (as before the type narrowed it)."""
        out = []
        for r in self._list(key) or []:
            if isinstance(r, (list, tuple)) and len(r) == 3 and isinstance(r[2], Mapping) \
                    and (t := _is_float(r[0])) is not None:
                out.append((t, str(r[1]), r[2]))
        return out

    def temperatures(self) -> tuple[TempReading, ...]:
        return tuple((t, phase, {str(k): v for k, v in zones.items() if isinstance(v, (int, float))})
                     for t, phase, zones in self._readings("temperatures"))

    def clocks(self) -> tuple[ClockReading, ...]:
        def clock(c: object) -> Mapping[str, float] | float | None:
            if isinstance(c, Mapping):
                return {str(k): v for k, v in c.items() if isinstance(v, (int, float))}
            return c if isinstance(c, (int, float)) else None

        return tuple((t, phase, {str(cpu): got for cpu, c in cpus.items() if (got := clock(c)) is not None})
                     for t, phase, cpus in self._readings("cpu_freq"))


def json_value(value: object) -> object:
    """Back to JSON types: tuples as lists, all the way down."""
    if isinstance(value, Mapping):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [json_value(v) for v in value]
    return value
