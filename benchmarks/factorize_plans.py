#!/usr/bin/env python3
"""What factorize's plan costs in speed on the SRCNN models: the default plan (super-resolution makes a split that
saves < 10% of the Conv2D MACs at the rank keeping 85% of the kernel's energy, or not at all when that is no
cheaper: converters.factorize.FACTORIZE_MIN_SAVING), those small splits left whole (`small_energy=0`), and every
layer split at the speed-up's rank (`min_saving=0`, the plan before issue 23's fourth round), with fp32, timed side
by side.

Each plan is built without fine-tuning (`@steps=0`: the same graph as the fine-tuned variant, other weights) and
timed through LiteRT in interleaved rounds (benchmarks/sidebyside.py); the table gives the layers split (rank),
the MACs LiteRT's graph holds and the p50 speed-up over fp32 in the same rounds. Accuracy is seed_goals.py's.

Usage: python benchmarks/factorize_plans.py [--models srcnn,srcnn_955] [--rounds 5] [--threads 2] [--cache-dir DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PLANS = {"fp32": "fp32", "factorize (default plan)": "factorize@steps=0",
         "factorize@small_energy=0 (small splits left whole)": "factorize@small_energy=0@steps=0",
         "factorize@min_saving=0 (every split at the speed-up's rank)": "factorize@min_saving=0@steps=0"}
HEADERS = ["model", "variant", "layers split (rank)", "MACs", "MACs vs fp32", "p50 ms", "speed-up vs fp32"]


def rows_for(builder: object, model: str, rounds: int, threads: int) -> list[list[str]]:
    from benchmarks.sidebyside import interleaved_p50_ms

    arts = {label: builder.build(model, variant) for label, variant in PLANS.items()}  # type: ignore[attr-defined]
    p50 = interleaved_p50_ms({label: a.path for label, a in arts.items()}, threads, rounds)
    base_macs = float(arts["fp32"].metrics.get("macs") or 0)
    out = []
    for label, art in arts.items():
        plan = art.metrics.get("factorized_layers") or {}
        macs = float(art.metrics.get("macs") or 0)
        out.append([model, label, ", ".join(f"{k} ({v})" for k, v in plan.items()) or "-", f"{macs / 1e6:.1f} M",
                    f"{macs / base_macs:.2f}" if base_macs else "-", f"{p50[label]:.2f}",
                    f"{p50['fp32'] / p50[label]:.2f}x"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="srcnn,srcnn_955")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache-dir", help="artifact cache (default: the harness cache)")
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in models if m.partition("@")[0] not in ("srcnn", "srcnn_955")]
    if bad or not models:
        print(f"factorize_plans: --models {args.models[:80]!r}: expected srcnn and/or srcnn_955", file=sys.stderr)
        return 2
    if not 1 <= args.rounds <= 100:
        print(f"factorize_plans: --rounds {args.rounds}: expected 1 to 100", file=sys.stderr)
        return 2
    from converters.build import VariantBuilder

    builder = VariantBuilder(Path(args.cache_dir) if args.cache_dir else None, controls=False)
    rows = [r for m in models for r in rows_for(builder, m, args.rounds, args.threads)]
    print(f"\n{args.rounds} interleaved rounds, {args.threads} threads, load {os.getloadavg()[0]:.1f}\n")
    print("| " + " | ".join(HEADERS) + " |\n| " + " | ".join("---" for _ in HEADERS) + " |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
