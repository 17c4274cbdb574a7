#!/usr/bin/env python3
"""What each variant keeps, against its control and fp32, with paired bootstrap 95% intervals.

Builds each MODEL:VARIANT (and fp32, and the control of every variant that fine-tunes: the same
fine-tuning with nothing compressed, converters/control.py) through the harness's own builder and
cache, scores them on the same held-out examples, and prints a Markdown table: the change against the
control and against fp32, each with its interval, the eval data, and the verdict (kept only when the
interval's worst end is inside the tolerance: 0.3 dB PSNR, 1 point top-1, 0.02 mAP@0.5). No latency:
benchmarks/optimizations.py times the same builds.

Usage: python benchmarks/accuracy_kept.py squeezenet:deep_compression squeezenet:prune_channels@flops=0.5
       [--cache-dir DIR] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

HEADERS = ["model", "variant", "value", "metric", "eval data", "change vs control", "change vs fp32", "verdict"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", metavar="MODEL:VARIANT")
    ap.add_argument("--cache-dir", help="artifact cache (default: the harness cache)")
    ap.add_argument("--json", help="write each variant's verdict and changes here")
    args = ap.parse_args(argv)
    pairs = []
    for text in args.pairs:
        model, sep, variant = text.partition(":")
        if not sep or not model or not variant:
            print(f"accuracy_kept: {text[:80]!r}: write MODEL:VARIANT (e.g. squeezenet:deep_compression)",
                  file=sys.stderr)
            return 2
        pairs.append((model, variant))
    from converters.build import VariantBuilder
    from converters.passes import ConversionError
    from harness.reporting.kept import kept_row
    from harness.statistics.accuracy_change import changes_of

    builder = VariantBuilder(Path(args.cache_dir) if args.cache_dir else None, controls=True)
    rows, out = [], []
    for model, variant in pairs:
        t0 = time.monotonic()
        try:
            art = builder.build(model, variant)
        except ConversionError as exc:
            print(f"  {model}/{variant}: {exc}", flush=True)
            continue
        metric, data, ctl, vs_fp32, why = kept_row(dict(art.metrics))
        rows.append([model, variant, str(art.metrics.get("accuracy")), metric, data, ctl, vs_fp32, why])
        out.append({"model": model, "variant": variant, "verdict": why, "control_variant":
                    art.metrics.get("control_variant"), "changes": {k: v.__dict__ for k, v in
                                                                    changes_of(art.metrics.get("per_example")).items()}})
        print(f"  {model}/{variant}: {why} ({time.monotonic() - t0:.0f} s)", flush=True)
    print("\n| " + " | ".join(HEADERS) + " |\n| " + " | ".join("---" for _ in HEADERS) + " |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
