"""The Android companion app (android_app/) as a runtime: the job as intent extras, its result JSON pulled
back, the runtime's own log lines read by benchmark_model's parser (one fallback rule on both paths), the
evaluation outputs pulled for the host to score.

Sustained mode (`--ef sustained_s`, `--ef window_s`): the app runs dev.harness.core.SustainedLoop, one unbroken
loop on one loaded interpreter, and writes the runner's sustained keys plus PowerManager's thermal status at
each window end. While it runs the host reads the CPU clocks once a window; the windows are then placed on the
host's clock by the phone's clock offset. Ctrl-C pushes result-TOKEN.stop beside the result (the app's own
external files directory, where adb already pushes the models): the app asks for it at every sampling point
and writes what it measured, which the waiting run still collects."""
from __future__ import annotations

import json
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from devices.app_outputs import pull_outputs
from devices.probes import benchmark_model as bm
from devices.runtime.base import ModelRuntime
from devices.runtime.phone import Phone
from devices.job import JobSpec, job_timeout_s
from devices.remote_paths import content_key
from devices.runner_result import RunnerResult
from devices.transport import TransportError

RunnerAndExtra = tuple[RunnerResult, dict[str, Any]]  # the app's JSON typed once, and the row's facts


def app_delegate(requested: str, android: dict[str, Any], extra: dict[str, Any]) -> None:
    """Read the runtime's own log lines the app sent with the parser benchmark_model's output goes
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


def app_outputs(platform: Phone, android: dict[str, Any], runner: dict[str, Any]) -> Any:
    """The app's evaluation outputs (raw little-endian float32) as an array of outputs_shape, or None."""
    remote, shape = android.get("outputs_path"), android.get("outputs_shape")
    if android.get("eval_error"):
        raise ValueError(f"the app's evaluation pass failed: {str(android['eval_error'])[:200]}")
    if runner.get("error") or not remote or not shape:
        return None
    return pull_outputs(platform.adb.pull, platform.adb.remove, str(remote), shape)


class AndroidApp(ModelRuntime[Phone, RunnerAndExtra]):
    """`runtime: app`: the companion app, installed or updated from `apk:` when the phone's is older."""

    def __init__(self, entry: Any) -> None:
        super().__init__(entry)
        self._stop_path: str | None = None  # the running sustained job's stop file, for abort()

    def prepare(self, platform: Phone) -> None:
        platform.ensure_app()
        platform.adb.run(["mkdir", "-p", f"{platform.app_dir}/models"], timeout_s=30.0)

    def facts(self, platform: Phone) -> dict[str, Any]:
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

    def run(self, platform: Phone, job: JobSpec) -> RunnerAndExtra:
        """Start the companion app with the job as intent extras, wait for its JSON, pull it back."""
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
        extra: dict[str, Any] = {"command": " ".join(argv)}
        res = platform.adb.run(argv, timeout_s=60)
        said = (res.stdout + res.stderr).strip()
        if not res.ok or "Error" in said:
            line = next((ln for ln in said.splitlines() if "Error" in ln), said[-200:])
            return RunnerResult.failed(f"am start failed: {line.strip()}"), extra
        limit = job_timeout_s(b)
        deadline = time.monotonic() + limit
        last_size = -1
        stop = result.removesuffix(".json") + ".stop" if sustained else None
        clocks: list[list[Any]] = []
        next_clock, window = time.monotonic(), window_s(b)
        first_seen: float | None = None
        self._stop_path = stop
        try:
            while True:
                st = platform.adb.stat(result)
                if st is not None and first_seen is None:
                    first_seen = time.monotonic()
                if st is not None and st[1] > 0 and st[1] == last_size:
                    break
                last_size = st[1] if st else -1
                if time.monotonic() > deadline:
                    return RunnerResult.failed(f"companion app wrote no result within {limit:.0f} s"), extra
                if stop and st is None and time.monotonic() >= next_clock:  # the clocks once a window
                    next_clock = time.monotonic() + window
                    read_clocks(platform, clocks)
                time.sleep(0.25)
        finally:
            self._stop_path = None
        if stop:
            try:
                platform.adb.remove(stop)  # pushed on Ctrl-C: no leftover in the app's directory
            except TransportError:
                pass
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "result.json"
            platform.adb.pull(result, local)
            text = local.read_text(errors="replace")
        platform.adb.remove(result)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return RunnerResult.failed(f"companion app result is not JSON: {exc}"), extra
        if not isinstance(data, dict):
            return RunnerResult.failed("companion app result is not a JSON object"), extra
        data.setdefault("runtime", "companion-app")
        android = data.pop("android", None)  # the app's own readings: battery, thermal, delegate per op
        if isinstance(android, dict):
            extra["app"] = android
            app_delegate(b.delegate, android, extra)
            try:  # the eval set's outputs as the phone computed them (GPU fp16, NNAPI, int8 kernels)
                extra["_outputs"] = app_outputs(platform, android, data)
            except (TransportError, FileNotFoundError, ValueError) as exc:  # the timing stands
                extra["outputs_error"] = str(exc)[:300]
        if sustained and data.get("windows") and not data.get("error"):  # onto the host's clock, said how
            extra["sustained_method"] = place_on_host(data, platform.clock_offset(), platform.job_t0, first_seen)
            data["cpu_freq"] = clocks
        elif data.get("timed_window_unix_s"):  # the phone's clock: moved onto the host's by its offset
            extra["phone_clock_offset_s"] = platform.clock_offset()
        if data.get("latencies_us") and "duration_s" not in data:
            data["duration_s"] = round(sum(data["latencies_us"]) / 1e6, 4)
        return RunnerResult.from_json(data), extra

    def abort(self, platform: Phone) -> None:
        """Ctrl-C, from another thread: a sustained loop is asked to stop (its stop file pushed); the app ends at
        its next sampling point and writes what it measured, which run() still collects. Other jobs run out."""
        stop = self._stop_path
        if stop is None:
            return
        try:
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(tmp) / "stop"
                local.write_text("stop\n")
                platform.adb.push(local, stop)
        except (TransportError, OSError):  # a phone that cannot take the file runs its loop to the end
            pass


def window_s(bench: Any) -> float:
    """The sustained window the app will use (SustainedLoop.windowS): the bench's, else sustained_s / 20,
    at least 0.5 s; 0.5 s outside sustained mode."""
    total = float(getattr(bench, "sustained_s", None) or 0.0)
    return float(getattr(bench, "sustained_window_s", None) or max(total / 20.0, 0.5))


def sustained_extras(bench: Any) -> list[str]:
    """`--ef sustained_s S --ef window_s W` (W 0: the app's default rule) in sustained mode, else nothing."""
    total = getattr(bench, "sustained_s", None)
    if not total:
        return []
    return ["--ef", "sustained_s", str(float(total)),
            "--ef", "window_s", str(float(getattr(bench, "sustained_window_s", None) or 0.0))]


def read_clocks(platform: Phone, into: list[list[Any]]) -> None:
    """One reading of the CPU clocks (MHz) while the app's loop runs, stamped when it returned (so a drop is
    never placed before it happened); a reading lost costs that point, never the loop."""
    try:
        freqs = platform.cpu_freqs()
    except TransportError:
        return
    if freqs:
        into.append([round(time.monotonic() - platform.job_t0, 3), "run",
                     {cpu: {"cur": khz // 1000} for cpu, khz in freqs.items()}])


def place_on_host(runner: dict[str, Any], offset_s: float | None, t0: float, first_seen: float | None) -> str:
    """The app's windows count from its loop's start on the phone's clock; the host's readings from t0 (host
    monotonic, the job's start). With the phone's clock offset (host minus phone wall clock, one `date` round
    trip) the loop's wall start moves onto the host's; without one, the loop is taken to end when its result
    first appeared (late by up to one 0.25 s poll and the app's after-loop readings). The app's per-window
    thermal status becomes the runner's thermal_status on the same clock. Returns how it was placed."""
    wall = [float(x) for x in runner["timed_window_unix_s"]]
    unix_t0 = time.time() - (time.monotonic() - t0)
    start_app = float(runner.get("timed_start_s") or 0.0)
    if offset_s is not None:
        base_host = wall[0] - start_app + offset_s  # host wall time of the loop's origin (its window clock's 0)
        how = f"by the phone's clock offset ({offset_s:+.3f} s, one `date +%s.%N` round trip)"
    else:
        end_app = start_app + float(runner.get("duration_s") or 0.0)
        seen = first_seen if first_seen is not None else time.monotonic()
        base_host = unix_t0 + (seen - t0) - end_app
        how = "as ending when its result appeared (the phone's clock was unreadable)"
    shift = base_host - unix_t0
    runner["windows"] = [[round(float(w[0]) + shift, 3), int(w[1])] for w in runner["windows"]]
    runner["timed_start_s"] = round(start_app + shift, 3)
    runner["timed_window_unix_s"] = [round(x - wall[0] + base_host + start_app, 6) for x in wall]
    statuses = runner.pop("window_thermal_status", None) or []
    runner["thermal_status"] = [[w[0], int(st)] for w, st in zip(runner["windows"], statuses) if st is not None]
    return f"the app's loop (one interpreter, loaded once); windows placed on the host's clock {how}"
