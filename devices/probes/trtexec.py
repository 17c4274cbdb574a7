"""`trtexec` output (TensorRT 7, 8, 10) and its `--exportTimes` JSON: pure parsers.

TensorRT 8+ prints one line per statistic family after `=== Performance summary ===`:
  `Latency: min = 0.387 ms, max = 0.447 ms, mean = 0.402 ms, median = 0.401 ms, percentile(99%) = 0.420 ms`
TensorRT 7 prints a header line (`Host Latency`, `Enqueue Time`, `GPU Compute`) followed by
  `min: 1.64 ms (end to end 1.66 ms)`, ..., `percentile: 1.67 ms at 99% (end to end 3.04 ms at 99%)`,
  `throughput: 0 qps`, `walltime: 3.0 s`.
Lines may carry a `[MM/DD/YYYY-HH:MM:SS] [I] ` prefix or none. "Latency" (host latency: copy in,
compute, copy out) is the headline figure, the one comparable to a LiteRT invoke().
"""
from __future__ import annotations

import json
import re
from typing import Any

_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_PREFIX = re.compile(r"^\s*(?:\[[^\]]*\]\s*)*")
_FAMILY8 = re.compile(r"^(Latency|Host Latency|Enqueue Time|H2D Latency|GPU Compute Time|GPU Compute|D2H Latency):\s*(.*min.*)$")
_STAT8 = re.compile(rf"(min|max|mean|median|percentile\((\d+(?:\.\d+)?)%\))\s*=?\s*{_NUM}\s*ms")
_HEADER7 = {"Host Latency": "latency", "Enqueue Time": "enqueue", "H2D Latency": "h2d", "GPU Compute": "gpu_compute",
            "D2H Latency": "d2h"}
_STAT7 = re.compile(rf"^(min|max|mean|median):\s*{_NUM}\s*ms")
_PCT7 = re.compile(rf"^percentile:\s*{_NUM}\s*ms at (\d+(?:\.\d+)?)%")
_FAMILY_KEYS = {"Latency": "latency", "Host Latency": "latency", "Enqueue Time": "enqueue", "H2D Latency": "h2d",
                "GPU Compute Time": "gpu_compute", "GPU Compute": "gpu_compute", "D2H Latency": "d2h"}
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


def parse_output(text: str) -> dict[str, Any]:
    """Every figure trtexec printed; families in microseconds. Raises ValueError with the reason when none."""
    families: dict[str, dict[str, float]] = {}
    out: dict[str, Any] = {"tool": "trtexec"}
    errors: list[str] = []
    section: str | None = None
    for raw in text.splitlines():
        if "&&&& PASSED" in raw or "&&&& FAILED" in raw:
            out["passed"] = "&&&& PASSED" in raw
            cmd = raw.split("#", 1)
            if len(cmd) == 2:
                out["command"] = cmd[1].strip()
        tag = _VERSION_TAG.search(raw)
        if tag:
            out["tensorrt_version"] = version_from_tag(int(tag.group(1)))
        vline = _VERSION_LINE.search(raw)
        if vline:
            out["tensorrt_version"] = vline.group(1)
        if re.search(r"\[E\]", raw):
            errors.append(_PREFIX.sub("", raw).strip())
        cv = _CV.search(raw)
        if cv:
            out["coefficient_of_variance_pct"] = float(cv.group(1))
        line = _PREFIX.sub("", raw).strip()
        m8 = _FAMILY8.match(line)
        if m8:
            stats = families.setdefault(_FAMILY_KEYS[m8.group(1)], {})
            for sm in _STAT8.finditer(m8.group(2)):
                stats[_stat_key(sm.group(1), sm.group(2))] = float(sm.group(3)) * 1000.0
            out["format"] = "tensorrt8+"
            section = None
            continue
        if line in _HEADER7:
            section = _HEADER7[line]
            out["format"] = "tensorrt7"
            continue
        if line.startswith("Throughput:") or line.startswith("throughput:"):
            m = re.search(rf"{_NUM}\s*qps", line)
            if m:
                out["throughput_qps"] = float(m.group(1))
            continue
        m = re.match(rf"(?:Total Host Walltime|walltime):\s*{_NUM}\s*s", line)
        if m:
            out["walltime_s"] = float(m.group(1))
            continue
        m = re.match(rf"(?:Total GPU Compute Time|total compute time):\s*{_NUM}\s*s", line)
        if m:
            out["gpu_compute_total_s"] = float(m.group(1))
            continue
        if section is not None:
            s7 = _STAT7.match(line)
            p7 = _PCT7.match(line)
            if s7:
                families.setdefault(section, {})[_stat_key(s7.group(1), None)] = float(s7.group(2)) * 1000.0
            elif p7:
                families.setdefault(section, {})[_stat_key("percentile", p7.group(2))] = float(p7.group(1)) * 1000.0
            elif line and not line.startswith(("Average on", "Trace averages")):
                section = None
    out.update({k: {n: round(v, 3) for n, v in fam.items()} for k, fam in families.items()})
    batch = re.search(r"--batch=(\d+)", out.get("command", ""))
    if batch:
        out["batch"] = int(batch.group(1))  # implicit-batch engines: figures are per batch
    if errors:
        out["errors"] = errors[:5]
    lat = families.get("latency") or families.get("gpu_compute")
    if not lat or "mean_us" not in lat:
        if out.get("passed") is False or errors:
            raise ValueError(f"trtexec failed: {errors[0] if errors else 'FAILED'}")
        raise ValueError("no performance summary (no `Latency: min = ...` or `Host Latency` section)")
    out["summary"] = _summary(lat, out)
    return out


def _summary(lat: dict[str, float], out: dict[str, Any]) -> dict[str, Any]:
    """The shape harness.orchestration.measure.summary_from_dict reads; count estimated as throughput x walltime."""
    s: dict[str, Any] = {k: round(v, 3) for k, v in lat.items()}
    qps, wall = out.get("throughput_qps"), out.get("walltime_s")
    s["count"] = int(round(qps * wall)) if qps and wall else 0
    cv = out.get("coefficient_of_variance_pct")
    if cv is not None and "mean_us" in s:
        s["std_us"] = round(s["mean_us"] * cv / 100.0, 3)
    return s


def parse_times(text: str) -> dict[str, Any]:
    """`--exportTimes` JSON: one record per inference -> raw samples in microseconds.

    TensorRT 7 and 8 both write `latencyMs` (host latency) and `computeMs` per record.
    """
    try:
        records = json.loads(text)
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


def parse_for_import(text: str) -> dict[str, Any]:
    """`harness import trtexec FILE`: a trtexec log or an --exportTimes JSON file."""
    if text.lstrip().startswith("["):
        try:
            times = parse_times(text)
        except ValueError:
            times = None
        if times is not None:  # the summary is computed by the importer from these samples
            return {"tool": "trtexec", "format": "exportTimes", "samples": len(times["latencies_us"]),
                    "latency_kind": times["latency_kind"], "latencies_us": times["latencies_us"]}
    return parse_output(text)
