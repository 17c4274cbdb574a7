#!/usr/bin/env python3
"""Is a zoo model's default recipe long enough? fp32 at the default length beside the same recipe N times longer.

The check behind SRCNN's 1500 -> 6000 steps (issue 23): the same model trained by its default recipe and by that
recipe with every step count multiplied by --times (same seed, data, batch and rate), both converted to fp32 and
scored through LiteRT on the same held-out examples; the change with its paired bootstrap 95% interval. The recipe
is under-trained when the longer one is better beyond doubt (the interval's low end above 0); otherwise no gain is
shown, and the interval's high end says how much more training could at most add. `--against MODEL` also pairs
both with another model's fp32 (FSRCNN-s against SRCNN 9-5-5). The default-length weights are the shipped ones
where they apply; the longer recipe trains here (HARNESS_RETRAIN) in its own cache.

Usage: python benchmarks/recipe_length.py fsrcnn_s [--times 2] [--against srcnn_955] [--cache-dir DIR]
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
sys.path.insert(0, str(REPO))


def per_example(metrics: dict[str, Any]) -> tuple[str, list[float], str]:
    per = metrics.get("per_example") or {}
    if not per.get("variant") or per.get("kind") != "mean":
        raise SystemExit(f"recipe_length: no per-example scores ({metrics.get('accuracy_error', 'not measured')})")
    return str(per.get("metric")), list(per["variant"]), str(per.get("data") or "-")


def verdict(longer: Any) -> str:
    """Under-trained when the longer recipe is better beyond doubt (its change's interval above 0)."""
    if longer.low > 0:
        return f"under-trained: the longer recipe is better (95% {longer.low:+.3f} to {longer.high:+.3f})"
    return f"no gain shown from the longer recipe (95% {longer.low:+.3f} to {longer.high:+.3f})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--times", type=float, default=2.0, help="recipe length multiplier (default 2)")
    ap.add_argument("--against", help="another zoo model whose fp32 both are paired with")
    ap.add_argument("--cache-dir", help="cache of the default-length build (default: the harness cache)")
    args = ap.parse_args(argv)
    if not 1.0 < args.times <= 20.0:
        print(f"recipe_length: --times {args.times}: expected more than 1 and at most 20", file=sys.stderr)
        return 2
    from converters import shipped, training
    from converters.build import VariantBuilder
    from converters.zoo import get_spec
    from harness.statistics.accuracy_change import change_text, paired_mean_change

    try:
        get_spec(args.model)
    except Exception:  # unknown name or a bad @override
        print(f"recipe_length: model {args.model[:60]!r}: not a zoo model", file=sys.stderr)
        return 2
    os.environ.pop(training.RECIPE_ENV, None)
    t0 = time.monotonic()
    base = VariantBuilder(Path(args.cache_dir) if args.cache_dir else None, controls=False)
    metric, a, data = per_example(base.build(args.model, "fp32").metrics)
    other = per_example(base.build(args.against, "fp32").metrics)[1] if args.against else None
    # The longer recipe: every step count of the default recipe times --times, trained here in its own cache.
    training.STEP_FACTOR["default"] = args.times
    os.environ[shipped.RETRAIN_ENV] = "1"
    t1 = time.monotonic()
    longer_cache = Path(tempfile.mkdtemp(prefix="harness-recipe-length-"))
    _, b, _ = per_example(VariantBuilder(longer_cache, controls=False).build(args.model, "fp32").metrics)
    train_s = time.monotonic() - t1
    unit = "PSNR dB" if metric == "psnr_db" else metric
    digits = 2 if metric == "psnr_db" else 3
    change = paired_mean_change(b, a, unit, f"{args.model} default recipe", data)
    print(f"\n{args.model}: recipe x{args.times:g} vs default, {data} (load {os.getloadavg()[0]:.1f}; longer "
          f"recipe trained and scored in {train_s:.0f} s, {time.monotonic() - t0:.0f} s in all)")
    print(f"  means: default {sum(a) / len(a):.3f}, x{args.times:g} {sum(b) / len(b):.3f} ({unit})")
    print(f"  x{args.times:g} minus default: {change_text(change, digits)}")
    print(f"  {verdict(change)}")
    if other is not None:
        for label, own in (("default", a), (f"x{args.times:g}", b)):
            c = paired_mean_change(own, other, unit, f"{args.against} fp32", data)
            print(f"  {args.model} ({label}) minus {args.against}: {change_text(c, digits)}"
                  f" ({'at or above' if c.low >= 0 else 'not shown at or above'} it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
