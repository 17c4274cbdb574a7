"""Targets: a device reached over a transport, owning its probes and its runtime.

`Target` is the platform base every device kind shares: the sampler thread beside a job (devices/sampler.py,
fed by the platform's `probe`) and the cool-down between jobs (fixed rest, a temperature threshold, a phone's
start limit) live here once; a platform supplies only its probe functions (`probe`, `temperatures`,
`start_limit_c`). `RunnerTarget` runs rpi/runner.py on any Linux target (this host, a Raspberry Pi, a Jetson);
subclasses add probes (vcgencmd, tegrastats, ...) by overriding the hooks.
"""
from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Iterator

from devices.bench import Bench
from devices.idle_baseline import idle_seconds, rest_before_job
from devices.config import DeviceBase
from devices.remote_paths import content_path
from devices.job import JobSpec, RawRun, job_timeout_s, parse_runner_output
from devices.runtime import load as load_runtime
from devices.runtime.base import ModelRuntime
from devices.runtimes import runtime_for
from devices.sampler import ProbeReading, ProbeSampler
from devices.transport import Transport, TransportError

RUNNER_SOURCE = Path(__file__).resolve().parent.parent / "rpi" / "runner.py"
# Pushed next to the runner: its per-op profile pass (op_profiling), run there as a child process.
PROFILER_SOURCE = RUNNER_SOURCE.with_name("litert_profile.py")
# JobSpec, RawRun and the runner's output reader live in devices/job.py (the runtimes' side of the seam)
__all__ = ["JobSpec", "RawRun", "RunnerTarget", "Target", "job_timeout_s", "parse_runner_output", "rest"]


class Target(ABC):
    """A device under test. `kind` matches the devices.yaml `kind`."""

    kind: str = "abstract"
    # Sensors that read as thermal zones but are not temperatures (a trip setting, a constant):
    # ignored for the hottest zone, throttling and cooldown_until_c. Matched as name prefixes.
    not_temperatures: tuple[str, ...] = ()

    def __init__(self, config: DeviceBase, transport: Transport) -> None:
        self.config = config
        self.transport = transport
        self.name: str = config.name
        self.last_cooldown: dict[str, float | bool | None] = {}  # the last cool_down's wait, for the next row

    @abstractmethod
    def facts(self) -> dict[str, object]:
        """OS, CPU, cores, memory, thermal zones, runtime versions: what `harness devices` shows."""

    @abstractmethod
    def prepare(self) -> None:
        """Make the target ready for jobs (push the runner, check the runtime)."""

    @abstractmethod
    def benchmark(self, job: JobSpec) -> RawRun:
        """Measure one model; raise DeviceError/TransportError when the device or link fails."""

    @classmethod
    def companions_needed(cls, config: DeviceBase) -> tuple[str, ...]:
        """Exports (JobSpec.companions kinds) this device's runtime needs, made in the conversion phase: the
        runtime registry says; asked before any target is built."""
        rt = runtime_for(cls.kind, getattr(config, "runtime", None))
        return rt.exports if rt else ()

    def temperatures(self) -> dict[str, float]:
        """Current temperature per zone in C; empty when the target has no sensors."""
        return {}

    def ignored_sensors(self) -> tuple[str, ...]:
        """This board's list of sensors that are not temperatures, plus the device's own `ignore_sensors`."""
        return tuple(self.not_temperatures) + tuple(getattr(self.config, "ignore_sensors", None) or ())

    def probe(self, n: int) -> ProbeReading | None:
        """One tick of this platform's own probes beside a job (power, temperatures, thermal status), read from
        the host; None where the platform samples on the device itself (a board's vcgencmd or tegrastats stream)."""
        return None

    def sampler(self, bench: Bench, t0: float, *, join_timeout_s: float = 10.0, first_wait_s: float | None = None,
                errors: tuple[type[BaseException], ...] = (Exception,),
                gave_up: Callable[[], bool] | None = None) -> ProbeSampler:
        """The one sampler thread, running this platform's `probe` every bench.sample_interval_s beside a job."""
        return ProbeSampler(self.probe, bench.sample_interval_s, t0, f"probe-{self.name}",
                            join_timeout_s=join_timeout_s, first_wait_s=first_wait_s, errors=errors, gave_up=gave_up)

    def start_limit_c(self) -> float | None:
        """The hottest sensor a job may start at (a phone's max_start_temp_c); None: no such rule here."""
        return None

    def cool_down(self, bench: Bench, stop: threading.Event | None = None) -> float:
        """Wait between jobs: fixed seconds, or until the hottest zone is under a threshold; then, where the
        platform has one, until it is under its start limit. Each wait is bounded by cooldown_max_s and ends as
        soon as `stop` is set (Ctrl-C must not wait out a two-minute rest). `last_cooldown` says how it went."""
        t0 = time.monotonic()
        if not (bench.cooldown_s and rest(bench.cooldown_s, stop)) and bench.cooldown_until_c is not None:
            self.wait_cooler(bench.cooldown_until_c, bench.cooldown_max_s, 1.0, stop)
        waited = time.monotonic() - t0
        self.last_cooldown = {"waited_s": round(waited, 2)}
        limit = self.start_limit_c()
        if limit is None:
            return waited
        hottest = self.wait_cooler(limit, bench.cooldown_max_s, min(2.0, max(0.1, bench.cooldown_max_s / 10)), stop)
        waited = time.monotonic() - t0
        self.last_cooldown = {"waited_s": round(waited, 2), "hottest_c": hottest, "limit_c": limit,
                              "still_hot": hottest is not None and hottest >= limit}
        return waited

    def wait_cooler(self, limit_c: float, max_s: float, poll_s: float, stop: threading.Event | None) -> float | None:
        """Read the temperatures until the hottest is under `limit_c` (or none is readable), at most `max_s`;
        the last hottest reading."""
        t0 = time.monotonic()
        while True:
            temps = self.temperatures()
            hottest = max(temps.values()) if temps else None
            if hottest is None or hottest < limit_c or time.monotonic() - t0 >= max_s or rest(poll_s, stop):
                return hottest

    def abort(self) -> None:
        """From another thread, on Ctrl-C: the runtime's own stop first (the Android app's sustained loop asked
        to end with what it measured, trtexec's next segment not started), then end the command waited for now."""
        runtime = getattr(self, "runtime", None)
        try:
            if runtime is not None:
                runtime.abort(self)
        finally:
            self.transport.abort()

    def close(self) -> None:
        self.transport.close()


@dataclass(frozen=True)
class BoardSamples:
    """What a board's sampler printed: its lines (seconds since it started, text), the first line it wrote to
    stderr, the host wall time of a line time, and the idle baseline's end (host wall time) and length."""

    lines: list[tuple[float, str]]
    said: str
    to_unix: Callable[[float], float]
    busy_from: float
    idle_s: float


def stream_clock(stream: object) -> Callable[[float], float]:
    """Host wall-clock time of a stream's line times (seconds since the stream started, host monotonic)."""
    t0 = getattr(stream, "t0", None)
    if t0 is None:
        start = time.time()
        return lambda t: start + t
    shift = time.time() - time.monotonic() + t0
    return lambda t: shift + t


def stderr_line(stream: object) -> str:
    """The first non-empty line a probe stream wrote to stderr (`sudo: a password is required`), or ''."""
    text = getattr(stream, "stderr", b"")
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")[:200]


def rest(seconds: float, stop: threading.Event | None) -> bool:
    """Sleep, or return early when `stop` is set; True when stopped."""
    if stop is None:
        time.sleep(seconds)
        return False
    return stop.wait(seconds)


class RunnerTarget(Target):
    """A Linux target (this host, a Pi, a Jetson) that runs rpi/runner.py with a Python interpreter."""

    kind = "linux"

    def __init__(self, config: DeviceBase, transport: Transport, workdir: str, python: str) -> None:
        super().__init__(config, transport)
        self.workdir = workdir.rstrip("/")
        self.python = python
        self._runner_remote = f"{self.workdir}/runner.py"
        # what runs the model here, from the runtime registry (devices.yaml `runtime`, else the kind's default)
        # (mypy checks where each platform hands itself over that it is what its runtimes need: the _FITS lines)
        self.runtime: ModelRuntime[object, RawRun] = load_runtime(self.kind, getattr(config, "runtime", None))

    @property
    def runner_remote(self) -> str:
        """Where rpi/runner.py lies on the target."""
        return self._runner_remote

    def remote_model_path(self, local: Path) -> str:
        """Content-addressed name, so the same bytes are pushed once per board."""
        return content_path(f"{self.workdir}/models", local)

    def prepare(self) -> None:
        self.transport.run(["mkdir", "-p", f"{self.workdir}/models"], timeout_s=30)
        self.transport.push_if_changed(RUNNER_SOURCE, self._runner_remote)
        if getattr(self.config, "op_profiling", False):
            self.transport.push_if_changed(PROFILER_SOURCE, f"{self.workdir}/{PROFILER_SOURCE.name}")
        self.runtime.prepare(self)

    def facts(self) -> dict[str, object]:
        self.prepare()
        res = self.transport.run([self.python, self._runner_remote, "--facts"], timeout_s=120)
        if not res.ok:
            raise TransportError(f"runner --facts failed (exit {res.exit_code}): {res.stderr.strip()[-300:]}")
        facts: object = json.loads(res.stdout.strip().splitlines()[-1])
        if not isinstance(facts, dict):
            raise TransportError(f"runner --facts printed no JSON object: {res.stdout.strip()[-300:]}")
        return facts

    thermal_glob = "/sys/class/thermal/thermal_zone*"
    cpufreq_glob = "/sys/devices/system/cpu/cpu[0-9]*/cpufreq"

    def temperatures(self) -> dict[str, float]:
        """The runner's own reader (rpi/runner.py read_thermal_zones): one name-collision rule everywhere."""
        argv = [self.python, self._runner_remote, "--thermal", "--thermal-glob", self.thermal_glob]
        for name in self.ignored_sensors():
            argv += ["--ignore-sensor", name]
        res = self.transport.run(argv, timeout_s=30)
        if not res.ok:
            return {}
        try:
            data = json.loads(res.stdout.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            return {}
        return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def board_sampler(self, job: JobSpec) -> list[str] | None:
        """The command that samples this board's own probes on the board while a runtime works (vcgencmd and
        hwmon, tegrastats), its lines stamped on the host's clock as they arrive; None: nothing sampled here."""
        return None

    def before_sampling(self, raw: RawRun) -> None:
        """The platform's readings just before its sampler starts (throttle bits, clocks state)."""

    def read_samples(self, raw: RawRun, samples: BoardSamples) -> None:
        """Turn what the board's sampler printed into the run's power, temperatures and flags."""

    @contextmanager
    def probe_session(self, job: JobSpec) -> Iterator[RawRun]:
        """The board's sampler (`board_sampler`) for the whole run, each line stamped with the host's time as it
        arrived; with bench.idle_power_s it first runs that long with the board at rest (the idle baseline).
        Yields the RawRun the runtime fills; the platform's `read_samples` adds what the sampler saw."""
        raw = RawRun()
        argv = self.board_sampler(job)
        if argv is None:
            yield raw
            return
        self.before_sampling(raw)
        start = getattr(self.transport, "stream", None)
        stream = start(argv) if start is not None else None
        to_unix = stream_clock(stream)
        idle_s = idle_seconds(job.bench) if stream is not None else 0.0
        busy_from = rest_before_job(idle_s)
        try:
            yield raw
        finally:
            lines: list[tuple[float, str]] = stream.stop() if stream is not None else []
        self.read_samples(raw, BoardSamples(lines, stderr_line(stream), to_unix, busy_from, idle_s))

    def runner_job(self, job: JobSpec, remote_model: str) -> dict[str, object]:
        """The runner's job (rpi/runner.py `Job`; contracts/jobs/basic.json) for this model on this target."""
        b = job.bench
        out: dict[str, object] = {
            "model_path": remote_model,
            "threads": b.threads,
            "delegate": b.delegate,
            "input_shapes": job.input_shapes,
            "seed": job.seed,
            "warmup_runs": b.warmup_runs,
            "warmup_s": b.warmup_s,
            "min_runs": b.min_runs,
            "min_s": b.min_s,
            "max_s": b.max_s,
            "max_runs": b.max_runs,
            "sample_interval_s": b.sample_interval_s,
            "delegate_library": getattr(b, "delegate_library", None),
            "thermal_glob": self.thermal_glob,
            "cpufreq_glob": self.cpufreq_glob,
            "ignore_sensors": list(self.ignored_sensors()),
        }
        if getattr(self.config, "op_profiling", False):
            out["op_profiling"] = True  # the runner's per-op profile pass (rpi/litert_profile.py)
        sustained = getattr(b, "sustained_s", None)
        if sustained:  # one unbroken loop of that length, windows recorded (rpi/runner.py _sustained_loop)
            out.update(sustained_s=sustained, window_s=getattr(b, "sustained_window_s", None) or 0,
                       min_s=sustained, max_s=sustained, min_runs=1, max_runs=0)
        return out

    def benchmark(self, job: JobSpec) -> RawRun:
        """The registered runtime runs the job (the LiteRT runner by default); this platform observes it."""
        if not self.runtime.ready:
            self.prepare()
        raw: RawRun = self.runtime.run(self, job)
        return raw

    same_clock = False  # the runner runs on this host (local target): its wall clock is the host's
