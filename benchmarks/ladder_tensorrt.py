"""The ladder through TensorRT on every Jetson listed in a devices file (faster_rcnn_ladder --devices).

TensorRT chooses its own precision, so the quantization rungs become engine precisions: each
structural rung the host ladder kept (the baseline graph, channel-pruned, SVD head, fewer
proposals, smaller input, deeper pruning) is exported once to ONNX on the host (the `tensorrt`
pass, tf2onnx, chained after prune_channels / truncated_svd), and trtexec on the board builds and
times an fp16 and an int8 engine of it (devices/jetson_target.py). int8 engines are built without a
calibration cache: their speed is real, their accuracy is not measured.

With no Jetson listed, nothing is measured, and the output says that these figures need real hardware.
"""
from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path
from collections.abc import Callable
from typing import Any

PRECISIONS = ("fp16", "int8")
NO_JETSON = ("TensorRT ladder: not measured: {why}; its figures need a real Jetson "
             "(list one, kind: jetson, in devices.yaml and pass --devices)")


def load_jetsons(path: str | None) -> tuple[list[Any], str | None]:
    """The enabled jetson devices of the file, or why there are none. A bad file raises UserError."""
    if not path:
        return [], "no devices file given"
    from harness.planning.config import load_devices

    jetsons = [d for d in load_devices(path).enabled if d.kind == "jetson"]
    return jetsons, None if jetsons else f"no enabled jetson in {Path(path).name}"


def structural(configs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The kept configurations without their quantization, each graph once, labelled by the rung
    that first made it (the quantization rungs collapse into the baseline graph)."""
    out, seen = [], set()
    for label, cfg in configs:
        graph = replace(cfg, quant="fp32")
        if graph in seen:
            continue
        seen.add(graph)
        out.append(("baseline graph" if not out else label, graph))
    return out


def bench_one(dev: Any, onnx: Path, precision: str) -> dict[str, Any]:
    """One engine of `precision` built and timed on the board: p50 of every exported inference."""
    from devices.jetson_target import JetsonTarget
    from devices.target import JobSpec

    cfg = dev.model_copy(update={"runtime": "tensorrt", "tensorrt_precisions": [precision]})
    target = JetsonTarget(cfg)
    try:
        raw = target.benchmark(JobSpec(model_path=onnx, bench=dev.bench))
    except Exception as exc:  # one failing device or rung does not stop the others
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"}
    finally:
        target.close()
    r = raw.runner
    if r.get("error"):
        return {"error": str(r["error"])[:300]}
    lat = r.get("latencies_us") or []
    engine = raw.extra.get("engine", {})
    return {"p50_ms": statistics.median(lat) / 1000 if lat else None, "runs": len(lat),
            "engine_precision": engine.get("precision"), "engine": engine.get("path"),
            "delegate": r.get("delegate"), "tensorrt_version": r.get("runtime_version"),
            "avg_power_mw": raw.extra.get("tegrastats", {}).get("avg_power_mw")}


def run_jetson_ladder(devices: str | None, model: str, configs: list[tuple[str, Any]], work: Path,
                      jetsons: list[Any] | None = None, *,
                      build: Callable[..., tuple[Path, str]]) -> list[dict[str, Any]]:
    """Export each structural rung to ONNX and time it on every Jetson in fp16 and int8; rows as measured.
    `build(model, cfg, out, final="tensorrt")` is the ladder's own builder (faster_rcnn_ladder.build_rung),
    handed in so this module never imports the ladder that imports it."""
    why = None
    if jetsons is None:
        jetsons, why = load_jetsons(devices)
    if not jetsons:
        print(NO_JETSON.format(why=why or "no jetson listed"), flush=True)
        return []
    rows: list[dict[str, Any]] = []
    for i, (label, cfg) in enumerate(structural(configs)):
        try:
            onnx, variant = build(model, cfg, work / f"trt_{i}.onnx", final="tensorrt")
        except Exception as exc:
            for dev in jetsons:
                rows.append({"device": dev.name, "label": label, "side": cfg.size, "precision": None,
                             "error": f"ONNX export: {str(exc).splitlines()[0][:200]}"})
            print(f"  {label}: ONNX export failed: {str(exc).splitlines()[0][:200]}", flush=True)
            continue
        if onnx.suffix != ".onnx":
            print(f"  {label}: no ONNX (tf2onnx missing: pip install tf2onnx); TensorRT needs one", flush=True)
            continue
        for dev in jetsons:
            for precision in PRECISIONS:
                row = {"device": dev.name, "label": label, "side": cfg.size, "proposals": cfg.proposals,
                       "precision": precision, "variant": variant, "onnx": str(onnx),
                       **bench_one(dev, onnx, precision)}
                if row.get("engine_precision") not in (None, precision):
                    row["error"] = f"engine built as {row['engine_precision']}, asked for {precision}"
                rows.append(row)
                got = f"p50 {row['p50_ms']:.2f} ms" if row.get("p50_ms") is not None else row.get("error")
                print(f"  {dev.name} {label} TensorRT {precision}: {got}", flush=True)
    print_tensorrt_table(rows)
    return rows


def print_tensorrt_table(rows: list[dict[str, Any]]) -> None:
    from benchmarks.sidebyside import print_table

    def cell(r: dict[str, Any] | None) -> str:
        if r is None:
            return "-"
        return f"{r['p50_ms']:.2f}" if r.get("p50_ms") is not None else "error"

    by = {(r["device"], r["label"], r["precision"]): r for r in rows}
    table, base = [], {}
    for dev, label in dict.fromkeys((r["device"], r["label"]) for r in rows):
        fp16, int8 = by.get((dev, label, "fp16")), by.get((dev, label, "int8"))
        if fp16 and fp16.get("p50_ms") and dev not in base:
            base[dev] = fp16["p50_ms"]
        ratio = (f"{base[dev] / int8['p50_ms']:.2f}x" if dev in base and int8 and int8.get("p50_ms") else "-")
        side = (fp16 or int8 or {}).get("side")
        table.append([dev, label, str(side), cell(fp16), cell(int8), ratio])
    print_table("TensorRT ladder on Jetson (trtexec; int8 uncalibrated: speed only, accuracy not measured)",
                ["device", "step", "px", "fp16 p50 ms", "int8 p50 ms", "int8 vs baseline fp16"], table)
    for r in rows:
        if r.get("error"):
            print(f"{r['device']} {r['label']} {r.get('precision') or ''}: not measured ({r['error']})")
