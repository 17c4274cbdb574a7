"""`trtexec` output (TensorRT 5 through 10) and its `--exportTimes` JSON: pure parsers.

Generations (all accepted, with or without the `[MM/DD/YYYY-HH:MM:SS] [I] ` prefix):
- TensorRT <= 6 (and giexec): one line per run of `--avgRuns` inferences, no summary:
  `Average over 10 runs is 25.9 ms (host walltime is 26.1 ms, 99% percentile time is 25.97).`
  (older: `(percentile time is Z)` or nothing after the mean). X and Z are GPU times (CUDA
  events around enqueue), Y the host wall time per inference.
- TensorRT 7.0/7.1: a header line (`Host Latency`, `Enqueue Time`, `GPU Compute`) followed by
  `min: 1.64 ms (end to end 1.66 ms)`, ..., `percentile: 1.67 ms at 99% (end to end 3.04 ms at 99%)`,
  `throughput: 0 qps`, `walltime: 3.0 s`.
- TensorRT 7.2+/8/10: `=== Performance summary ===` then one line per family:
  `Latency: min = 0.387 ms, max = ..., mean = ..., median = ..., percentile(90%) = ..., percentile(99%) = ...`
- 7.1+: `Average on 10 runs - GPU latency: X ms - Host latency: Y ms (end to end Z ms, enqueue W ms)`
  trace lines, kept per run.
- `--dumpProfile`: the `=== Profile (N iterations ) ===` per-layer table, beside a summary (with
  `--separateProfileRun`) or alone (without it trtexec prints no summary): `op_profile`, read by
  devices.probes.layer_profile; a log holding only the table is accepted, its `Total` row is then
  the only timing (`layer_profile_total_avg_ms`, time with the profiler's synchronisation).
"Latency" (host latency: copy in, compute, copy out) is the headline figure, the one comparable to
a LiteRT invoke(). Nothing is filled in: a figure the log does not print is absent, and figures
computed from printed ones carry `_derived` in their name (or are listed in `summary["derived"]`).
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TypedDict

from devices.probes import layer_profile

_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_PREFIX = re.compile(r"^\s*(?:\[[^\]]*\]\s*)*")
_FAMILY8 = re.compile(r"^(Latency|Host Latency|End-to-End Host Latency|Enqueue Time|H2D Latency|GPU Compute Time|"
                      r"GPU Compute|D2H Latency):\s*(.*min.*)$")
_STAT8 = re.compile(rf"(min|max|mean|median|percentile\((\d+(?:\.\d+)?)%\))\s*=?\s*{_NUM}\s*ms")
_HEADER7 = {"Host Latency": "latency", "Enqueue Time": "enqueue", "H2D Latency": "h2d", "GPU Compute": "gpu_compute",
            "D2H Latency": "d2h"}
_STAT7 = re.compile(rf"^(min|max|mean|median):\s*{_NUM}\s*ms(?:\s*\(end to end {_NUM}\s*ms\))?")
_PCT7 = re.compile(rf"^percentile:\s*{_NUM}\s*ms at (\d+(?:\.\d+)?)%(?:\s*\(end to end {_NUM}\s*ms at [\d.]+%\))?")
_FAMILY_KEYS = {"Latency": "latency", "Host Latency": "latency", "End-to-End Host Latency": "end_to_end",
                "Enqueue Time": "enqueue", "H2D Latency": "h2d", "GPU Compute Time": "gpu_compute",
                "GPU Compute": "gpu_compute", "D2H Latency": "d2h"}
_AVERAGE_OVER = re.compile(rf"Average over (\d+) runs is {_NUM} ms"
                           rf"(?: \((?:host walltime is {_NUM} ms, )?"
                           rf"(?:(\d+(?:\.\d+)?)\\?% )?percentile time is {_NUM}\))?")
_TRACE = re.compile(rf"Average on (\d+) runs - GPU latency: {_NUM} ms - Host latency: {_NUM} ms"
                    rf" \((?:end to end {_NUM} ms, )?enqueue {_NUM} ms\)")
_VERSION_TAG = re.compile(r"\[TensorRT v(\d+)\]")
_VERSION_LINE = re.compile(r"TensorRT version:\s*(\d+\.\d+(?:\.\d+)*)")
_CV = re.compile(rf"coefficient of variance\s*=\s*{_NUM}\s*%", re.IGNORECASE)


def version_from_tag(tag: int) -> str:
    """`[TensorRT v8400]` -> 8.4.0; `v100200` -> 10.2.0 (TensorRT 10 widened the encoding)."""
    if tag >= 100000:
        return f"{tag // 10000}.{tag // 100 % 100}.{tag % 100}"
    return f"{tag // 1000}.{tag // 100 % 10}.{tag % 100}"


def _stat_key(name: str, pct: str | None) -> str:
    if pct is not None:
        return f"p{float(pct):g}_us".replace(".", "_")
    return {"median": "p50_us"}.get(name, f"{name}_us")


def _us(ms: str) -> float:
    return round(float(ms) * 1000.0, 3)


class _Run:
    """The figures of one timed run (one performance summary)."""

    def __init__(self) -> None:
        self.families: dict[str, dict[str, float]] = {}
        self.scalars: dict[str, float] = {}

    def empty(self) -> bool:
        return not self.families and not self.scalars

    def as_dict(self) -> dict[str, object]:
        return {**self.scalars, **{k: dict(v) for k, v in self.families.items() if v}}


def parse_output(text: str) -> dict[str, object]:
    """Every figure trtexec printed; families in microseconds. Raises ValueError with the reason when none."""
    out: dict[str, object] = {"tool": "trtexec"}
    command = ""
    errors: list[str] = []
    runs: list[_Run] = [_Run()]
    average_over: list[dict[str, float]] = []
    trace: list[dict[str, float]] = []
    section: str | None = None

    def family(key: str) -> dict[str, float]:
        if key in runs[-1].families and section is None:
            runs.append(_Run())  # the same family again: a second run in one log
        return runs[-1].families.setdefault(key, {})

    for raw in text.splitlines():
        if "&&&& PASSED" in raw or "&&&& FAILED" in raw:
            out["passed"] = "&&&& PASSED" in raw
            cmd = raw.split("#", 1)
            if len(cmd) == 2:
                out["command"] = command = cmd[1].strip()
        tag = _VERSION_TAG.search(raw)
        if tag:
            out["tensorrt_version"] = version_from_tag(int(tag.group(1)))
        vline = _VERSION_LINE.search(raw)
        if vline:
            out["tensorrt_version"] = vline.group(1)
        if re.search(r"\[E\]", raw):
            errors.append(_PREFIX.sub("", raw).strip())
        line = _PREFIX.sub("", raw).strip()
        if line.startswith("=== Performance summary ===") and not runs[-1].empty():
            runs.append(_Run())
            section = None
            continue
        cv = _CV.search(line)
        if cv:
            runs[-1].scalars["gpu_compute_cv_pct"] = float(cv.group(1))  # trtexec prints it for GPU compute time
            continue
        m = _AVERAGE_OVER.search(line)
        if m:
            run = {"runs_averaged": int(m.group(1)), "gpu_mean_us": _us(m.group(2))}
            if m.group(3):
                run["host_walltime_mean_us"] = _us(m.group(3))
            if m.group(5):
                run[f"gpu_p{float(m.group(4) or 99):g}_us".replace(".", "_") if m.group(4)
                    else "gpu_percentile_us"] = _us(m.group(5))
            average_over.append(run)
            out["format"] = "tensorrt<=6"
            continue
        m = _TRACE.search(line)
        if m:
            t = {"runs_averaged": int(m.group(1)), "gpu_latency_us": _us(m.group(2)),
                 "host_latency_us": _us(m.group(3))}
            if m.group(4):
                t["end_to_end_us"] = _us(m.group(4))
            t["enqueue_us"] = _us(m.group(5))
            trace.append(t)
            continue
        m8 = _FAMILY8.match(line)
        if m8:
            section = None
            stats = family(_FAMILY_KEYS[m8.group(1)])
            for sm in _STAT8.finditer(m8.group(2)):
                stats[_stat_key(sm.group(1), sm.group(2))] = _us(sm.group(3))
            out["format"] = "tensorrt7.2+"
            continue
        if line in _HEADER7:
            section = None
            family(_HEADER7[line])
            section = _HEADER7[line]
            out["format"] = "tensorrt7"
            continue
        if line.startswith(("Throughput:", "throughput:")):
            m = re.search(rf"{_NUM}\s*qps", line)
            if m:
                runs[-1].scalars["throughput_qps"] = float(m.group(1))
            continue
        m = re.match(rf"(?:Total Host Walltime|walltime):\s*{_NUM}\s*s", line)
        if m:
            runs[-1].scalars["walltime_s"] = float(m.group(1))
            continue
        m = re.match(rf"(?:Total GPU Compute Time|total compute time):\s*{_NUM}\s*s", line)
        if m:
            runs[-1].scalars["gpu_compute_total_s"] = float(m.group(1))
            continue
        if section is not None:
            s7 = _STAT7.match(line)
            p7 = _PCT7.match(line)
            if s7:
                runs[-1].families[section][_stat_key(s7.group(1), None)] = _us(s7.group(2))
                if s7.group(3) and section == "latency":
                    runs[-1].families.setdefault("end_to_end", {})[_stat_key(s7.group(1), None)] = _us(s7.group(3))
            elif p7:
                runs[-1].families[section][_stat_key("percentile", p7.group(2))] = _us(p7.group(1))
                if p7.group(3) and section == "latency":
                    runs[-1].families.setdefault("end_to_end", {})[_stat_key("percentile", p7.group(2))] = \
                        _us(p7.group(3))
            elif line and not line.startswith(("Average on", "Trace averages")):
                section = None
    filled = [r for r in runs if not r.empty()]
    if filled:
        out.update(filled[-1].as_dict())  # the last run's figures at the top level
    if len(filled) > 1:
        out["runs"] = [r.as_dict() for r in filled]
    if trace:
        out["trace_averages"] = trace
        out.setdefault("format", "trace averages only")
    if average_over:
        out["average_over_runs"] = average_over
    batch = re.search(r"--batch=(\d+)", command)
    if batch:
        out["batch"] = int(batch.group(1))  # implicit-batch engines: figures are per batch
    if errors:
        out["errors"] = errors[:5]
    _derive(out)
    latency, gpu = out.get("latency"), out.get("gpu_compute")
    lat = latency if isinstance(latency, Mapping) and "mean_us" in latency else gpu
    if isinstance(lat, Mapping) and "mean_us" in lat:
        out["summary"] = {k: v for k, v in lat.items() if not k.endswith("_derived")}
        if lat is gpu:
            out["summary_source"] = "GPU compute time (the log has no host latency)"
    elif average_over:
        out["summary"] = _summary_from_average_over(average_over, out)
    elif trace:
        out["summary"] = _summary_from_trace(trace, out)
    profile = layer_profile.parse_table(text)
    if profile is not None:
        out["op_profile"] = profile
        out["layer_profile_iterations"] = profile.get("runs")
        if "total" in profile:
            total = profile["total"]
            out["layer_profile_total_avg_ms"] = total["avg_ms"]
            if "median_ms" in total:
                out["layer_profile_total_median_ms"] = total["median_ms"]
    if "summary" not in out:
        if out.get("passed") is False or errors:
            raise ValueError(f"trtexec failed: {errors[0] if errors else 'FAILED'}")
        if profile is None:
            raise ValueError("no performance summary (no `Latency: min = ...`, `Host Latency` section, "
                             "`Average over N runs` line or `=== Profile` table)")
        out.setdefault("format", "layer profile only")
        separate = "--separateProfileRun" in command
        out["summary_absent"] = (
            "the log has no performance summary (this run used --separateProfileRun, which prints one: the log was "
            "cut before it); the layer profile is its only timing" if separate else
            "trtexec printed no performance summary (it prints none when --dumpProfile runs without "
            "--separateProfileRun); the layer profile is the log's only timing")
    return out


def _derive(out: dict[str, object]) -> None:
    """Figures computed from printed ones, each named `*_derived`."""
    qps, wall = out.get("throughput_qps"), out.get("walltime_s")
    if isinstance(qps, float) and isinstance(wall, float) and qps and wall:  # both printed and non-zero
        out["count_derived"] = round(qps * wall)
    cv, gpu = out.get("gpu_compute_cv_pct"), out.get("gpu_compute")
    if isinstance(cv, float) and isinstance(gpu, dict) and "mean_us" in gpu:
        gpu["std_us_derived"] = round(gpu["mean_us"] * cv / 100.0, 3)


def _summary_from_average_over(runs: list[dict[str, float]], out: dict[str, object]) -> dict[str, object]:
    """TensorRT <= 6: the per-run lines are all there is; the overall mean is derived from them.

    Every run averages the same `--avgRuns` inferences, so the mean of the per-run means is the
    mean over all inferences. Host wall time is the headline (GPU event time when not printed).
    """
    key = "host_walltime_mean_us" if all("host_walltime_mean_us" in r for r in runs) else "gpu_mean_us"
    count = sum(r["runs_averaged"] for r in runs)
    mean = round(sum(r[key] for r in runs) / len(runs), 3)
    summary: dict[str, object] = {"mean_us": mean, "count": count}
    if len(runs) == 1:
        summary["derived"] = []  # both figures printed as they are
    else:
        summary["derived"] = ["mean_us", "count"]
        out[f"{key.removesuffix('_us')}_us_derived"] = mean
        out["count_derived"] = count
        out["gpu_mean_us_derived"] = round(sum(r["gpu_mean_us"] for r in runs) / len(runs), 3)
    summary["mean_of"] = "host wall time per inference" if key == "host_walltime_mean_us" else "GPU time per inference"
    return summary
def _summary_from_trace(trace: list[dict[str, float]], out: dict[str, object]) -> dict[str, object]:
    """A log cut before its summary: only the `Average on N runs` trace lines are left.

    The mean host latency is the run-count-weighted mean of the printed per-block means (exact over
    the traced inferences); min, max and percentiles of single inferences are not printed and not given.
    """
    count = sum(t["runs_averaged"] for t in trace)
    mean = round(sum(t["host_latency_us"] * t["runs_averaged"] for t in trace) / count, 3)
    out["host_latency_mean_us_derived"] = mean
    out["count_derived"] = count
    return {"mean_us": mean, "count": count, "derived": ["mean_us", "count"],
            "mean_of": "host latency per inference, from the trace averages (the log has no summary)"}


class Times(TypedDict):
    latencies_us: list[float]
    compute_us: list[float]
    latency_kind: str  # "host latency" | "GPU compute"


def parse_times(text: str) -> Times:
    """`--exportTimes` JSON: one record per inference -> raw samples in microseconds.

    TensorRT 7 and 8 both write `latencyMs` (host latency) and `computeMs` per record.
    """
    try:
        records: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(records, list) or not records or not isinstance(records[0], dict):
        raise ValueError("expected a JSON list of timing records")
    lat = [float(r["latencyMs"]) * 1000.0 for r in records if "latencyMs" in r]
    comp = [float(r["computeMs"]) * 1000.0 for r in records if "computeMs" in r]
    if not lat and not comp:
        raise ValueError("timing records have neither latencyMs nor computeMs")
    return {"latencies_us": [round(x, 3) for x in (lat or comp)],
            "compute_us": [round(x, 3) for x in comp],
            "latency_kind": "host latency" if lat else "GPU compute"}


def parse_for_import(text: str) -> dict[str, object]:
    """`harness import trtexec FILE`: a trtexec log, an --exportTimes JSON or an --exportProfile JSON file."""
    if text.lstrip().startswith("["):
        try:
            times = parse_times(text)
        except ValueError:
            times = None
        if times is not None:  # the summary is computed by the importer from these samples
            return {"tool": "trtexec", "format": "exportTimes", "samples": len(times["latencies_us"]),
                    "latency_kind": times["latency_kind"], "latencies_us": times["latencies_us"]}
        try:
            profile = layer_profile.parse_json(text)
        except ValueError:
            profile = None
        if profile is not None:
            return {"tool": "trtexec", "format": "exportProfile", "op_profile": profile,
                    "layer_profile_iterations": profile.get("runs")}
    return parse_output(text)
