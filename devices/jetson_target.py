"""NVIDIA Jetson over ssh: the LiteRT runner or TensorRT (trtexec), with tegrastats sampled meanwhile.

Power and energy per inference come from the board's input rail (VDD_IN, POM_5V_IN) in
tegrastats, or the sum of the rails it reports where it has no input rail. The jetson_clocks
state (clocks pinned at maximum or not) is recorded with every job, since it changes latency
more than most optimizations do.

TensorRT: trtexec builds an engine on the board from the variant's ONNX (the variant itself, or
the export the host made in the conversion phase, JobSpec.companions["onnx"]), cached per model
and precision in WORKDIR/engines, then times it with `--exportTimes` so every inference's latency
comes back, not only trtexec's summary.

TF-TRT (`runtime: tftrt`): the variant's SavedModel (exported on the host in the conversion phase,
JobSpec.companions["saved_model"]) is pushed and rpi/tftrt_runner.py converts it with the board's
TensorFlow, which must have TensorRT (JetPack's does; pip's never). Power is kept only for the
timed loop, since the runner's own TensorFlow import and conversion would otherwise dominate the
tegrastats window. Nothing here exports or converts on the host: that would run TensorFlow beside
another device's measurement.
"""
from __future__ import annotations

import json
import math
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from devices.probes import tegrastats as ts
from devices.probes.jetson_board import first_line, looks_like_jetson, parse_l4t_release
from devices.probes import trtexec as trt
from devices.rpi_target import TIMEOUT_EXIT, SshRunnerTarget, stream_clock
from devices.bench import Bench
from devices.idle_baseline import idle_seconds, rest_before_job, split_idle
from devices.remote_paths import content_path
from devices.runtimes import runtime_for
from devices.target import JobSpec, RawRun, parse_runner_output
from devices.timing import window_ending_at
from devices.tree_push import push_tree

TFTRT_RUNNER_SOURCE = Path(__file__).resolve().parent.parent / "rpi" / "tftrt_runner.py"
TFTRT_EXTRA = ("precision", "tensorrt_version", "conversion_us", "converted_now", "trt_engine_ops",
               "tf_ops_outside_trt", "gpus", "note", "warmup_runs_done")

PRECISION_FLAGS = {"fp32": [], "fp16": ["--fp16"], "int8": ["--int8"]}
# sysfs fallback when jetson_clocks --show needs root: per-CPU and GPU devfreq min/max/current.
CLOCKS_SCRIPT = (
    "for c in /sys/devices/system/cpu/cpu[0-9]*; do f=$c/cpufreq; [ -r $f/scaling_min_freq ] || continue; "
    "echo \"${c##*/} $(cat $f/scaling_min_freq) $(cat $f/scaling_max_freq) $(cat $f/scaling_cur_freq)\"; done; "
    "for d in /sys/class/devfreq/*; do case \"${d##*/}\" in *gpu*|*gv11b*|*ga10b*|*gp10b*|*gm20b*|*gb10b*) "
    "echo \"gpu $(cat $d/min_freq) $(cat $d/max_freq) $(cat $d/cur_freq)\";; esac; done; true"
)

# Whether the board's TensorFlow was built with TensorRT (TF-TRT), read from its build_info
# without importing TensorFlow (which takes many seconds on a Jetson).
TF_TRT_CHECK = (
    "import importlib.util, os, re\n"
    "spec = importlib.util.find_spec('tensorflow')\n"
    "if spec is None or not spec.submodule_search_locations:\n"
    "    print('no tensorflow')\n"
    "else:\n"
    "    root = list(spec.submodule_search_locations)[0]\n"
    "    try:\n"
    "        text = open(os.path.join(root, 'python', 'platform', 'build_info.py')).read()\n"
    "    except OSError:\n"
    "        text = ''\n"
    "    m = re.search(r\"is_tensorrt_build'?\\]?[\\s:=,]*(True|False)\", text)\n"
    "    print({'True': 'tensorflow with TensorRT', 'False': 'tensorflow without TensorRT'}.get(\n"
    "        m.group(1) if m else '', 'tensorflow, TensorRT support unknown'))\n"
)


def parse_jetson_clocks_show(text: str) -> dict[str, Any]:
    """`jetson_clocks --show` -> per-CPU and GPU min/max/current (Hz or kHz as printed) and `locked`.

    jetson_clocks pins every online CPU's and the GPU's minimum at its maximum.
    """
    cpus: dict[str, dict[str, int]] = {}
    out: dict[str, Any] = {"source": "jetson_clocks --show"}
    for line in text.splitlines():
        m = re.match(r"\s*(cpu\d+):\s*Online=(\d).*?MinFreq=(\d+)\s+MaxFreq=(\d+)\s+CurrentFreq=(\d+)", line)
        if m:
            if m.group(2) == "1":
                cpus[m.group(1)] = {"min": int(m.group(3)), "max": int(m.group(4)), "cur": int(m.group(5))}
            continue
        m = re.match(r"\s*(GPU|EMC)\s+MinFreq=(\d+)\s+MaxFreq=(\d+)\s+CurrentFreq=(\d+)", line)
        if m:
            out[m.group(1).lower()] = {"min": int(m.group(2)), "max": int(m.group(3)), "cur": int(m.group(4))}
            continue
        m = re.match(r"\s*NV Power Mode:\s*(\S+)", line)
        if m:
            out["nvpmodel"] = m.group(1)
    out["cpus"] = cpus
    out["locked"] = _locked(cpus, out.get("gpu"))
    return out


def parse_clocks_sysfs(text: str) -> dict[str, Any]:
    """CLOCKS_SCRIPT output -> the same shape as parse_jetson_clocks_show."""
    cpus: dict[str, dict[str, int]] = {}
    out: dict[str, Any] = {"source": "sysfs"}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and all(p.isdigit() for p in parts[1:]):
            entry = {"min": int(parts[1]), "max": int(parts[2]), "cur": int(parts[3])}
            if parts[0] == "gpu":
                out["gpu"] = entry
            else:
                cpus[parts[0]] = entry
    out["cpus"] = cpus
    out["locked"] = _locked(cpus, out.get("gpu"))
    return out


def _locked(cpus: dict[str, dict[str, int]], gpu: dict[str, int] | None) -> bool | None:
    if not cpus and not gpu:
        return None
    parts = list(cpus.values()) + ([gpu] if gpu else [])
    return all(p["min"] == p["max"] for p in parts)


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


def companion(job: JobSpec, kind: str) -> tuple[Path | None, str | None]:
    """The prepared export of KIND for this job, or the one-line reason there is none."""
    path = job.companions.get(kind)
    if path is not None:
        return Path(path), None
    runtime, what = {"saved_model": ("tftrt", "a SavedModel"), "onnx": ("tensorrt", "an ONNX")}.get(kind, (kind, kind))
    return None, (f"runtime {runtime} needs {what} export of {Path(job.model_path).name}, made on the host in the "
                  "conversion phase (harness run does that); none was handed to the target")


class JetsonTarget(SshRunnerTarget):
    kind = "jetson"
    model_path = "/proc/device-tree/model"
    release_path = "/etc/nv_tegra_release"
    # PMIC-Die reads a fixed 100 C (a trip setting); with cooldown_until_c every job would wait the cap.
    not_temperatures = ts.NOT_MEASURED_SENSORS

    @classmethod
    def companions_needed(cls, config: Any) -> tuple[str, ...]:
        rt = runtime_for("jetson", config.runtime)  # exports made in the conversion phase
        return rt.exports if rt else ()

    def prepare(self) -> None:
        super().prepare()
        if self.config.runtime == "tftrt":
            self.transport.push_if_changed(TFTRT_RUNNER_SOURCE, f"{self.workdir}/tftrt_runner.py")
            self._tftrt_ready = True

    # ---- facts and state --------------------------------------------------------------------

    def clocks_state(self) -> dict[str, Any]:
        res = self.transport.run(self.sudo([self.tool("jetson_clocks"), "--show"]), timeout_s=30)
        if res.ok and "MinFreq=" in res.stdout:
            state = parse_jetson_clocks_show(res.stdout)
        else:
            state = parse_clocks_sysfs(self.transport.run(["sh", "-c", CLOCKS_SCRIPT], timeout_s=30).stdout)
            if not state["cpus"] and "gpu" not in state:
                state["unavailable"] = f"jetson_clocks --show: {first_line(res.stderr or res.stdout, res.exit_code)}"
        if "nvpmodel" not in state:
            q = self.transport.run(self.sudo(["nvpmodel", "-q"]), timeout_s=30)
            m = re.search(r"NV Power Mode:\s*(\S+)", q.stdout)
            if m:
                state["nvpmodel"] = m.group(1)
        return state

    def board_identity(self) -> dict[str, Any]:
        """Device-tree model and L4T release, and a warning when they do not describe a Jetson."""
        model_res = self.transport.run(["cat", self.model_path], timeout_s=30)
        # the device-tree string ends in NUL; anything unprintable is dropped before it reaches a terminal
        model = "".join(c for c in model_res.stdout if c.isprintable()).strip()[:120] if model_res.ok else None
        release = self.transport.run(["cat", self.release_path], timeout_s=30)
        l4t = parse_l4t_release(release.stdout) if release.ok else None
        out: dict[str, Any] = {"board_model": model or None, "l4t": l4t}
        looks_jetson = looks_like_jetson(model)
        if l4t is None and not looks_jetson:
            out["warning"] = (f"kind: jetson, but this board is not a Jetson: no L4T release ({self.release_path}: "
                              f"{first_line(release.stderr, release.exit_code)}), device-tree model "
                              f"{model!r}" if model else
                              "kind: jetson, but this board is not a Jetson: no L4T release and no device-tree model")
        elif l4t is None:
            out["warning"] = (f"L4T release unknown "
                              f"({self.release_path}: {first_line(release.stderr, release.exit_code)})")
        return out

    def facts(self) -> dict[str, Any]:
        facts = super().facts()
        identity = self.board_identity()
        facts["l4t"] = identity["l4t"]
        facts["board_model"] = identity["board_model"]
        notes = [f"board: {identity['board_model'] or 'unknown'}, L4T {identity['l4t'] or 'unknown'}"]
        if identity.get("warning"):
            facts["warnings"] = [identity["warning"]]
            notes.append(f"warning: {identity['warning']}")
        clocks = self.clocks_state()
        facts["jetson_clocks"] = {"locked": clocks.get("locked"), "source": clocks.get("source"),
                                  "nvpmodel": clocks.get("nvpmodel")}
        if clocks.get("unavailable"):
            facts["jetson_clocks"]["unavailable"] = clocks["unavailable"]
        interval = self.config.tegrastats_interval_ms / 1000.0
        seconds = max(1.5, 2 * interval + 0.5)  # two lines at least, whatever the interval
        lines, said = self._tegrastats_lines(seconds)
        samples, unreadable = ts.parse_text("\n".join(line for _, line in lines))
        if samples:
            summary = self.tegrastats_summary(samples, interval)
            facts["tegrastats"] = {"input_rail": summary["input_rail"], "power_source": summary["power_source"],
                                   "idle_power_mw": summary["avg_power_mw"], "rails": summary["rails_seen"],
                                   "suggested_input_rail": summary["suggested_input_rail"],
                                   "sampled_s": round(seconds, 2), "samples": len(samples)}
            rails = ", ".join(summary["rails_seen"]) or "none"
            notes.append(f"tegrastats rails: {rails}; "
                         f"input rail: {summary['suggested_input_rail'] or 'none (sum of rails)'}")
            if summary.get("power_invalid"):
                facts["tegrastats"]["power_invalid"] = summary["power_invalid"]
                notes.append(f"warning: {summary['power_invalid']}")
        else:
            why = said or (unreadable[0] if unreadable else f"no output in {seconds:.1f} s")
            facts["tegrastats"] = {"unavailable": why[:200], "sampled_s": round(seconds, 2)}
            notes.append(f"tegrastats unavailable: {why[:200]}")
        facts["notes"] = notes
        have = self.transport.run(["test", "-x", self.tool("trtexec")], timeout_s=30)
        facts["trtexec"] = self.tool("trtexec") if have.ok else None
        tf = self.transport.run([self.python, "-c", TF_TRT_CHECK], timeout_s=60)
        facts["tf_trt"] = tf.stdout.strip() if tf.ok else f"unknown: {tf.stderr.strip()[-200:]}"
        return facts

    def tegrastats_summary(self, samples: list[dict[str, Any]], interval: float,
                           times: list[float] | None = None) -> dict[str, Any]:
        """ts.summarize, except that a power_rail the board does not have never raises: the summary keeps
        every other figure, its power is empty and `power_invalid` says why and which rail to use."""
        names = sorted({n for s in samples for n in (s.get("rails") or {})})
        wanted = self.config.power_rail
        suggest = ts.input_rail(names)
        problem = None
        if wanted and names and wanted not in names:
            problem = (f"power_rail {wanted!r} is not among this board's tegrastats rails ({', '.join(names)}): "
                       + (f"set power_rail: {suggest}" if suggest else "this board has no input rail; "
                          "leave power_rail unset to use the sum of its rails"))
            wanted = None
        try:
            summary = ts.summarize(samples, interval, wanted, times_s=times)
        except ValueError as exc:
            problem = problem or str(exc)
            summary = ts.summarize(samples, interval, None, times_s=times)
        if problem:
            summary.update(power_samples=[], avg_power_mw=None, max_power_mw=None, power_source=None,
                           input_rail=None, power_invalid=problem)
        summary["rails_seen"] = names
        summary["suggested_input_rail"] = suggest
        return summary

    def _tegrastats_argv(self) -> list[str]:
        return self.sudo([self.tool("tegrastats"), "--interval", str(self.config.tegrastats_interval_ms)])

    def _tegrastats_lines(self, seconds: float) -> tuple[list[tuple[float, str]], str]:
        """The lines of `seconds` of tegrastats, and the first line it wrote to stderr."""
        stream = self.transport.stream(self._tegrastats_argv())  # type: ignore[attr-defined]
        time.sleep(seconds)
        lines = stream.stop()
        return lines, _stderr_line(stream)

    # ---- runs -------------------------------------------------------------------------------

    @contextmanager
    def probe_session(self, job: JobSpec) -> Iterator[RawRun]:
        """tegrastats for the whole run, each line stamped with the host's time as it arrived; power from
        the input rail, board RAM, CPU clocks; clocks state alongside. With bench.idle_power_s the
        stream first runs that long with the board at rest (the idle baseline)."""
        raw = RawRun(runner={})
        try:
            raw.extra["jetson_clocks"] = self.clocks_state()
        except (ValueError, KeyError, IndexError, TypeError) as exc:  # a probe, not the measurement
            raw.extra["jetson_clocks"] = {"unavailable": f"{type(exc).__name__}: {exc}"[:200]}
        stream = self.transport.stream(self._tegrastats_argv())  # type: ignore[attr-defined]
        to_unix = stream_clock(stream)
        idle_s = idle_seconds(job.bench)
        busy_from = rest_before_job(idle_s)
        try:
            yield raw
        finally:
            lines = stream.stop()
        try:
            self._read_tegrastats(raw, lines, _stderr_line(stream), to_unix, busy_from, idle_s)
        except Exception as exc:  # whatever tegrastats printed, the runner's measurement stays
            raw.power_samples = []
            raw.extra["tegrastats"] = {"unavailable": f"could not read tegrastats: {type(exc).__name__}: {exc}"[:200]}
            raw.extra["energy_invalid"] = raw.extra["tegrastats"]["unavailable"]

    def _read_tegrastats(self, raw: RawRun, lines: list[tuple[float, str]], said: str, to_unix: Any = float,
                         busy_from: float = 0.0, idle_s: float = 0.0) -> None:
        """Each line stamped with the host's time (`to_unix`); samples before `busy_from` are the idle
        baseline when idle_s was asked for."""
        interval = self.config.tegrastats_interval_ms / 1000.0
        samples, times, unreadable = [], [], []
        for t, line in lines:
            parsed = ts.parse_line(line)
            if parsed is not None:
                samples.append(parsed)
                times.append(to_unix(t))
            elif line.strip():
                unreadable.append(line.strip())
        if not samples:
            why = said or (unreadable[0] if unreadable else "no output")
            raw.extra["tegrastats"] = {"unavailable": why[:200]}
            raw.extra["energy_invalid"] = f"tegrastats: {why[:200]}"
            return
        summary = self.tegrastats_summary(samples, interval, times)
        power = list(summary.pop("power_samples"))
        raw.power_samples, raw.idle_power_samples = split_idle(power, busy_from, idle_s)
        raw.freq_samples = [(t, float(max(c["freq_mhz"] for c in s["cpu"] if c and c.get("freq_mhz"))))
                            for t, s in zip(times, samples)
                            if any(c and c.get("freq_mhz") for c in s.get("cpu") or [])]
        ram = [s["ram_used_mb"] for t, s in zip(times, samples) if s.get("ram_used_mb") is not None and t >= busy_from]
        if ram:
            raw.memory["board_ram_used_peak_mb"] = float(max(ram))
            summary["ram_used_mb_max"] = max(ram)
            summary["ram_total_mb"] = next((s["ram_total_mb"] for s in samples if s.get("ram_total_mb")), None)
        summary["unreadable_lines"] = len(unreadable)
        if said:
            summary["stderr"] = said[:200]
        raw.extra["tegrastats"] = summary
        if summary.get("power_invalid"):
            raw.extra["energy_invalid"] = summary["power_invalid"]
        raw.extra["tegrastats_temperatures"] = ts.run_temperatures(samples, interval)

    def benchmark(self, job: JobSpec) -> RawRun:
        if self.config.runtime == "tensorrt":
            return self.benchmark_tensorrt(job)
        if self.config.runtime == "tftrt":
            return self.benchmark_tftrt(job)
        return _drop_pmic(super().benchmark(job))

    def benchmark_tensorrt(self, job: JobSpec) -> RawRun:
        """Build (once) and time an engine per precision; the first precision is the row's figure."""
        self.resolve()
        onnx, why = (Path(job.model_path), None) if Path(job.model_path).suffix == ".onnx" else companion(job, "onnx")
        if onnx is None:
            return RawRun(runner={"error": why})
        remote_onnx = self.remote_model_path(onnx)
        self.transport.push_if_changed(onnx, remote_onnx)
        precisions = list(self.config.tensorrt_precisions) or ["fp16"]
        first: RawRun | None = None
        others: dict[str, Any] = {}
        for precision in precisions:
            raw = self._tensorrt_one(job, onnx, remote_onnx, precision)
            if first is None:
                first = raw
            else:
                r = raw.runner
                others[precision] = {"error": r["error"]} if r.get("error") else {
                    "mean_us": r.get("summary", {}).get("mean_us") or _mean(r.get("latencies_us")),
                    "avg_power_mw": raw.extra.get("tegrastats", {}).get("avg_power_mw")}
        assert first is not None
        if others:
            first.extra["tensorrt_other_precisions"] = others
        if "onnx" in job.companions:
            first.extra["onnx"] = {"path": str(onnx), **job.companion_origins.get("onnx", {}), "remote": remote_onnx}
        return first

    def _tensorrt_one(self, job: JobSpec, onnx: Path, remote_onnx: str, precision: str) -> RawRun:
        engine = content_path(f"{self.workdir}/engines", onnx, f"{precision}.engine")
        times = f"{self.workdir}/engines/times-{precision}.json"
        build_log = None
        if not self.transport.run(["test", "-s", engine], timeout_s=30).ok:
            self.transport.run(["mkdir", "-p", f"{self.workdir}/engines"], timeout_s=30)
            built = self.transport.run(build_engine_argv(self.tool("trtexec"), remote_onnx, engine, precision),
                                       timeout_s=max(900.0, float(job.bench.timeout_s)))
            build_log = built.stdout + built.stderr
            if not built.ok:
                why = _first_error(build_log) or f"exit {built.exit_code}"
                return RawRun(runner={"error": f"trtexec could not build a {precision} engine: {why}"})
        self.transport.remove(times)
        with self.probe_session(job) as raw:
            res = self.transport.run(bench_engine_argv(self.tool("trtexec"), engine, times, job.bench)
                                     + profile_flags(bool(getattr(self.config, "op_profiling", False))),
                                     timeout_s=float(job.bench.timeout_s))
            ended = time.time()
        text = res.stdout + res.stderr
        try:
            parsed = trt.parse_output(text)
        except ValueError as exc:
            raw.runner = {"error": f"trtexec {precision}: {exc}"}
            return raw
        if "summary" not in parsed:  # a profile without --separateProfileRun: no timed figures to keep
            raw.runner = {"error": f"trtexec {precision}: {parsed.get('summary_absent', 'no performance summary')}"}
            return raw
        if parsed.get("walltime_s"):
            # trtexec prints no timestamps: its timed loop is taken as the walltime that ended as it returned.
            raw.window_unix_s = window_ending_at(ended, parsed["walltime_s"])
            raw.extra["power_window_estimate"] = "trtexec: [return - walltime, return] on the host's clock"
        runner: dict[str, Any] = {
            "runtime": "tensorrt", "runtime_version": parsed.get("tensorrt_version"), "threads": None,
            "delegate": f"tensorrt-{precision}", "error": None, "model_path": remote_onnx,
            "duration_s": parsed.get("walltime_s"), "temperatures": [],
            "summary": parsed["summary"],
        }
        exported = self.transport.run(["cat", "--", times], timeout_s=120)
        if exported.ok and exported.stdout.strip():
            try:
                runner["latencies_us"] = trt.parse_times(exported.stdout)["latencies_us"]
            except ValueError as exc:
                raw.extra["export_times_problem"] = str(exc)
        raw.runner = runner
        _drop_pmic(raw)
        raw.extra["trtexec"] = {k: parsed[k] for k in ("gpu_compute", "enqueue", "h2d", "d2h", "throughput_qps",
                                                      "gpu_compute_total_s", "batch") if k in parsed}
        raw.extra["engine"] = {"path": engine, "precision": precision, "built_now": build_log is not None}
        if parsed.get("op_profile"):  # TensorRT layers, for the report's "where the time goes"
            runner["op_profile"] = parsed["op_profile"]
        elif getattr(self.config, "op_profiling", False):
            runner["op_profile_error"] = "no per-layer profile: trtexec printed no `=== Profile` table"
        return raw

    # ---- TF-TRT -----------------------------------------------------------------------------

    def benchmark_tftrt(self, job: JobSpec) -> RawRun:
        """Push the SavedModel, convert and time it per precision on the board; the first is the row's figure."""
        self.resolve()
        if not getattr(self, "_tftrt_ready", False):
            self.prepare()
        saved_model, why = companion(job, "saved_model")
        if saved_model is None:
            return RawRun(runner={"error": why})
        remote_dir, pushed = push_tree(self.transport, saved_model, f"{self.workdir}/savedmodels")
        first: RawRun | None = None
        others: dict[str, Any] = {}
        for precision in list(self.config.tensorrt_precisions) or ["fp16"]:
            raw = self._tftrt_one(job, remote_dir, precision)
            if first is None:
                first = raw
                raw.extra["saved_model"] = {"path": str(saved_model), **job.companion_origins.get("saved_model", {}),
                                            "remote": remote_dir, "pushed_now": pushed}
                if raw.runner.get("error") or raw.runner.get("runtime") != "tf-trt":
                    break  # no TensorRT (or plain TensorFlow): other precisions would repeat it
            else:
                r = raw.runner
                others[precision] = {"error": r["error"]} if r.get("error") else {
                    "mean_us": _mean(r.get("latencies_us")), "avg_power_mw": _mean([p[1] for p in raw.power_samples])}
        assert first is not None
        if others:
            first.extra["tftrt_other_precisions"] = others
        return first

    def _tftrt_one(self, job: JobSpec, remote_dir: str, precision: str) -> RawRun:
        payload = {k: v for k, v in self.runner_job(job, remote_dir).items() if k not in ("model_path", "delegate")}
        payload.update(saved_model_dir=remote_dir, precision=precision,
                       allow_plain_tf=self.config.tftrt_allow_plain_tf,
                       converted_dir=f"{self.workdir}/tftrt/{remote_dir.rsplit('/', 1)[-1]}")
        limit = float(job.bench.timeout_s)
        argv = ["timeout", "-k", "5", f"{limit:.0f}", self.python, f"{self.workdir}/tftrt_runner.py", "--job", "-"]
        offset = self.board_clock_offset()
        with self.probe_session(job) as raw:
            res = self.transport.run(argv, timeout_s=limit + 30, stdin=json.dumps(payload))
        raw.runner = parse_runner_output(res.stdout, res.stderr, res.exit_code)
        if res.exit_code == TIMEOUT_EXIT and raw.runner.get("error"):
            raw.runner["error"] = f"tftrt runner still running after {limit:.0f} s (timeout_s); killed on the board"
        _drop_pmic(raw)
        raw.extra["tftrt"] = {k: raw.runner[k] for k in TFTRT_EXTRA if raw.runner.get(k) is not None}
        # The host keeps power only inside the runner's timed window (harness.orchestration.measure), by the
        # samples' own timestamps: not the TensorFlow import, not the conversion.
        raw.clock_offset_s = offset
        return raw


def _drop_pmic(raw: RawRun) -> RawRun:
    """tegrastats' temperatures join the row's series as `tegrastats:NAME` (so temp_max_c and the
    throttling check see them beside the sysfs zones); PMIC-Die reads a fixed 100 C on Jetsons: a trip
    point, not a temperature, it would flag every run, so it is left out."""
    merged = raw.extra.pop("tegrastats_temperatures", None) or []
    if merged and not raw.runner.get("error"):
        series = raw.runner.setdefault("temperatures", [])
        series.extend([t, phase, {f"tegrastats:{k}": v for k, v in zones.items()}] for t, phase, zones in merged)
    for row in raw.runner.get("temperatures") or []:
        if len(row) == 3 and isinstance(row[2], dict):
            row[2] = {k: v for k, v in row[2].items() if not k.split(":")[-1].upper().startswith("PMIC")}
    return raw


def _stderr_line(stream: Any) -> str:
    """The first non-empty line a probe stream wrote to stderr (`sudo: a password is required`), or ''."""
    text = getattr(stream, "stderr", b"")
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")[:200]


def _first_error(log: str) -> str | None:
    for line in log.splitlines():
        if "[E]" in line or "ERROR" in line or "Error" in line:
            return re.sub(r"^\s*(?:\[[^\]]*\]\s*)*", "", line).strip()[:300]
    tail = [line for line in log.strip().splitlines() if line.strip()]
    return tail[-1][:300] if tail else None


def _mean(values: list[float] | None) -> float | None:
    return sum(values) / len(values) if values else None

