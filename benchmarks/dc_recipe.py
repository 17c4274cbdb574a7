#!/usr/bin/env python3
"""What keeps a pruned model's accuracy: variants of one pruning pass, each against its own control (issue 23).

Builds each variant through the harness's builder and cache (controls on: `fine_tune@steps=N@lr=X` with the
variant's own steps and rate, nothing compressed) and prints its top-1 / PSNR change against that control and
against fp32, with paired 95% intervals over the same held-out examples, the per-layer sparsity range the pass
recorded, and the build's wall time and load. Used to pick Deep Compression's per-layer sparsity rule at the
SqueezeNet paper's 67% (README, "Deep Compression at 67%").

Usage: python benchmarks/dc_recipe.py [--model squeezenet] --variants V1,V2,... [--cache-dir DIR] [--json FILE]
       [--train-seed N --cache-dir DIR]
  e.g. --variants deep_compression@sparsity=0.67,deep_compression@sparsity=0.67@layers=std
`--train-seed N`: the fine-tunes' (variants' and controls') data and shuffling seed instead of
converters.training.fine_tune's 1, to see the spread between training runs; it is no part of the cache key, so it
needs its own --cache-dir.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

HEADERS = ["variant", "score", "vs control (95%)", "vs fp32 (95%)", "control", "layer sparsity", "build s", "load"]


def row(builder: Any, model: str, variant: str) -> dict[str, Any]:
    """One variant's figures (an error row, not an exception, when it fails)."""
    from harness.statistics.accuracy_change import change_text, judged

    t0, load0 = time.monotonic(), os.getloadavg()[0]
    try:
        m = dict(builder.build(model, variant).metrics)
    except Exception as exc:  # one failing variant does not stop the others
        return {"variant": variant, "error": str(exc).splitlines()[0][:200]}
    changes, verdict = judged(m)
    per = m.get("per_example") or {}
    sr = per.get("metric") == "psnr_db"
    digits = 2 if sr else 3
    spread = m.get("layer_sparsity_range")
    return {"variant": variant, "score": m.get("psnr_db") if sr else m.get("top1"),
            "vs_control": change_text(changes.get("control"), digits) if changes.get("control") else "not measured",
            "vs_fp32": change_text(changes.get("fp32"), digits) if changes.get("fp32") else "not measured",
            "control": m.get("control_variant") or m.get("control_error") or "-",
            "layers": f"{spread[0]:.2f}-{spread[1]:.2f}" if isinstance(spread, list) else "-",
            "seconds": round(time.monotonic() - t0), "load": f"{load0:.1f}-{os.getloadavg()[0]:.1f}",
            "verdict": verdict}


def markdown(rows: list[dict[str, Any]]) -> str:
    out = ["| " + " | ".join(HEADERS) + " |", "|" + " --- |" * len(HEADERS)]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['variant']} | error: {r['error']} |" + " |" * (len(HEADERS) - 2))
            continue
        score = "-" if r["score"] is None else f"{float(r['score']):.4f}"
        out.append(f"| {r['variant']} | {score} | {r['vs_control']} | {r['vs_fp32']} | {r['control']} | "
                   f"{r['layers']} | {r['seconds']} | {r['load']} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="squeezenet")
    ap.add_argument("--variants", required=True, help="comma-separated variants (pass@param=value...)")
    ap.add_argument("--cache-dir", help="artifact cache (default: the harness cache)")
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--train-seed", type=int, help="the fine-tunes' seed (default: the pass's, 1); needs --cache-dir")
    args = ap.parse_args(argv)
    if args.train_seed is not None and not args.cache_dir:
        print("--train-seed: needs its own --cache-dir (the seed is no part of the cache key)", file=sys.stderr)
        return 2
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    from converters.build import VariantBuilder
    from converters.passes import ConversionError, parse_variant

    for v in variants:  # a bad variant is one line before anything trains
        try:
            parse_variant(v)
        except (ConversionError, ValueError) as exc:
            print(f"--variants: {str(exc).splitlines()[0][:200]}", file=sys.stderr)
            return 2
    if args.train_seed is not None:
        from converters import training

        names = training.fine_tune.__code__.co_varnames[:training.fine_tune.__code__.co_argcount]
        defaults = list(training.fine_tune.__defaults__ or ())
        defaults[names.index("seed") - (len(names) - len(defaults))] = args.train_seed
        training.fine_tune.__defaults__ = tuple(defaults)
    builder = VariantBuilder(Path(args.cache_dir) if args.cache_dir else None, controls=True)
    rows = []
    for v in variants:
        rows.append(row(builder, args.model, v))
        print(json.dumps(rows[-1]), flush=True)
    print(markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
