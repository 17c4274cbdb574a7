"""The companion apps (android_app/, ios_app/) as ONE runtime: the same protocol on both phones.

The protocol, written once here: the model (content-addressed) and the held-out inputs go into the app's own
folder; the job goes to the app (Android: `am start` extras, contracts/android/am_start.json; iOS: a job file,
contracts/jobs/ios_coreml.json) and the app is started; the host polls for the result file until its size holds,
pulls it and reads it with one parser (`read_app_result`, checked against contracts/results/*_ok.json) into a
RunnerResult, every error path being `RunnerResult.failed`; a sustained loop's windows are placed on the host's
clock (`place_on_host`); the evaluation outputs the app wrote are pulled for the host to score; Ctrl-C pushes a
stop file the app reads at each sampling point. Each platform lends only its transport (adb's file sync and
shell; pymobiledevice3's AFC and DVT through devices/ios_adapter.py) and observes the run (power, temperatures).
"""
from __future__ import annotations

import json
import secrets
import tempfile
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypedDict, TypeVar, cast

from devices.config import BenchSettings
from devices.job import JobSpec, job_timeout_s
from devices.probes import benchmark_model as bm
from devices.remote_paths import content_key
from devices.runner_result import RunnerResult
from devices.runtime.app_files import AdbFiles, AppFiles, app_outputs, push_eval, push_ios_model
from devices.runtime.base import ModelRuntime
from devices.runtime.phone import IPhone, Phone
from devices.transport import TransportError
from devices.runtimes import Runtime
from errors import DeviceError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

POLL_S = 0.25  # how often the host looks for the result file (a window placed from it is late by up to this)
# ProcessInfo.thermalState as a thermal status for the first throttle event (>= 1 is one): Apple documents
# "fair" as slightly elevated with no throttling, "serious" as reduced performance (Android's 2, moderate).
STATE_STATUS = {"nominal": 0, "fair": 0, "serious": 2, "critical": 3}


class AndroidBlock(TypedDict, total=False):
    """The Android app's `android` block (Java `AndroidReadings`; contracts/results/android_ok.json)."""

    delegate_requested: str | None
    delegate_applied: str | None
    delegate_error: str | None
    nodes_by_delegate: dict[str, int] | None
    tflite_log: list[str] | None
    battery_before: dict[str, object] | None
    battery_after: dict[str, object] | None
    thermal_status_before: int | None
    thermal_status_after: int | None
    thermal_headroom_before: float | None
    thermal_headroom_after: float | None
    pss_mb: float | None
    sdk_int: int | None
    device_model: str | None
    run_token: str | None
    latency_timer: str | None
    outputs_path: str | None
    outputs_shape: list[int] | None
    eval_error: str | None


class IosBlock(TypedDict, total=False):
    """The iOS app's `ios` block (Swift `IosExtras`; contracts/results/ios_ok.json)."""

    compute_units: str | None
    thermal_state_before: str | None
    thermal_states_during: list[str] | None
    thermal_state_after: str | None
    battery_level_before: float | None
    battery_level_after: float | None
    battery_state_before: str | None
    battery_state_after: str | None
    memory_metric: str | None
    phys_footprint_mb: float | None
    outputs_path: str | None
    outputs_shape: list[int] | None
    device: str | None
    os_version: str | None
    delegate_error: str | None
    eval_error: str | None
    compute_plan: dict[str, object] | None


B = TypeVar("B", bound=Mapping[str, object])  # the app's own block: AndroidBlock or IosBlock
P = TypeVar("P")
R = TypeVar("R")


def read_app_result(text: str, block: str) -> tuple[RunnerResult, Mapping[str, object] | None]:
    """The one parser of an app's result file: the runner's keys typed into a RunnerResult, and the app's own
    block (`android` or `ios`) beside it; a file that is not a JSON object is a failed result that says so."""
    try:
        data: object = json.loads(text)
    except json.JSONDecodeError as exc:
        return RunnerResult.failed(f"the app's result is not JSON: {exc}"), None
    if not isinstance(data, dict):
        return RunnerResult.failed("the app's result is not a JSON object"), None
    own = data.get(block)
    return RunnerResult.from_json(data), cast("Mapping[str, object]", own) if isinstance(own, dict) else None


def place_on_host(result: RunnerResult, offset_s: float | None, t0: float, first_seen: float | None,
                  move_wall: bool = True) -> tuple[RunnerResult, str]:
    """The app's windows count from its loop's start on the phone's clock; the host's readings from t0 (host
    monotonic, the job's start). With the phone's clock offset (host minus phone wall clock, one `date` round
    trip) the loop's wall start moves onto the host's; without one, the loop is taken to end `after_loop_s` (the
    app's readings after it; 0 where not written) before its result first appeared (late by up to one poll).
    `move_wall`: the timed window's wall times move too (Android; the iPhone's platform places its own)."""
    start_app = result.timed_start_s or 0.0
    unix_t0 = time.time() - (time.monotonic() - t0)
    wall = result.timed_window_unix_s
    if offset_s is not None and wall is not None:
        base_host = wall[0] - start_app + offset_s  # host wall time of the loop's origin (its window clock's 0)
        how = f"by the phone's clock offset ({offset_s:+.3f} s, one `date +%s.%N` round trip)"
    else:
        end_app = start_app + (result.duration_s or 0.0)
        seen = first_seen if first_seen is not None else time.monotonic()
        after = result.other.get("after_loop_s")
        base_host = unix_t0 + (seen - t0) - end_app - (float(after) if isinstance(after, (int, float)) else 0.0)
        how = "as ending when its result appeared" + (" (the phone's clock was unreadable)" if move_wall else
                                                      ", less after_loop_s")
    shift = base_host - unix_t0
    placed: dict[str, object] = {"windows": [[round(float(w[0]) + shift, 3), int(w[1])] for w in result.windows],
                                 "timed_start_s": round(start_app + shift, 3)}
    if move_wall and wall is not None:
        placed["timed_window_unix_s"] = [round(x - wall[0] + base_host + start_app, 6) for x in wall]
    return result.merged(placed), how


def without(result: RunnerResult, key: str) -> RunnerResult:
    """The result less one key the app wrote (read here, not stored)."""
    return RunnerResult.from_json({k: v for k, v in result.to_json().items() if k != key})


def app_delegate(requested: str, android: Mapping[str, object], extra: dict[str, object]) -> None:
    """Read the runtime's own log lines the Android app sent with the parser benchmark_model's output goes
    through, so a silent fallback to CPU is flagged the same way on both paths."""
    log = android.get("tflite_log")
    if requested in ("gpu", "nnapi") and isinstance(log, list) and log:
        outcome = bm.delegate_outcome(bm.parse("\n".join(str(x) for x in log[:500])), requested)
        extra["delegate_outcome"] = outcome
        if outcome.get("fallback"):
            extra["delegate_fallback"] = (f"{requested} delegate requested but {outcome['applied']} applied: "
                                          "the model ran on the CPU")
    if android.get("delegate_error"):
        extra["delegate_fallback"] = f"{requested} delegate refused: {str(android['delegate_error'])[:200]}"


def window_s(bench: BenchSettings) -> float:
    """The sustained window the app will use (its windowS): the bench's, else sustained_s / 20, at least 0.5 s."""
    return float(bench.sustained_window_s or max((bench.sustained_s or 0.0) / 20.0, 0.5))


def sustained_keys(bench: BenchSettings) -> dict[str, float]:
    """The job's optional sustained-mode keys (window_s 0: the app's default rule); empty outside sustained mode."""
    if not bench.sustained_s:
        return {}
    return {"sustained_s": float(bench.sustained_s), "window_s": float(bench.sustained_window_s or 0.0)}


def sustained_extras(bench: BenchSettings) -> list[str]:
    """The same keys as `am start` extras: `--ef sustained_s S --ef window_s W`, or nothing."""
    return [a for k, v in sustained_keys(bench).items() for a in ("--ef", k, str(v))]


@dataclass
class Launch:
    """One job handed to the app: where its result and a Ctrl-C's stop file go, what to clean up after it."""

    files: AppFiles
    result: str  # the result file, as the app's folder names it
    shown: str  # the result file as an error names it
    app: str = "the app"  # the started app as an error names it
    stop: str | None = None  # sustained jobs only
    alive: Callable[[], bool | None] | None = None  # whether the started app still runs (None: cannot tell)
    leftovers: tuple[str, ...] = ()  # removed after the run, whatever happened
    extra: dict[str, object] = field(default_factory=dict)  # what the row says of the job (command, job name)
    launched_unix_s: float = 0.0


@dataclass
class AppRun(Generic[B]):
    """What the app measured, as the platform gets it: the typed result, the app's block, the outputs."""

    result: RunnerResult
    extra: dict[str, object]
    block: B | None = None
    outputs: npt.NDArray[np.float32] | None = None  # a numpy array of outputs_shape where the job had an eval set
    launched_unix_s: float | None = None
    seen_unix_s: float | None = None  # host wall time the complete result was seen


def wait_for_result(sent: Launch, limit_s: float,
                    while_running: Callable[[], None] | None = None) -> tuple[str | RunnerResult, float | None]:
    """Poll for the result file until its size holds, then pull it: its text and when it first appeared (host
    monotonic), or the failed result that says why none came (no result in time, or an app that exited three polls
    in a row without one). `while_running` runs at each poll before the file appears (the host's own readings)."""
    deadline = time.monotonic() + limit_s
    last, gone = -1, 0
    first_seen: float | None = None
    while True:
        size = sent.files.size(sent.result)
        if size is not None and first_seen is None:
            first_seen = time.monotonic()
        if size is not None and size > 0 and size == last:
            break
        last = size if size is not None else -1
        if size is None and sent.alive is not None:
            gone = gone + 1 if sent.alive() is False else 0
            if gone >= 3:  # exited three polls in a row without a result: it crashed or refused the job
                return RunnerResult.failed(f"{sent.app} exited without writing {sent.shown}: it crashed or could "
                                           "not read the job (see the device's crash logs)"), first_seen
        if time.monotonic() > deadline:
            return RunnerResult.failed(f"the app wrote no {sent.shown} within {limit_s:.0f} s"), first_seen
        if size is None and while_running is not None:
            while_running()
        time.sleep(POLL_S)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "result.json"
        sent.files.pull(sent.result, local)
        return local.read_text(errors="replace"), first_seen


class CompanionApp(ModelRuntime[P, R], Generic[P, R, B]):
    """The protocol both apps speak; a subclass says how its platform hands the job over and starts the app,
    and how the app's loop is placed on the host's clock."""

    block = "app"  # the result's own block (`android`, `ios`)
    loop_is = "one interpreter, loaded once"  # what the app's sustained loop runs, for the row's method note

    def __init__(self, entry: Runtime) -> None:
        super().__init__(entry)
        self._stop: tuple[AppFiles, str] | None = None  # the running sustained job's stop file, for abort()

    @abstractmethod
    def launch(self, platform: P, job: JobSpec) -> Launch | AppRun[B]:
        """Push the model and the job, start the app; an AppRun that says why when it could not be started."""

    @abstractmethod
    def place(self, platform: P, result: RunnerResult, first_seen: float | None) -> tuple[RunnerResult, str]:
        """A sustained loop's windows onto the host's clock (with its thermal status), and how."""

    def while_running(self, platform: P, job: JobSpec) -> Callable[[], None] | None:
        return None  # what the host reads at each poll while a sustained loop runs

    def finish(self, platform: P, sent: Launch) -> None:
        """After the wait, whatever happened (the iPhone's app is stopped if it still runs)."""

    def tidy(self, result: RunnerResult) -> RunnerResult:
        return result  # the result as the row keeps it

    def collect(self, platform: P, job: JobSpec) -> AppRun[B]:
        """Hand the job over, wait for the result, read it once, place its windows, pull its outputs."""
        sent: Launch | AppRun[B] = self.launch(platform, job)
        if isinstance(sent, AppRun):
            return sent
        self._stop = (sent.files, sent.stop) if sent.stop else None
        try:
            got, first_seen = wait_for_result(sent, job_timeout_s(job.bench),
                                              self.while_running(platform, job) if sent.stop else None)
            seen_unix = time.time()
        finally:
            self._stop = None
            self.finish(platform, sent)
        for path in (sent.stop, *sent.leftovers):
            if path:
                try:
                    sent.files.remove(path)
                except (TransportError, DeviceError, OSError):  # leftovers cost space, not the measurement
                    pass
        run: AppRun[B] = AppRun(RunnerResult(), sent.extra, launched_unix_s=sent.launched_unix_s,
                                seen_unix_s=seen_unix)
        if isinstance(got, RunnerResult):
            run.result = got
            return run
        result, own = read_app_result(got, self.block)
        run.block = cast(B, own) if own is not None else None
        result = self.tidy(result)
        if result.windows and not result.error:  # onto the host's clock, said how
            result, how = self.place(platform, result, first_seen)
            run.extra["sustained_method"] = f"the app's loop ({self.loop_is}); windows placed on the host's clock {how}"
        run.result = result
        try:  # the eval set's outputs as the phone computed them (GPU fp16, NNAPI, int8 kernels, Core ML)
            run.outputs = app_outputs(sent.files, run.block, result)
        except (TransportError, DeviceError, FileNotFoundError, ValueError) as exc:  # the timing stands
            run.extra["outputs_error"] = str(exc)[:300]
        return run

    def abort(self, platform: P) -> None:
        """Ctrl-C, from another thread: a sustained loop is asked to stop (its stop file pushed); the app ends at
        its next sampling point and writes what it measured, which the waiting run still collects. Other jobs
        run out."""
        stop = self._stop
        if stop is None:
            return
        try:
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(tmp) / "stop"
                local.write_text("stop\n")
                stop[0].push(local, stop[1])
        except (TransportError, DeviceError, OSError):  # a phone that cannot take the file runs its loop to the end
            pass


# -- Android: the job as `am start` extras over adb ---------------------------------------------------------
RunnerAndExtra = tuple[RunnerResult, dict[str, object]]  # what a phone's runtime hands AndroidTarget


class AndroidApp(CompanionApp[Phone, RunnerAndExtra, AndroidBlock]):
    """`runtime: app` on Android: the companion app, installed or updated from `apk:` when the phone's is older.
    While a sustained loop runs the host reads the CPU clocks once a window; the windows are then placed on the
    host's clock by the phone's clock offset."""

    block = "android"

    def __init__(self, entry: Runtime) -> None:
        super().__init__(entry)
        self._clocks: list[list[object]] = []

    def prepare(self, platform: Phone) -> None:
        platform.ensure_app()
        platform.adb.run(["mkdir", "-p", f"{platform.app_dir}/models"], timeout_s=30.0)

    def facts(self, platform: Phone) -> dict[str, object]:
        # app_version_code None: the companion app is not installed
        return {"runtime": platform.config.app_package, "app_version_code": platform.app_version_code()}

    @staticmethod
    def _eval_extras(platform: Phone, job: JobSpec) -> list[str]:
        """The held-out inputs pushed once per phone (content-addressed) and named in the job's extras."""
        if job.eval_inputs is None or not job.eval_shape or job.eval_count <= 0:
            return []
        local = Path(job.eval_inputs)
        remote = f"{platform.app_dir}/eval/{content_key(local)}.f32"
        platform.adb.push_if_changed(local, remote)
        return ["--es", "eval_path", remote, "--es", "eval_shape", ",".join(str(int(d)) for d in job.eval_shape),
                "--ei", "eval_count", str(int(job.eval_count))]

    def launch(self, platform: Phone, job: JobSpec) -> Launch | AppRun[AndroidBlock]:
        """`am start` the app with the job as intent extras (contracts/android/am_start.json)."""
        b = job.bench
        config = platform.config
        remote_model = platform.push_model(job.model_path, f"{platform.app_dir}/models")
        token = secrets.token_hex(6)
        result = f"{platform.app_dir}/result-{token}.json"
        component = f"{config.app_package}/{config.app_activity}"
        argv = ["am", "start", "-W", "-S", "-n", component, "--es", "model", remote_model,
                "--ei", "threads", str(b.threads), "--es", "delegate", b.delegate,
                "--ei", "warmup_runs", str(b.warmup_runs), "--ei", "num_runs", str(b.min_runs),
                "--ef", "min_secs", str(b.min_s), "--ef", "max_secs", str(b.max_s),
                "--ef", "warmup_secs", str(b.warmup_s), "--ei", "max_runs", str(b.max_runs),
                "--ef", "sample_interval_s", str(b.sample_interval_s), "--el", "seed", str(job.seed)]
        if job.input_shapes:  # resized by the app as the runner resizes them
            argv += ["--es", "input_shapes", json.dumps(job.input_shapes, separators=(",", ":"))]
        sustained = sustained_extras(b)
        argv += [*self._eval_extras(platform, job), *sustained, "--es", "result_path", result,
                 "--es", "run_token", token]
        extra: dict[str, object] = {"command": " ".join(argv)}
        launched = time.time()
        res = platform.adb.run(argv, timeout_s=60)
        said = (res.stdout + res.stderr).strip()
        if not res.ok or "Error" in said:
            line = next((ln for ln in said.splitlines() if "Error" in ln), said[-200:])
            return AppRun(RunnerResult.failed(f"am start failed: {line.strip()}"), extra)
        self._clocks = []
        return Launch(AdbFiles(platform), result, "result", stop=result.removesuffix(".json") + ".stop" if sustained
                      else None, leftovers=(result,), extra=extra, launched_unix_s=launched)

    def while_running(self, platform: Phone, job: JobSpec) -> Callable[[], None]:
        """The CPU clocks once a window while the app's loop runs."""
        window, next_at = window_s(job.bench), [time.monotonic()]

        def tick() -> None:
            if time.monotonic() >= next_at[0]:
                next_at[0] = time.monotonic() + window
                read_clocks(platform, self._clocks)
        return tick

    def tidy(self, result: RunnerResult) -> RunnerResult:
        """The `android` block goes to the row's extra, not the runner's JSON; a result without its runtime's
        name is the companion app's."""
        result = without(result, self.block)
        return result if "runtime" in result.keys else result.merged({"runtime": "companion-app"})

    def place(self, platform: Phone, result: RunnerResult, first_seen: float | None) -> tuple[RunnerResult, str]:
        """By the phone's clock offset (else from when the result appeared); the app's thermal status at each
        window end becomes the runner's thermal_status on the same clock; the host's clock readings join it."""
        placed, how = place_on_host(result, platform.clock_offset(), platform.job_t0, first_seen)
        statuses = placed.other.get("window_thermal_status")
        status = [[w[0], int(st)] for w, st in zip(placed.windows, statuses if isinstance(statuses, list) else [])
                  if isinstance(st, (int, float))]
        placed = without(placed, "window_thermal_status").merged({"thermal_status": status, "cpu_freq": self._clocks})
        return placed, how

    def run(self, platform: Phone, job: JobSpec) -> RunnerAndExtra:
        """The protocol's run; the app's block read for the row (delegate fallback, readings), the outputs and
        the phone's clock offset handed to AndroidTarget in `extra` (`_outputs`, `phone_clock_offset_s`)."""
        run = self.collect(platform, job)
        result, extra = run.result, run.extra
        if run.block is not None:
            extra["app"] = run.block
            app_delegate(job.bench.delegate, run.block, extra)
            extra["_outputs"] = run.outputs
        if result.timed_window_unix_s and not result.windows:  # the phone's clock: moved onto the host's
            extra["phone_clock_offset_s"] = platform.clock_offset()
        if result.latencies_us and "duration_s" not in result.keys:
            result = result.merged({"duration_s": round(sum(result.latencies_us) / 1e6, 4)})
        return result, extra


def read_clocks(platform: Phone, into: list[list[object]]) -> None:
    """One reading of the CPU clocks (MHz) while the app's loop runs, stamped when it returned (so a drop is
    never placed before it happened); a reading lost costs that point, never the loop."""
    try:
        freqs = platform.cpu_freqs()
    except TransportError:
        return
    if freqs:
        into.append([round(time.monotonic() - platform.job_t0, 3), "run",
                     {cpu: {"cur": khz // 1000} for cpu, khz in freqs.items()}])


# -- iOS: the job as a file in Documents, the app launched over DVT --------------------------------------------
class IosApp(CompanionApp[IPhone, AppRun[IosBlock], IosBlock]):
    """`runtime: app` on an iPhone: the companion app runs the job with Core ML (or the TensorFlow Lite pod)."""

    block = "ios"
    loop_is = "one Core ML model, loaded once"

    def __init__(self, entry: Runtime) -> None:
        super().__init__(entry)
        self._pid: int | None = None

    def prepare(self, platform: IPhone) -> None:
        try:
            installed = platform.adapter.app_installed()
        except DeviceError as exc:  # "udid: reason" from the adapter, under this device's name
            raise DeviceError(platform.name, str(exc)) from None
        if not installed:
            raise DeviceError(platform.name, f"companion app {platform.config.bundle_id} is not installed: build "
                              "ios_app/ with Xcode and install it (ios_app/README.md), or set bundle_id in "
                              "devices.yaml")

    def facts(self, platform: IPhone) -> dict[str, object]:
        return {"runtime": f"companion app {platform.config.bundle_id} (Core ML)",
                "app_installed": platform.adapter.app_installed()}

    def request(self, platform: IPhone, job: JobSpec, remote_model: str) -> dict[str, object]:
        """The job file's keys (contracts/jobs/ios_coreml.json), plus sustained mode's where asked."""
        b = job.bench
        return {"model_path": remote_model, "threads": b.threads,
                "delegate": "coreml" if remote_model.endswith(".mlpackage") else b.delegate,
                "input_shapes": job.input_shapes, "seed": job.seed, "warmup_runs": b.warmup_runs,
                "warmup_s": b.warmup_s, "min_runs": b.min_runs, "min_s": b.min_s, "max_s": b.max_s,
                "max_runs": b.max_runs, "sample_interval_s": b.sample_interval_s,
                "thermal_glob": "", "compute_units": platform.config.compute_units, **sustained_keys(b)}

    def launch(self, platform: IPhone, job: JobSpec) -> Launch:
        files = platform.adapter
        remote_model = push_ios_model(platform, Path(job.model_path))
        name = f"h-{secrets.token_hex(6)}"
        job_path, result_path = f"jobs/{name}.json", f"results/{name}.json"
        payload = self.request(platform, job, remote_model)
        ev = push_eval(files, job) if remote_model.endswith(".mlpackage") else None
        if ev is not None:
            payload["eval"] = ev
        with tempfile.TemporaryDirectory() as tmp:
            local_job = Path(tmp) / f"{name}.json"
            local_job.write_text(json.dumps(payload))
            files.push(local_job, job_path)
        extra: dict[str, object] = {"job_name": name, "compute_units": platform.config.compute_units,
                                    "launch_arguments": ["--job", name]}
        launched = time.time()
        pid = self._pid = platform.adapter.launch(["--job", name])
        return Launch(files, result_path, f"Documents/{result_path}", app=f"the app (pid {pid})",
                      stop=f"jobs/{name}.stop" if payload.get("sustained_s") else None,
                      alive=lambda: platform.adapter.running(pid), leftovers=(job_path, result_path), extra=extra,
                      launched_unix_s=launched)

    def finish(self, platform: IPhone, sent: Launch) -> None:
        pid, self._pid = self._pid, None
        try:
            if pid is not None and platform.adapter.running(pid):
                platform.adapter.kill(pid)
        except (DeviceError, OSError):
            pass

    def place(self, platform: IPhone, result: RunnerResult, first_seen: float | None) -> tuple[RunnerResult, str]:
        """From when the result appeared, less after_loop_s (the phone's clock is not read); the app's thermal
        state at each window end becomes the runner's thermal_status, the first throttle event's clock."""
        placed, how = place_on_host(result, None, platform.job_t0, first_seen, move_wall=False)
        states = placed.other.get("window_thermal_states")
        if isinstance(states, list) and states:
            placed = placed.merged({"thermal_status": [[w[0], STATE_STATUS.get(str(st), 0)]
                                                       for w, st in zip(placed.windows, states)]})
        return placed, how

    def run(self, platform: IPhone, job: JobSpec) -> AppRun[IosBlock]:
        return self.collect(platform, job)  # the platform reads the block (devices/ios_target.py observed)
