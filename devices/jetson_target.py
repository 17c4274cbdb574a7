"""NVIDIA Jetson over ssh, the platform: tegrastats sampled while a runtime works, jetson_clocks, L4T facts.

Power and energy per inference come from the board's input rail (VDD_IN, POM_5V_IN) in
tegrastats, or the sum of the rails it reports where it has no input rail. The jetson_clocks
state (clocks pinned at maximum or not) is recorded with every job, since it changes latency
more than most optimizations do.

The runtimes that run a model here (the LiteRT runner, benchmark_model, TensorRT's trtexec, TF-TRT) live in
devices/runtime/ and are chosen by the registry (devices/runtimes.py) from devices.yaml's `runtime`.
"""
from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Any, TypedDict
from collections.abc import Callable

from devices.probes import tegrastats as ts
from devices.probes.jetson_board import first_line, looks_like_jetson, parse_l4t_release
from devices.config import JetsonDevice
from devices.rpi_target import SshRunnerTarget
from devices.idle_baseline import split_idle
from devices.runtime.board import JetsonBoard
from devices.runtime.trtexec import bench_engine_argv, build_engine_argv
from devices.target import BoardSamples, JobSpec, RawRun, stderr_line

# trtexec's command lines, where the probe tests read them (devices/runtime/trtexec.py)
__all__ = ["JetsonTarget", "bench_engine_argv", "build_engine_argv", "parse_clocks_sysfs", "parse_jetson_clocks_show"]

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


class Clock(TypedDict):
    """One clock's range and reading as jetson_clocks or sysfs prints it (Hz or kHz)."""

    min: int
    max: int
    cur: int


class ClocksState(TypedDict, total=False):
    """The clocks' state recorded with every Jetson job: `locked` when jetson_clocks pinned them."""

    source: str
    cpus: dict[str, Clock]
    gpu: Clock
    emc: Clock
    nvpmodel: str
    locked: bool | None
    unavailable: str


class BoardIdentity(TypedDict, total=False):
    board_model: str | None
    l4t: str | None
    warning: str


def _clock(lo: str, hi: str, cur: str) -> Clock:
    return {"min": int(lo), "max": int(hi), "cur": int(cur)}


def parse_jetson_clocks_show(text: str) -> ClocksState:
    """`jetson_clocks --show` -> per-CPU and GPU min/max/current (Hz or kHz as printed) and `locked`.

    jetson_clocks pins every online CPU's and the GPU's minimum at its maximum.
    """
    cpus: dict[str, Clock] = {}
    out: ClocksState = {"source": "jetson_clocks --show"}
    for line in text.splitlines():
        m = re.match(r"\s*(cpu\d+):\s*Online=(\d).*?MinFreq=(\d+)\s+MaxFreq=(\d+)\s+CurrentFreq=(\d+)", line)
        if m:
            if m.group(2) == "1":
                cpus[m.group(1)] = _clock(m.group(3), m.group(4), m.group(5))
            continue
        m = re.match(r"\s*(GPU|EMC)\s+MinFreq=(\d+)\s+MaxFreq=(\d+)\s+CurrentFreq=(\d+)", line)
        if m:
            out["gpu" if m.group(1) == "GPU" else "emc"] = _clock(m.group(2), m.group(3), m.group(4))
            continue
        m = re.match(r"\s*NV Power Mode:\s*(\S+)", line)
        if m:
            out["nvpmodel"] = m.group(1)
    out["cpus"] = cpus
    out["locked"] = _locked(cpus, out.get("gpu"))
    return out


def parse_clocks_sysfs(text: str) -> ClocksState:
    """CLOCKS_SCRIPT output -> the same shape as parse_jetson_clocks_show."""
    cpus: dict[str, Clock] = {}
    out: ClocksState = {"source": "sysfs"}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and all(p.isdigit() for p in parts[1:]):
            entry = _clock(parts[1], parts[2], parts[3])
            if parts[0] == "gpu":
                out["gpu"] = entry
            else:
                cpus[parts[0]] = entry
    out["cpus"] = cpus
    out["locked"] = _locked(cpus, out.get("gpu"))
    return out


def _locked(cpus: dict[str, Clock], gpu: Clock | None) -> bool | None:
    if not cpus and not gpu:
        return None
    parts = list(cpus.values()) + ([gpu] if gpu else [])
    return all(p["min"] == p["max"] for p in parts)


class JetsonTarget(SshRunnerTarget):
    kind = "jetson"
    config: JetsonDevice
    model_path = "/proc/device-tree/model"
    release_path = "/etc/nv_tegra_release"
    # PMIC-Die reads a fixed 100 C (a trip setting); with cooldown_until_c every job would wait the cap.
    not_temperatures = ts.NOT_MEASURED_SENSORS

    # ---- facts and state --------------------------------------------------------------------

    def clocks_state(self) -> ClocksState:
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

    def board_identity(self) -> BoardIdentity:
        """Device-tree model and L4T release, and a warning when they do not describe a Jetson."""
        model_res = self.transport.run(["cat", self.model_path], timeout_s=30)
        # the device-tree string ends in NUL; anything unprintable is dropped before it reaches a terminal
        model = "".join(c for c in model_res.stdout if c.isprintable()).strip()[:120] if model_res.ok else None
        release = self.transport.run(["cat", self.release_path], timeout_s=30)
        l4t = parse_l4t_release(release.stdout) if release.ok else None
        out: BoardIdentity = {"board_model": model or None, "l4t": l4t}
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

    def facts(self) -> dict[str, object]:
        facts = super().facts()
        identity = self.board_identity()
        facts["l4t"] = identity.get("l4t")
        facts["board_model"] = identity.get("board_model")
        notes = [f"board: {identity.get('board_model') or 'unknown'}, L4T {identity.get('l4t') or 'unknown'}"]
        if identity.get("warning"):
            facts["warnings"] = [identity.get("warning")]
            notes.append(f"warning: {identity.get('warning')}")
        clocks = self.clocks_state()
        shown: dict[str, object] = {"locked": clocks.get("locked"), "source": clocks.get("source"),
                                    "nvpmodel": clocks.get("nvpmodel")}
        if clocks.get("unavailable"):
            shown["unavailable"] = clocks.get("unavailable")
        facts["jetson_clocks"] = shown
        interval = self.config.tegrastats_interval_ms / 1000.0
        seconds = max(1.5, 2 * interval + 0.5)  # two lines at least, whatever the interval
        lines, said = self._tegrastats_lines(seconds)
        samples, unreadable = ts.parse_text("\n".join(line for _, line in lines))
        if samples:
            summary = self.tegrastats_summary(samples, interval)
            rail_facts: dict[str, object] = {
                "input_rail": summary["input_rail"], "power_source": summary["power_source"],
                "idle_power_mw": summary["avg_power_mw"], "rails": summary["rails_seen"],
                "suggested_input_rail": summary["suggested_input_rail"], "sampled_s": round(seconds, 2),
                "samples": len(samples)}
            rails = ", ".join(summary["rails_seen"]) or "none"
            notes.append(f"tegrastats rails: {rails}; "
                         f"input rail: {summary['suggested_input_rail'] or 'none (sum of rails)'}")
            if summary.get("power_invalid"):
                rail_facts["power_invalid"] = summary["power_invalid"]
                notes.append(f"warning: {summary['power_invalid']}")
            facts["tegrastats"] = rail_facts
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
        return lines, stderr_line(stream)

    # ---- runs -------------------------------------------------------------------------------

    def board_sampler(self, job: JobSpec) -> list[str]:
        """tegrastats for the whole run: power from the input rail, board RAM, CPU clocks, temperatures."""
        return self._tegrastats_argv()

    def before_sampling(self, raw: RawRun) -> None:
        """The clocks state (jetson_clocks pinned or not) recorded with every job."""
        try:
            raw.extra["jetson_clocks"] = self.clocks_state()
        except (ValueError, KeyError, IndexError, TypeError) as exc:  # a probe, not the measurement
            raw.extra["jetson_clocks"] = {"unavailable": f"{type(exc).__name__}: {exc}"[:200]}

    def read_samples(self, raw: RawRun, board: BoardSamples) -> None:
        try:
            self._read_tegrastats(raw, board.lines, board.said, board.to_unix, board.busy_from, board.idle_s)
        except Exception as exc:  # whatever tegrastats printed, the runner's measurement stays
            raw.power_samples = []
            raw.extra["tegrastats"] = {"unavailable": f"could not read tegrastats: {type(exc).__name__}: {exc}"[:200]}
            raw.extra["energy_invalid"] = raw.extra["tegrastats"]["unavailable"]

    def _read_tegrastats(self, raw: RawRun, lines: list[tuple[float, str]], said: str,
                         to_unix: Callable[[float], float] = float,
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
        """The registered runtime (LiteRT runner, benchmark_model, trtexec, TF-TRT) under tegrastats; PMIC-Die
        left out of every runtime's temperatures."""
        return _drop_pmic(super().benchmark(job))


def _drop_pmic(raw: RawRun) -> RawRun:
    """tegrastats' temperatures join the row's series as `tegrastats:NAME` (so temp_max_c and the
    throttling check see them beside the sysfs zones); PMIC-Die reads a fixed 100 C on Jetsons: a trip
    point, not a temperature, it would flag every run, so it is left out."""
    merged = raw.extra.pop("tegrastats_temperatures", None) or []
    series = list(raw.result.temperatures)
    if merged and not raw.result.error:
        series += [(float(t), str(phase), {f"tegrastats:{k}": v for k, v in zones.items()})
                   for t, phase, zones in merged]
    if series:
        raw.result = replace(raw.result, temperatures=tuple(
            (t, phase, {k: v for k, v in zones.items() if not k.split(":")[-1].upper().startswith("PMIC")})
            for t, phase, zones in series))
    return raw


# mypy checks here that a Jetson is what trtexec and TF-TRT need (devices/runtime/board.py)
_JETSON_FITS: type[JetsonBoard] = JetsonTarget
