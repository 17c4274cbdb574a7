"""The Android companion app (android_app/) as a runtime: the job as intent extras, its result JSON pulled
back, the runtime's own log lines read by benchmark_model's parser (one fallback rule on both paths), the
evaluation outputs pulled for the host to score."""
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
from devices.job import JobSpec
from devices.remote_paths import content_key
from devices.transport import TransportError

RunnerAndExtra = tuple[dict[str, Any], dict[str, Any]]


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
        argv += [*self._eval_extras(platform, job), "--es", "result_path", result, "--es", "run_token", token]
        extra: dict[str, Any] = {"command": " ".join(argv)}
        res = platform.adb.run(argv, timeout_s=60)
        said = (res.stdout + res.stderr).strip()
        if not res.ok or "Error" in said:
            line = next((ln for ln in said.splitlines() if "Error" in ln), said[-200:])
            return {"error": f"am start failed: {line.strip()}"}, extra
        deadline = time.monotonic() + b.timeout_s
        last_size = -1
        while True:
            st = platform.adb.stat(result)
            if st is not None and st[1] > 0 and st[1] == last_size:
                break
            last_size = st[1] if st else -1
            if time.monotonic() > deadline:
                return {"error": f"companion app wrote no result within {b.timeout_s:.0f} s"}, extra
            time.sleep(0.25)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "result.json"
            platform.adb.pull(result, local)
            text = local.read_text(errors="replace")
        platform.adb.remove(result)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return {"error": f"companion app result is not JSON: {exc}"}, extra
        if not isinstance(data, dict):
            return {"error": "companion app result is not a JSON object"}, extra
        data.setdefault("runtime", "companion-app")
        android = data.pop("android", None)  # the app's own readings: battery, thermal, delegate per op
        if isinstance(android, dict):
            extra["app"] = android
            app_delegate(b.delegate, android, extra)
            try:  # the eval set's outputs as the phone computed them (GPU fp16, NNAPI, int8 kernels)
                extra["_outputs"] = app_outputs(platform, android, data)
            except (TransportError, FileNotFoundError, ValueError) as exc:  # the timing stands
                extra["outputs_error"] = str(exc)[:300]
        if data.get("timed_window_unix_s"):  # the phone's clock: moved onto the host's by its offset
            extra["phone_clock_offset_s"] = platform.clock_offset()
        if data.get("latencies_us") and "duration_s" not in data:
            data["duration_s"] = round(sum(data["latencies_us"]) / 1e6, 4)
        return data, extra
