#!/usr/bin/env python3
"""Is the proxy's fp32 a fair baseline for the ladder? fp32 beside its control fine-tuned the control's steps.

Issue 23: the ladder judges a compressed rung against its control (the same fine-tuning, nothing compressed)
and against fp32. When the control itself beats fp32 beyond doubt, fp32's recipe had not converged and "vs
fp32" flatters or punishes rungs by the training they got. This builds the proxy's fp32 (shipped weights) and
`fine_tune@steps=N@then=fp32` from the same weights (the ladder's control pass, its rate and data), scores
both on the same held-out scenes and prints the paired change with its bootstrap 95% interval: fp32 is a fair
baseline when the further fine-tune gains nothing beyond its interval (low end <= 0).

Usage: python benchmarks/ladder_baseline.py [--model faster_rcnn_proxy] [--size 600] [--steps 200] [--images 500]
"""
from __future__ import annotations

import argparse
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


def baseline_verdict(change: Any) -> str:
    """Not converged when the further fine-tune is better beyond doubt (the interval's low end above 0)."""
    span = f"95% {change.low:+.3f} to {change.high:+.3f}"
    if change.low > 0:
        return f"fp32 not converged: the further fine-tune gains {change.change:+.3f} ({span})"
    return f"fp32 is a fair baseline: the further fine-tune gains nothing beyond its interval ({span})"


def control_file(model: str, size: int, src: Any, steps: int, out: Path) -> Path:
    """The ladder's control pass on `src`'s weights: `steps` fine-tuning steps, nothing compressed, fp32."""
    import tf_keras as keras

    from converters.passes import Source, get_pass
    from converters.zoo import get_spec

    spec = get_spec(model)
    keras.utils.set_random_seed(0)
    km = spec.create(size=size)
    km.set_weights(src.get_weights())
    p = get_pass(f"fine_tune@steps={steps}@then=fp32")
    result = p.fn(Source(model, keras_model=km, task=spec.task, input_shape=tuple(km.input_shape), spec=spec),
                  dict(p.defaults))
    out.write_bytes(result[0] if isinstance(result, tuple) else result)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="faster_rcnn_proxy")
    ap.add_argument("--size", type=int, default=600, help="input side (400: the 400 px sibling)")
    ap.add_argument("--steps", type=int, default=200, help="the control's fine-tuning steps (default 200: the "
                    "ladder's longest control at --tune-steps 100; at its default 400 the longest is 800)")
    ap.add_argument("--images", type=int, default=500)
    args = ap.parse_args(argv)
    for flag, value, low in (("--steps", args.steps, 1), ("--images", args.images, 10), ("--size", args.size, 64)):
        if value < low:
            print(f"ladder_baseline: {flag} {value}: expected at least {low}", file=sys.stderr)
            return 2
    from benchmarks.ladder_build import Config, build_rung
    from benchmarks.ladder_proxy import not_a_proxy, proxy_source
    from converters.detection import evaluate_tflite, model_classes
    from converters.detection_data import MatchedIndex
    from harness.statistics.accuracy_change import change_text, paired_resampled_change

    refused = not_a_proxy("ladder_baseline", args.model)
    if refused:
        print(refused, file=sys.stderr)
        return 2
    t0, cpu0 = time.monotonic(), time.process_time()
    src = proxy_source(args.model, args.size, {})
    classes = model_classes(src)
    work = Path(tempfile.mkdtemp(prefix="ladder-baseline-"))
    fp32, _ = build_rung(args.model, Config(size=args.size), work / "fp32.tflite", src)
    base = evaluate_tflite(fp32, n=args.images, classes=classes)
    t1 = time.monotonic()
    ctl = evaluate_tflite(control_file(args.model, args.size, src, args.steps, work / "control.tflite"),
                          n=args.images, classes=classes)
    tune_s = time.monotonic() - t1
    a, b = MatchedIndex(ctl["matched"]), MatchedIndex(base["matched"])
    data = f"{args.images} held-out images, {base['data']}"
    change = paired_resampled_change(lambda idx: (a.map(idx), b.map(idx)), a.images, "mAP@0.5", "fp32", data,
                                     many=lambda m: (a.map_many(m), b.map_many(m)))
    print(f"{args.model} at {args.size} px: fp32 mAP@0.5 {base['map50']:.3f}; control (fp32's weights + "
          f"{args.steps} fine-tuning steps, nothing compressed) {ctl['map50']:.3f}")
    print(f"  control minus fp32: {change_text(change)}")
    print(f"  {baseline_verdict(change)}")
    print(f"  ({time.monotonic() - t0:.0f} s wall, control tuned and scored in {tune_s:.0f} s, "
          f"{time.process_time() - cpu0:.0f} s CPU in this process; 1-min load {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
