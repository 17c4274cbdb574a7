"""TFLite/LiteRT `benchmark_model`, the same tool on Android phones and Linux boards: its flags
(probes/benchmark_model.cli_flags), its log read once (`read_log`) into the runner's result shape.

On a phone the binary is pushed once per build (the name carries its hash) and sustained mode is back-to-back
runs of one window each; on a board it is the user's binary, run under `timeout` so an overrun dies there too.
"""
from __future__ import annotations

import dataclasses
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from devices.bench import Bench
from devices.probes import benchmark_model as bm
from devices.remote_paths import KEY_CHARS
from devices.runner_result import ClockReading, TempReading, RunnerResult
from devices.runtime.base import ModelRuntime
from devices.runtimes import Runtime
from devices.runtime.board import TIMEOUT_EXIT, Board
from devices.runtime.phone import Phone
from devices.job import JobSpec, RawRun
from devices.transport import CommandResult, TransportError, file_sha256
from devices.trtexec_sustained import window_length

RUNTIME = "tflite-benchmark_model"
RunnerAndExtra = tuple[RunnerResult, dict[str, object]]  # the result and the facts the platform adds to the row


def read_log(res: CommandResult) -> tuple[bm.Parsed, str | None]:
    """benchmark_model's stdout and stderr parsed as one log; the error line when it measured nothing."""
    text = res.stdout + ("\n" if res.stdout and not res.stdout.endswith("\n") else "") + res.stderr
    parsed = bm.parse(text)
    if res.exit_code != 0 or "summary" not in parsed:
        why = (parsed.get("errors") or text.strip().splitlines()[-1:] or [""])[-1]
        return parsed, f"benchmark_model exited {res.exit_code}: {bm.strip_prefix(why)[:300]}"
    return parsed, None


class BoardBenchmarkModel(ModelRuntime[Board, RawRun]):
    """`runtime: benchmark_model` on a Linux board: the user's binary, its log parsed like Android's (op profile
    included with `op_profiling`)."""

    window_ends_at_return = True

    def run(self, platform: Board, job: JobSpec) -> RawRun:
        platform.resolve()
        remote = platform.remote_model_path(job.model_path)
        platform.transport.push_if_changed(job.model_path, remote)
        with platform.probe_session(job) as raw:
            if job.bench.sustained_s:  # back-to-back windows, the board's zones and clocks read after each
                raw.result, extra = back_to_back(
                    lambda b: self._run_once(platform, remote, b), job.bench, origin=None,
                    read_clocks=lambda: self._clocks(platform), read_temps=platform.temperatures,
                    where=" on the board, thermal zones and clocks read over ssh after each")
            else:
                raw.result, extra = self._run_once(platform, remote, job.bench)
        raw.extra.update(extra)
        if raw.result.windows:  # the windows were timed on this host's clock
            raw.window_unix_s = raw.result.timed_window_unix_s
        return raw

    @staticmethod
    def _run_once(platform: Board, remote: str, bench: Bench) -> RunnerAndExtra:
        """One benchmark_model run: the runner-shaped result, or {"error"}, and its extra facts."""
        config = platform.config
        limit = float(bench.timeout_s)
        argv = ["timeout", "-k", "5", f"{limit:.0f}", str(config.benchmark_model),
                *bm.cli_flags(remote, bench, config.op_profiling), *config.benchmark_model_flags]
        res = platform.transport.run(argv, timeout_s=limit + 30)
        parsed, error = read_log(res)
        facts: dict[str, object] = {"command": " ".join(argv)}
        if error:
            if res.exit_code == TIMEOUT_EXIT:
                error = f"benchmark_model still running after {limit:.0f} s (timeout_s); killed on the board"
            return RunnerResult.failed(error), facts
        result, extra = bm.runner_result(parsed, bench.delegate, bench.threads, RUNTIME, None)
        return result, {**facts, **extra}

    @staticmethod
    def _clocks(platform: Board) -> dict[str, dict[str, int]]:
        """The CPUs' clocks and caps now (sustained benchmark_model: after each window)."""
        from devices.board_sustained import read_clocks

        return read_clocks(platform.transport, platform.cpufreq_glob)


class PhoneBenchmarkModel(ModelRuntime[Phone, RunnerAndExtra]):
    """`runtime: benchmark_model` (the default) on an Android phone, pinned with `cpu_mask` when set."""

    window_ends_at_return = True

    def __init__(self, entry: Runtime) -> None:
        super().__init__(entry)
        self.remote: str | None = None
        self.sha: str | None = None

    def prepare(self, platform: Phone) -> None:
        platform.adb.run(["mkdir", "-p", f"{platform.workdir}/models", f"{platform.workdir}/bin"], timeout_s=30.0)
        local = platform.local_binary()
        sha = file_sha256(local)
        remote = f"{platform.workdir}/bin/benchmark_model-{sha[:KEY_CHARS]}"  # content-addressed (remote_paths)
        st = platform.adb.stat(remote)
        if st is None or st[1] != local.stat().st_size:  # the name carries the hash: push once
            platform.adb.push(local, remote, mode=0o755)
        self.remote, self.sha = remote, sha

    def facts(self, platform: Phone) -> dict[str, object]:
        return {"runtime": RUNTIME}

    @property
    def ready(self) -> bool:
        return self.remote is not None

    def run(self, platform: Phone, job: JobSpec) -> RunnerAndExtra:
        if job.bench.sustained_s:
            return self._sustained(platform, job)
        return self._run_once(platform, job)

    def flags(self, platform: Phone, job: JobSpec, remote_model: str, csv_path: str | None) -> list[str]:
        """benchmark_model's flags (the one rule shared with Linux boards) plus this phone's extra_flags."""
        config = platform.config
        return [*bm.cli_flags(remote_model, job.bench, config.op_profiling, csv_path,
                              peak_memory=config.report_peak_memory), *config.extra_flags]

    def _run_once(self, platform: Phone, job: JobSpec) -> RunnerAndExtra:
        config = platform.config
        remote_model = platform.push_model(job.model_path, f"{platform.workdir}/models")
        csv_path = f"{platform.workdir}/profile-{secrets.token_hex(4)}.csv" if config.op_profiling else None
        argv = [self.remote or "benchmark_model", *self.flags(platform, job, remote_model, csv_path)]
        if config.cpu_mask:
            argv = ["taskset", config.cpu_mask.removeprefix("0x"), *argv]
        res = platform.adb.run(argv, timeout_s=job.bench.timeout_s)
        parsed, error = read_log(res)
        extra: dict[str, object] = {"command": " ".join(argv), "cpu_mask": config.cpu_mask}
        if error:
            return RunnerResult.failed(error), extra
        if csv_path:
            profile = self._pull_profile(platform, csv_path)
            if profile:
                parsed["op_profile"] = profile
        result, more = bm.runner_result(parsed, job.bench.delegate, job.bench.threads, RUNTIME,
                                        f"sha256:{(self.sha or '')[:12]}")
        extra.update(more)
        return result, extra

    @staticmethod
    def _pull_profile(platform: Phone, csv_path: str) -> bm.OpProfile | None:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "profile.csv"
            try:
                platform.adb.pull(csv_path, local)
            except FileNotFoundError:
                return None  # an older binary without --profiling_output_csv_file printed the table
            platform.adb.remove(csv_path)
            return bm.parse_profile_csv(local.read_text(errors="replace")) or None

    def _sustained(self, platform: Phone, job: JobSpec) -> RunnerAndExtra:
        """Back-to-back windows (`back_to_back`) on the phone's job clock; the platform's sampler reads the
        zones throughout, the clocks are read after each window (cpufreq's kHz, shown in MHz)."""
        def clocks() -> dict[str, dict[str, int]]:
            return {cpu: {"cur": khz // 1000} for cpu, khz in platform.cpu_freqs().items()}

        return back_to_back(lambda b: self._run_once(platform, dataclasses.replace(job, bench=b)), job.bench,
                            origin=platform.job_t0, read_clocks=clocks, read_temps=None)


Window = Callable[[Bench], RunnerAndExtra]


def back_to_back(run_one: Window, bench: Bench, *, origin: float | None,
                 read_clocks: Callable[[], dict[str, dict[str, int]]],
                 read_temps: Callable[[], dict[str, float]] | None, where: str = "") -> RunnerAndExtra:
    """Sustained mode with benchmark_model, on a phone or a Linux board alike: `run_one(window_bench)` back to
    back until bench.sustained_s, the clocks (`read_clocks`, {cpuN: {"cur": MHz, ...}}) and, where the platform
    has no sampler of its own, the zones (`read_temps`) read after each window, every time on the clock whose
    t = 0 is `origin` (time.monotonic(); None: now). Each run reloads the model, so the load has short gaps (the
    tool's start and init): said in the row. A failure or Ctrl-C after the first window keeps the windows
    measured (`interrupted`, with the reason)."""
    total, window = float(bench.sustained_s or 0.0), window_length(bench)
    one = bench.model_copy(update={"min_s": window, "max_s": window, "min_runs": 1, "warmup_runs": 0,
                                   "sustained_s": None, "timeout_s": max(float(bench.timeout_s), window + 60)})
    t0 = time.monotonic() if origin is None else origin
    temps: list[TempReading] = []
    clocks: list[ClockReading] = []

    def probe(phase: str) -> None:
        # Each reading is stamped when its read returned: it shows the state at some moment during the read (an
        # ssh or adb round trip), so stamped at the end a throttle onset is never placed before it happened (stamped
        # before the reads, a clock that fell during them was placed up to two round trips early).
        try:  # a reading lost costs that point of the curve, never the windows
            if read_temps is not None and (zones := read_temps()):
                temps.append((round(time.monotonic() - t0, 3), phase, zones))
        except TransportError:
            pass
        try:
            if clocks_now := read_clocks():
                clocks.append((round(time.monotonic() - t0, 3), phase, clocks_now))
        except TransportError:
            pass

    if read_temps is not None:  # a platform without a sampler: the zones and clocks before the first window
        probe("before")
    start, wall_start = time.monotonic(), time.time()
    windows: list[tuple[float, int]] = []
    p50s: list[float | None] = []
    stats: list[dict[str, float]] = []
    result, extra = RunnerResult(), dict[str, object]()
    interrupted = None
    while time.monotonic() - start < total:
        try:
            got, got_extra = run_one(one)
        except TransportError as exc:
            if not windows:
                raise
            interrupted = f"window {len(windows) + 1}: {str(exc)[:200]}"
            break
        if got.error or not got.summary:
            if not windows:
                return got, got_extra
            # the row is the windows measured (the last good window's facts), not the failed one's error
            interrupted = f"window {len(windows) + 1}: {str(got.error)[:200]}"
            break
        result, extra = got, got_extra
        stats.append(got.printed)
        windows.append((round(time.monotonic() - t0, 3), sum(int(x["count"]) for x in stats)))
        p50s.append(got.printed.get("p50_us"))
        probe("run")
    count = sum(int(x["count"]) for x in stats)
    summary: dict[str, float] = {"count": count, "mean_us": sum(x["mean_us"] * x["count"] for x in stats) / count}
    for key, pick in (("min_us", min), ("max_us", max)):
        vals = [x[key] for x in stats if x.get(key) is not None]
        if len(vals) == len(stats):
            summary[key] = pick(vals)
    result = dataclasses.replace(
        result, summary=summary, duration_s=round(sum(x["count"] * x["mean_us"] for x in stats) / 1e6, 4),
        windows=tuple(windows), window_p50_us=tuple(p50s), cpu_freq=tuple(clocks),
        timed_start_s=round(start - t0, 3), interrupted=interrupted is not None,
        timed_window_unix_s=(round(wall_start, 6), round(time.time(), 6)))
    if read_temps is not None:
        result = dataclasses.replace(result, temperatures=tuple(temps))
    extra["sustained_method"] = (f"{len(windows)} back-to-back benchmark_model runs of {window:g} s{where} (the "
                                 "model is reloaded each window: short gaps in the load)")
    if interrupted:
        extra["sustained_interrupted"] = interrupted
    return result, extra
