#!/usr/bin/env python3
"""Why full int8 wrecks the proxy's mAP and runs slower than fp32: per file, which ops run int8 and which float
(the QUANTIZE/DEQUANTIZE pairs between them), where the time goes (LiteRT's own op profiler, rpi/litert_profile.py,
the runner's per-op pass) and mAP@0.5 on held-out scenes; beside it the same int8 conversion with the detection
tail (proposal decoding, NMS, RoI crop, box decoding) kept float by TFLite's selective quantization
(tf.lite.experimental.QuantizationDebugger, denylisted ops), backbone and head int8.

Usage: python benchmarks/ladder_int8.py [--model faster_rcnn_proxy] [--images 200] [--runs 5] [--only fp32,int8,...]
       python benchmarks/ladder_int8.py --model faster_rcnn_zf --conversion-cost
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# int8: the project's pass; int8_whole_graph: every op int8 (the pass before issue 23's fix, built here);
# int8_float_tail: converters.detection_int8 directly; int8_debugger: the same through TFLite's
# QuantizationDebugger (the route before; its build time and whether its bytes are the same are printed).
VARIANTS = ("fp32", "dr_int8", "int8_whole_graph", "int8_float_tail", "int8_debugger", "int8")


def op_census(path: Path) -> dict[str, Any]:
    """Each op of the file with the type of its first output: how many run int8, how many float, and the
    QUANTIZE/DEQUANTIZE ops between the two."""
    from rpi.runner import interpreter_module

    mod, _, _ = interpreter_module()
    interp = mod.Interpreter(model_path=str(path))
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    count: collections.Counter[str] = collections.Counter()
    by_op: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    ops = []
    for o in sorted(interp._get_ops_details(), key=lambda o: o["index"]):  # noqa: SLF001 (no public op list)
        out = tensors.get(int(o["outputs"][0])) if len(o["outputs"]) else None
        dtype = getattr(out["dtype"], "__name__", str(out["dtype"])) if out else "-"
        count[dtype] += 1
        by_op[o["op_name"]][dtype] += 1
        ops.append(o["op_name"])
    return {"ops": ops, "by_dtype": dict(count), "by_op": {k: dict(v) for k, v in by_op.items()},
            "quantize": by_op.get("QUANTIZE", collections.Counter()).total(),
            "dequantize": by_op.get("DEQUANTIZE", collections.Counter()).total()}


def op_time(path: Path, ops: list[str], threads: int, runs: int) -> dict[str, Any]:
    """LiteRT's op profile (XNNPACK as the runner runs it): invoke p50 and the op types by time."""
    from rpi import litert_profile

    got = litert_profile.profile(str(path), threads=threads, runs=runs, warmup=1, tflite_ops=ops)
    return {"invoke_p50_ms": got.get("invoke_p50_ms"), "types": got["by_node_type"]}


def build(model: str, variant: str, src: Any, out: Path) -> Path:
    from converters.passes import Source, get_pass

    spec = src.spec
    s: Any = Source(model, keras_model=src.keras_model, task=spec.task, input_shape=tuple(src.keras_model.input_shape),
               spec=spec, memo=src.memo)  # the SavedModel saved once, shared by every build
    if variant in ("int8_float_tail", "int8_debugger", "int8_whole_graph"):
        import tensorflow as tf

        from converters.detection_int8 import int8_float_tail, int8_float_tail_via_debugger
        from converters.passes import representative_dataset

        if variant != "int8_whole_graph":
            route = int8_float_tail if variant == "int8_float_tail" else int8_float_tail_via_debugger
            out.write_bytes(route(s.converter(), representative_dataset(s, 32)))
            return out
        conv = s.converter()  # the int8 pass's settings before the fix: every op int8, int8 input and output
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative_dataset(s, 32)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int8
        out.write_bytes(conv.convert())
        return out
    p = get_pass(variant)
    result = p.fn(s, dict(p.defaults))
    out.write_bytes(result[0] if isinstance(result, tuple) else result)
    return out


def conversion_cost(model: str, src: Any, samples: int = 32) -> None:
    """What the float-tail int8 conversion costs, stage by stage, on one calibration: the SavedModel to a
    calibrated model (32 of the task's inputs through the float graph), the MLIR quantizer with the tail ops
    denylisted (the pass's file), and what tf.lite.experimental.QuantizationDebugger adds on top (a second
    quantizer pass with NumericVerify ops and an interpreter on that debug model), each timed with its load."""
    import tensorflow as tf
    from tensorflow.lite.python import convert as tflite_convert

    from converters.detection_int8 import TAIL_OPS
    from converters.passes import Source, representative_dataset

    s: Any = Source(model, keras_model=src.keras_model, task=src.spec.task,
                    input_shape=tuple(src.keras_model.input_shape), spec=src.spec, memo=src.memo)
    conv = s.converter()
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative_dataset(s, samples)
    conv._experimental_calibrate_only = True  # noqa: SLF001
    stages: list[tuple[str, float, float]] = []

    def timed(name: str, fn: Any) -> Any:
        t = time.monotonic()
        out = fn()
        stages.append((name, time.monotonic() - t, os.getloadavg()[0]))
        return out

    calibrated = timed("calibrate", conv.convert)
    quantize = lambda verify: tflite_convert.mlir_quantize(  # noqa: E731
        calibrated, disable_per_channel=False, fully_quantize=False, enable_numeric_verify=verify,
        denylisted_ops=list(TAIL_OPS))
    timed("quantize (the pass's file)", lambda: quantize(False))
    debug = timed("debugger's extra: quantize with NumericVerify", lambda: quantize(True))
    timed("debugger's extra: interpreter on the debug model", lambda: tf.lite.Interpreter(model_content=debug))
    total = sum(t for _, t, _ in stages)
    extra = sum(t for n, t, _ in stages if n.startswith("debugger"))
    for name, t, load in stages:
        print(f"  {name}: {t:.1f} s (load {load:.1f})", flush=True)
    print(f"{model} int8 conversion, {samples} calibration inputs: {total - extra:.1f} s without the debugger, "
          f"{total:.1f} s with it ({total / (total - extra):.2f}x; its debug model {len(debug) / 1e6:.0f} MB)",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="faster_rcnn_proxy")
    ap.add_argument("--images", type=int, default=200, help="held-out scenes scored per file (0: no mAP)")
    ap.add_argument("--runs", type=int, default=5, help="profiled invokes per file")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--conversion-cost", action="store_true", help="only time the int8 conversion's stages, with "
                    "and without the QuantizationDebugger (one calibration), and exit")
    ap.add_argument("--only", default="fp32,dr_int8,int8_whole_graph,int8",
                    help=f"comma-separated, of {', '.join(VARIANTS)}")
    args = ap.parse_args(argv)
    chosen = [v.strip() for v in args.only.split(",") if v.strip()]
    bad = [v for v in chosen if v not in VARIANTS]
    if bad or not chosen:
        print(f"ladder_int8: --only {args.only[:60]!r}: expected some of {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    if args.images < 0 or args.runs < 1 or args.threads < 1:
        print("ladder_int8: --images must be >= 0, --runs and --threads >= 1", file=sys.stderr)
        return 2
    from converters.build import VariantBuilder
    from converters.detection import evaluate_tflite, model_classes

    t0 = time.monotonic()
    src = VariantBuilder().source(args.model)
    classes = model_classes(src.keras_model)
    work = Path(tempfile.mkdtemp(prefix="ladder-int8-"))
    s0 = time.monotonic()
    src.converter()  # the SavedModel every conversion starts from, saved once before any build is timed
    print(f"{args.model}: SavedModel saved in {time.monotonic() - s0:.1f} s (load {os.getloadavg()[0]:.1f}), "
          "once, shared by the builds below (not in their build times)", flush=True)
    if args.conversion_cost:
        conversion_cost(args.model, src)
        return 0
    built: dict[str, str] = {}  # sha256 of each file (not the bytes: ZF's int8 conversion alone takes GBs)
    for v in chosen:
        try:
            b0 = time.monotonic()
            path = build(args.model, v, src, work / f"{v}.tflite")
            build_s = time.monotonic() - b0
            built[v] = hashlib.sha256(path.read_bytes()).hexdigest()
            census = op_census(path)
            timing = op_time(path, census["ops"], args.threads, args.runs)
            got = evaluate_tflite(path, n=args.images, classes=classes) if args.images else None
        except Exception as exc:  # one variant's failure does not stop the others
            print(f"{v}: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}", flush=True)
            continue
        top = "; ".join(f"{t['node_type']} {t['avg_ms']:.2f} ms ({t['count']})" for t in timing["types"][:6])
        float_ops = sorted(k for k, d in census["by_op"].items() if "float32" in d and k not in ("QUANTIZE",
                                                                                                  "DEQUANTIZE"))
        same = [o for o in built if o != v and built[o] == built[v]]
        print(f"{v}: built in {build_s:.1f} s (load {os.getloadavg()[0]:.1f}), {path.stat().st_size / 1e6:.1f} MB"
              f"{', byte-identical to ' + ', '.join(same) if same else ''}", flush=True)
        print(f"  invoke p50 {timing['invoke_p50_ms']:.1f} ms ({args.threads} threads, {args.runs} profiled runs, "
              f"load {os.getloadavg()[0]:.1f}); mAP@0.5 {'not scored' if got is None else format(got['map50'], '.3f')}"
              f" on {args.images} held-out scenes", flush=True)
        print(f"  ops by output type {census['by_dtype']}; QUANTIZE {census['quantize']}, DEQUANTIZE "
              f"{census['dequantize']}; float ops: {', '.join(float_ops) or 'none'}", flush=True)
        print(f"  time by op type: {top}", flush=True)
    print(f"({time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
