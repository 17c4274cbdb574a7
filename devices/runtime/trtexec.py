"""TensorRT through trtexec on a Jetson: an engine built on the board from the variant's ONNX (the variant
itself, or the export the host made in the conversion phase, JobSpec.companions["onnx"]), cached per model and
precision in WORKDIR/engines, then timed with `--exportTimes` so every inference's latency comes back, not only
trtexec's summary. Each of `tensorrt_precisions` is timed; the first is the row's figure."""
from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from devices import trtexec_sustained as trs
from devices.bench import Bench
from devices.probes import trtexec as trt
from devices.remote_paths import content_path
from devices.runner_result import RunnerResult
from devices.runtime.base import ModelRuntime
from devices.runtime.board import JetsonBoard, companion, mean
from devices.runtimes import Runtime
from devices.job import JobSpec, RawRun, job_timeout_s
from devices.timing import window_ending_at

PRECISION_FLAGS = {"fp32": [], "fp16": ["--fp16"], "int8": ["--int8"]}


def build_engine_argv(trtexec: str, onnx: str, engine: str, precision: str) -> list[str]:
    """trtexec that builds and saves an engine; int8 without a calibration cache is for speed only."""
    return [trtexec, f"--onnx={onnx}", f"--saveEngine={engine}", *PRECISION_FLAGS[precision]]


def bench_engine_argv(trtexec: str, engine: str, times_json: str, bench: Bench) -> list[str]:
    """trtexec timing a saved engine for at least min_runs and min_s, every inference exported."""
    return [trtexec, f"--loadEngine={engine}", f"--warmUp={int(round(bench.warmup_s * 1000))}",
            f"--iterations={bench.min_runs}", f"--duration={max(1, math.ceil(bench.min_s))}",
            f"--exportTimes={times_json}", "--useSpinWait"]


def profile_flags(op_profiling: bool) -> list[str]:
    """op_profiling: a per-layer profile in a run of its own (`--dumpProfile --separateProfileRun`), so the timed
    loop's figures carry no profiler synchronisation; without --separateProfileRun trtexec prints no summary."""
    return ["--dumpProfile", "--separateProfileRun"] if op_profiling else []


def first_error(log: str) -> str | None:
    for line in log.splitlines():
        if "[E]" in line or "ERROR" in line or "Error" in line:
            return re.sub(r"^\s*(?:\[[^\]]*\]\s*)*", "", line).strip()[:300]
    tail = [line for line in log.strip().splitlines() if line.strip()]
    return tail[-1][:300] if tail else None


class Trtexec(ModelRuntime[JetsonBoard, RawRun]):
    """`runtime: tensorrt` on a Jetson."""

    window_ends_at_return = True

    def __init__(self, entry: Runtime) -> None:
        super().__init__(entry)
        self._stop = threading.Event()  # Ctrl-C: no further sustained segment starts

    def abort(self, platform: JetsonBoard) -> None:
        self._stop.set()

    def run(self, platform: JetsonBoard, job: JobSpec) -> RawRun:
        """Build (once) and time an engine per precision; the first precision is the row's figure."""
        self._stop.clear()
        platform.resolve()
        onnx, why = (Path(job.model_path), None) if Path(job.model_path).suffix == ".onnx" else \
            companion(job, "onnx", self.name)
        if onnx is None:
            return RawRun(RunnerResult.failed(str(why)))
        remote_onnx = platform.remote_model_path(onnx)
        platform.transport.push_if_changed(onnx, remote_onnx)
        precisions = list(platform.config.tensorrt_precisions) or ["fp16"]
        if getattr(job.bench, "sustained_s", None):  # one sustained loop per job: the first precision only
            precisions = precisions[:1]
        first: RawRun | None = None
        others: dict[str, dict[str, object]] = {}
        for precision in precisions:
            raw = self.one(platform, job, onnx, remote_onnx, precision)
            if first is None:
                first = raw
            else:
                r, tegrastats = raw.result, raw.extra.get("tegrastats")
                others[precision] = {"error": r.error} if r.error else {
                    "mean_us": r.printed.get("mean_us") or mean(r.latencies_us),
                    "avg_power_mw": tegrastats.get("avg_power_mw") if isinstance(tegrastats, Mapping) else None}
        assert first is not None
        if others:
            first.extra["tensorrt_other_precisions"] = others
        if "onnx" in job.companions:
            first.extra["onnx"] = {"path": str(onnx), **job.companion_origins.get("onnx", {}), "remote": remote_onnx}
        return first

    def one(self, platform: JetsonBoard, job: JobSpec, onnx: Path, remote_onnx: str, precision: str) -> RawRun:
        """One precision: the engine built when the board has none cached, then timed under the probes."""
        transport, workdir, trtexec = platform.transport, platform.workdir, platform.tool("trtexec")
        engine = content_path(f"{workdir}/engines", onnx, f"{precision}.engine")
        times = f"{workdir}/engines/times-{precision}.json"
        build_log = None
        if not transport.run(["test", "-s", engine], timeout_s=30).ok:
            transport.run(["mkdir", "-p", f"{workdir}/engines"], timeout_s=30)
            built = transport.run(build_engine_argv(trtexec, remote_onnx, engine, precision),
                                  timeout_s=max(900.0, float(job.bench.timeout_s)))
            build_log = built.stdout + built.stderr
            if not built.ok:
                why = first_error(build_log) or f"exit {built.exit_code}"
                return RawRun(RunnerResult.failed(f"trtexec could not build a {precision} engine: {why}"))
        transport.remove(times)
        op_profiling = bool(getattr(platform.config, "op_profiling", False))
        sustained, poller, t0 = getattr(job.bench, "sustained_s", None), None, time.monotonic()
        segments: list[trs.Segment] = []
        cut_short: str | None = None
        argv = bench_engine_argv(trtexec, engine, times, job.bench) + profile_flags(op_profiling)
        with platform.probe_session(job) as raw:
            if sustained:  # zones and clocks read once per window while trtexec loops (devices/trtexec_sustained.py)
                from devices.board_sustained import read_clocks

                poller = trs.ThermalPoller(platform.temperatures,
                                           lambda: read_clocks(transport, platform.cpufreq_glob),
                                           trs.window_length(job.bench), t0).start()
            try:
                if sustained:  # segments back to back: a Ctrl-C keeps the finished ones
                    limit = job_timeout_s(job.bench)
                    segments, cut_short = trs.run_segments(lambda a: transport.run(a, timeout_s=limit), trtexec,
                                                           engine, times.removesuffix(".json"), job.bench, t0,
                                                           self._stop.is_set)
                    res = segments[0].result
                else:
                    res = transport.run(argv, timeout_s=job_timeout_s(job.bench))
            finally:
                ended = time.time()
                if poller is not None:
                    poller.stop()
        text = res.stdout + res.stderr
        try:
            parsed = trt.parse_output(text)
        except ValueError as exc:
            raw.result = RunnerResult.failed(f"trtexec {precision}: {exc}")
            return raw
        if "summary" not in parsed:  # a profile without --separateProfileRun: no timed figures to keep
            raw.result = RunnerResult.failed(
                f"trtexec {precision}: {parsed.get('summary_absent', 'no performance summary')}")
            return raw
        walltime, version, summary = parsed.get("walltime_s"), parsed.get("tensorrt_version"), parsed["summary"]
        walltime = walltime if isinstance(walltime, float) else None  # the parser's figures are floats or absent
        if walltime:
            # trtexec prints no timestamps: its timed loop is taken as the walltime that ended as it returned.
            raw.window_unix_s = window_ending_at(ended, walltime)
            raw.extra["power_window_estimate"] = "trtexec: [return - walltime, return] on the host's clock"
        # What trtexec measures (its summary, the TensorRT version, the walltime); threads, memory and the
        # rest stay empty: it reports none of them.
        result = RunnerResult(runtime="tensorrt", runtime_version=version if isinstance(version, str) else None,
                              delegate=f"tensorrt-{precision}", model_path=remote_onnx, duration_s=walltime,
                              summary=summary if isinstance(summary, Mapping) else None)
        if poller is not None:  # sustained: windows from the exported times (devices/trtexec_sustained.py)
            result, problem = trs.fill(transport, platform.python, segments, job.bench, result, raw, poller,
                                       cut_short)
            if problem:
                raw.result = RunnerResult.failed(f"trtexec {precision} sustained: {problem}")
                return raw
        elif (exported := transport.run(["cat", "--", times], timeout_s=120)).ok and exported.stdout.strip():
            try:
                result = replace(result, latencies_us=tuple(
                    float(x) for x in trt.parse_times(exported.stdout)["latencies_us"]))
            except ValueError as exc:
                raw.extra["export_times_problem"] = str(exc)
        raw.extra["trtexec"] = {k: parsed[k] for k in ("gpu_compute", "enqueue", "h2d", "d2h", "throughput_qps",
                                                      "gpu_compute_total_s", "batch") if k in parsed}
        raw.extra["engine"] = {"path": engine, "precision": precision, "built_now": build_log is not None}
        if isinstance(profile := parsed.get("op_profile"), Mapping) and profile:  # TensorRT layers, for the report
            result = replace(result, op_profile=profile)
        elif op_profiling:
            result = replace(result, op_profile_error="no per-layer profile: trtexec printed no `=== Profile` table")
        raw.result = result
        return raw
