"""ONNX Runtime's Python API on this host (`kind: local`, `runtime: onnxruntime`): the second host runtime.

The variant's ONNX (the variant itself, or the export made in the conversion phase, JobSpec.companions["onnx"])
runs in a child process, `python -m devices.runtime.ort --job -`, timed by the LiteRT runner's own loop
(rpi/runner.py timed_loop: warm-up, min runs and seconds, every latency) and sampled by its thermal and clock
sampler, so its figures mean what the runner's mean. Its answer is the runner's result shape
(devices/runner_result.py). Needs the `onnxruntime` package (in the host extra).
"""
from __future__ import annotations

import argparse
import json
import platform as host_platform
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from devices.job import JobSpec, RawRun, job_timeout_s, parse_runner_output
from devices.runner_result import RunnerResult
from devices.runtime.base import ModelRuntime
from devices.runtime.board import Host, companion

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from rpi.runner import Job

PROVIDER = "CPUExecutionProvider"


class _Input(Protocol):
    """An onnxruntime NodeArg (onnxruntime ships no types): what `_inputs` reads of it."""

    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> Sequence[object]: ...  # ints, or a name / None for a dynamic dimension
    @property
    def type(self) -> str: ...  # "tensor(float)", ...


class _Session(Protocol):
    def get_inputs(self) -> Sequence[_Input]: ...


class OnnxRuntimeHost(ModelRuntime[Host, RawRun]):
    """ONNX Runtime's CPU execution provider, `threads` intra-op threads, in a child of this host."""

    def run(self, platform: Host, job: JobSpec) -> RawRun:
        onnx, why = (job.model_path, None) if job.model_path.suffix == ".onnx" else companion(job, "onnx", self.name)
        if onnx is None:
            return RawRun(RunnerResult.failed(str(why)))
        remote = platform.remote_model_path(onnx)
        platform.transport.push_if_changed(onnx, remote)
        payload = json.dumps(platform.runner_job(job, remote))
        with platform.probe_session(job) as raw:
            res = platform.transport.run([platform.python, "-m", "devices.runtime.ort", "--job", "-"],
                                         timeout_s=job_timeout_s(job.bench), stdin=payload)
        raw.result = parse_runner_output(res.stdout, res.stderr, res.exit_code)
        if platform.same_clock:
            raw.clock_offset_s = 0.0
        if "onnx" in job.companions:
            raw.extra["onnx"] = {"path": str(onnx), **job.companion_origins.get("onnx", {})}
        return raw


def _inputs(session: _Session, seed: int, shapes: dict[str, list[int]] | None) -> dict[str, npt.NDArray[np.generic]]:
    """Seeded random inputs of each input's shape and type (a dynamic dimension is 1 unless input_shapes says)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    feeds: dict[str, npt.NDArray[np.generic]] = {}
    for arg in session.get_inputs():
        shape = (shapes or {}).get(arg.name) or [d if isinstance(d, int) and d > 0 else 1 for d in arg.shape]
        dtype = np.dtype({"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
                          "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int32)": "int32",
                          "tensor(int64)": "int64", "tensor(bool)": "bool"}.get(arg.type, "float32"))
        if dtype.kind == "f":
            feeds[arg.name] = rng.random(shape, dtype=np.float32).astype(dtype)
        elif dtype.kind == "b":
            feeds[arg.name] = rng.random(shape) > 0.5
        else:
            info = np.iinfo(dtype)
            feeds[arg.name] = rng.integers(max(info.min, -128), min(info.max, 255) + 1, size=shape).astype(dtype)
    return feeds


def run_job(job: Job) -> dict[str, object]:
    """Load the ONNX model, warm up, time every run (the LiteRT runner's loop); the runner's result dict."""
    import onnxruntime as ort

    from rpi import runner

    cfg: runner.Job = {**runner.DEFAULT_JOB, **job}
    result: dict[str, object] = {
        "schema_version": runner.SCHEMA_VERSION, "runtime": "onnxruntime", "runtime_version": ort.__version__,
        "python": host_platform.python_version(), "machine": host_platform.machine(),
        "model_path": cfg["model_path"], "threads": cfg["threads"], "delegate_requested": cfg["delegate"],
        "delegate": None, "error": None,
    }
    origin = time.monotonic()
    sample, temps, freqs = runner.run_sampler(cfg["thermal_glob"], cfg.get("ignore_sensors") or (),
                                              cfg.get("cpufreq_glob"), origin)
    sample("before")
    rss_reset = runner._reset_peak_rss()
    rss_base_kb = runner._proc_status_kb("VmRSS")
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(cfg["threads"])
    t0 = time.perf_counter_ns()
    session = ort.InferenceSession(cfg["model_path"], sess_options=options, providers=[PROVIDER])
    result["init_us"] = (time.perf_counter_ns() - t0) / 1000.0
    result["delegate"] = f"onnxruntime-{session.get_providers()[0]}"
    feeds = _inputs(session, int(cfg["seed"]), cfg.get("input_shapes"))
    result["inputs"] = [{"name": k, "shape": list(v.shape), "dtype": v.dtype.name} for k, v in feeds.items()]
    try:
        result.update(runner.timed_loop(lambda: session.run(None, feeds), cfg, sample, origin))
    finally:
        sample("after")
    hwm_kb, end_kb = runner._proc_status_kb("VmHWM"), runner._proc_status_kb("VmRSS")
    if rss_reset and hwm_kb is not None and rss_base_kb is not None:
        result["peak_rss_delta_mb"] = round((hwm_kb - rss_base_kb) / 1024.0, 3)
    result["peak_rss_mb"] = round(hwm_kb / 1024.0, 3) if hwm_kb is not None else None
    result["end_rss_mb"] = round(end_kb / 1024.0, 3) if end_kb is not None else None
    result["temperatures"], result["cpu_freq"] = temps, freqs
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="time an ONNX model with ONNX Runtime (one JSON line out)")
    parser.add_argument("--job", required=True, help="the job as JSON, or - to read it from stdin")
    args = parser.parse_args(argv)
    try:
        job = json.loads(sys.stdin.read() if args.job == "-" else args.job)
        out = run_job(job)
    except Exception as exc:  # one JSON line whatever happened: the host reads the error from it
        out = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    print(json.dumps(out), flush=True)
    return 0 if not out.get("error") else 1


if __name__ == "__main__":
    sys.exit(main())
