#!/usr/bin/env python3
"""The seed paper's ladder on a seed-scale Faster R-CNN, on this host, one step after another.

fp32 -> fp16 weights -> dynamic-range int8 -> full int8 -> channel-pruned (50% of the conv MACs,
then int8) -> fewer proposals (300 -> 100) -> smaller input (600 -> 400 px). Each step keeps the
previous ones. For every step: p50 latency (all steps timed interleaved in one process), peak
memory (a fresh process per file: resident-set high-water mark after load + invoke, less the
baseline after imports), file size, MACs (counted from the .tflite) and the mAP@0.5 change of the
same step on the trainable small twin (`faster_rcnn`, generated shapes). The seed-scale model is
untrained (nothing is downloaded): its own accuracy is not measured.

Usage: python benchmarks/faster_rcnn_ladder.py [--model faster_rcnn_zf] [--threads 2] [--rounds 3]
       [--twin faster_rcnn] [--no-twin] [--small]   (--small: a 160 px model, for a smoke run)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GOAL_MS, GOAL_MIN_SIDE = 50.0, 400


@dataclass(frozen=True)
class Step:
    """One rung: the pass (with parameters) and the model overrides, cumulative."""

    label: str
    variant: str
    overrides: dict[str, Any]


def ladder(size: int = 600, proposals: int = 300, fewer: int = 100, smaller: int = 400,
           prune_flops: float = 0.5, prune_steps: int = 0) -> list[Step]:
    """The seed's steps in order; each keeps what the ones before it changed."""
    pruned = f"prune_channels@flops={prune_flops}@steps={prune_steps}@then=int8"  # calibration: int8's 32 images
    base = {"size": size, "proposals": proposals}
    return [
        Step("fp32", "fp32", base),
        Step("fp16 weights", "fp16", base),
        Step("dynamic-range int8", "dr_int8", base),
        Step("full int8", "int8", base),
        Step(f"channel-pruned ({prune_flops:.0%} MACs) + int8", pruned, base),
        Step(f"proposals {proposals} -> {fewer}", pruned, {**base, "proposals": fewer}),
        Step(f"input {size} -> {smaller} px", pruned, {"size": smaller, "proposals": fewer}),
    ]


def best_step(rows: list[dict[str, Any]], min_side: int = GOAL_MIN_SIDE) -> dict[str, Any] | None:
    """The fastest measured step whose input side is at least `min_side`."""
    ok = [r for r in rows if r.get("p50_ms") is not None and r["side"] >= min_side]
    return min(ok, key=lambda r: r["p50_ms"]) if ok else None


def goal_line(rows: list[dict[str, Any]], goal_ms: float = GOAL_MS, min_side: int = GOAL_MIN_SIDE) -> str:
    best = best_step(rows, min_side)
    if best is None:
        return f"goal <= {goal_ms:.0f} ms at >= {min_side} px: no step measured"
    verdict = "met" if best["p50_ms"] <= goal_ms else f"missed by {best['p50_ms'] / goal_ms:.1f}x"
    return (f"goal <= {goal_ms:.0f} ms/frame at >= {min_side} px: best step '{best['label']}' "
            f"{best['p50_ms']:.1f} ms at {best['side']} px: {verdict}")


def fmt_row(r: dict[str, Any], base: dict[str, Any] | None) -> list[str]:
    def num(v: Any, f: str) -> str:
        return "-" if v is None else f.format(v)

    ref = r.get("fp32_p50_ms") or (base or {}).get("p50_ms")  # fp32 timed beside this step
    speed = ref / r["p50_ms"] if ref and r.get("p50_ms") else None
    dmap = r.get("twin_map_delta")
    return [r["label"], str(r["side"]), num(r.get("p50_ms"), "{:.1f}"), num(speed, "{:.2f}x"),
            num(r.get("peak_mb"), "{:.0f}"), num(r.get("size_mb"), "{:.1f}"), num(r.get("gmacs"), "{:.2f}"),
            "not measured (untrained)", "-" if dmap is None else f"{dmap:+.3f} (mAP {r['twin_map']:.3f})"]


HEADERS = ["step", "px", "p50 ms", "vs fp32 (beside it)", "peak MB", "size MB", "GMACs", "mAP (seed-scale)",
           "mAP@.5 change on small twin"]

PEAK = r"""
import resource, sys, numpy as np
from ai_edge_litert.interpreter import Interpreter
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
base = hwm()
it = Interpreter(model_path=sys.argv[1], num_threads=int(sys.argv[2])); it.allocate_tensors(); it.invoke()
print((hwm() - base) / 1024.0)
"""


def peak_mb(path: Path, threads: int) -> float | None:
    out = subprocess.run([sys.executable, "-c", PEAK, str(path), str(threads)], capture_output=True, text=True,
                         timeout=600)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def _build(model: str, step: Step, out: Path, weights_from: Any = None, trainable: bool = False) -> tuple[Path, Any]:
    """The step's .tflite: the model with its overrides (weights copied from `weights_from`), then the pass."""
    import tf_keras as keras

    from converters.passes import Source, get_pass
    from converters.zoo import get_spec

    spec = get_spec(model)
    keras.utils.set_random_seed(0)
    km = spec.create(**step.overrides)
    if weights_from is not None:
        km.set_weights(weights_from.get_weights())
    p = get_pass(step.variant)
    src = Source(model, keras_model=km, task=spec.task, input_shape=tuple(km.input_shape), spec=spec)
    result = p.fn(src, dict(p.defaults))
    data = result[0] if isinstance(result, tuple) else result
    out.write_bytes(data)
    return out, km


def run_seed(model: str, steps: list[Step], threads: int, rounds: int, work: Path,
             json_path: Path | None = None) -> list[dict[str, Any]]:
    """Build each step, then time it interleaved with fp32 right away (a ratio per step even if a
    later step fails or the run is stopped); rows are written to `json_path` as they come."""
    from benchmarks.sidebyside import _interpreter, interleaved_p50_ms
    from converters import analysis

    rows: list[dict[str, Any]] = []
    base_it = None
    for i, step in enumerate(steps):
        t0 = time.monotonic()
        row: dict[str, Any] = {"label": step.label, "side": step.overrides.get("size")}
        rows.append(row)
        try:
            path, _ = _build(model, step, work / f"seed_{i}.tflite")
        except Exception as exc:  # one failing step does not stop the others
            row["error"] = str(exc).splitlines()[0][:200]
            print(f"  {step.label}: {row['error']}", flush=True)
            continue
        a = analysis.analyze(path.read_bytes())
        row.update(size_mb=path.stat().st_size / 1e6, gmacs=a["macs"] / 1e9, peak_mb=peak_mb(path, threads),
                   build_s=time.monotonic() - t0, macs_by_op={k: v / 1e9 for k, v in a["macs_by_op"].items()})
        it = _interpreter(path, threads)
        if base_it is None:
            base_it = it
            p50 = interleaved_p50_ms({}, threads, rounds, runs=3, warmup=1, interpreters={"fp32": it})
            row["p50_ms"] = row["fp32_p50_ms"] = p50["fp32"]
        else:
            p50 = interleaved_p50_ms({}, threads, rounds, runs=3, warmup=1,
                                     interpreters={"fp32": base_it, "step": it})
            row["p50_ms"], row["fp32_p50_ms"] = p50["step"], p50["fp32"]
            del it
        print(f"  {step.label}: {row['gmacs']:.2f} GMACs, {row['size_mb']:.1f} MB, peak {row['peak_mb']} MB, "
              f"p50 {row['p50_ms']:.1f} ms vs fp32 {row['fp32_p50_ms']:.1f} ms beside it "
              f"(built in {row['build_s']:.0f} s)", flush=True)
        if json_path:
            json_path.write_text(json.dumps(rows, indent=1, default=str))
    return rows


def run_twin(twin: str, steps: list[Step], threads: int, work: Path) -> dict[str, tuple[float, float]]:
    """mAP@0.5 of each step on the trained small twin, and its change from the twin's fp32."""
    from converters.build import VariantBuilder
    from converters.detection import evaluate_tflite

    src = VariantBuilder().source(twin)  # trained by its recipe (cached)
    out, base = {}, None
    for i, step in enumerate(steps):
        over = {k: v for k, v in step.overrides.items() if k == "proposals"}
        if "size" in step.overrides and step.overrides["size"] != steps[0].overrides.get("size"):
            over["size"] = 96  # the twin's "smaller input" (its own is 128)
        if "proposals" in over:  # the twin's own count (48), scaled like the seed's
            ratio = over["proposals"] / steps[0].overrides["proposals"]
            over["proposals"] = max(4, int(round(48 * ratio)))
        variant = step.variant.replace("@steps=0", "@steps=100")
        try:
            path, _ = _build(twin, Step(step.label, variant, over), work / f"twin_{i}.tflite", src.keras_model)
            m = evaluate_tflite(path, n=60)["map50"]
        except Exception as exc:
            print(f"  twin {step.label}: {str(exc).splitlines()[0][:200]}", flush=True)
            continue
        base = m if base is None else base
        out[step.label] = (m, m - base)
        print(f"  twin {step.label}: mAP@.5 {m:.3f} ({m - base:+.3f})", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="faster_rcnn_zf")
    ap.add_argument("--twin", default="faster_rcnn")
    ap.add_argument("--no-twin", action="store_true")
    ap.add_argument("--no-seed", action="store_true", help="only the small twin's mAP per step")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--small", action="store_true", help="a 160 px model with a 512-unit head (smoke run)")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args(argv)
    model = f"{args.model}@head_units=512" if args.small else args.model
    steps = ladder(160, 300, 100, 128) if args.small else ladder()
    work = Path(tempfile.mkdtemp(prefix="harness-ladder-"))
    t0 = time.monotonic()
    print(f"ladder on {model}, {args.threads} threads, {args.rounds} interleaved rounds", flush=True)
    rows = [] if args.no_seed else run_seed(model, steps, args.threads, args.rounds, work,
                                            Path(args.json) if args.json else None)
    if args.no_seed:
        rows = [{"label": s.label, "side": s.overrides.get("size")} for s in steps]
    if not args.no_twin:
        twin = run_twin(args.twin, steps, args.threads, work)
        for r in rows:
            if r["label"] in twin:
                r["twin_map"], r["twin_map_delta"] = twin[r["label"]]
    from benchmarks.sidebyside import print_table

    base = rows[0] if rows and rows[0].get("p50_ms") else None
    print_table(f"{model} ladder on this host ({time.monotonic() - t0:.0f} s)", HEADERS,
                [fmt_row(r, base) for r in rows if "error" not in r])
    for r in rows:
        if "error" in r:
            print(f"{r['label']}: not measured ({r['error']})")
    print(goal_line(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
