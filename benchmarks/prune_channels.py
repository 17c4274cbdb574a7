#!/usr/bin/env python3
"""Structured vs unstructured pruning, side by side on this host.

For SqueezeNet and SRCNN 9-1-5: fp32, prune_channels@flops=0.5 (filters removed, fine-tuned) and
prune_sparse (90% magnitude pruning in TFLite's sparse format), all built by the harness's own
passes (accuracy scored by the builder) and timed interleaved in one process. The sparse file is
timed twice: with the default XNNPACK delegate, and with the reference kernels (no delegate), to
show whether any runtime here turns sparsity into speed.

Goal: prune_channels at 50% FLOPs >= 1.6x faster than fp32 with <= 1 point top-1 (SqueezeNet)
and <= 0.3 dB (SRCNN), the accuracy judged against the variant's control (the same fine-tuning, distillation
included, nothing compressed) with a paired 95% interval (benchmarks/seed_goals.py gives the verdicts).
`HARNESS_RECIPE=quick|default|long` sets the fine-tuning length.

Usage: python benchmarks/prune_channels.py [--threads 2] [--rounds 7] [--models squeezenet,srcnn]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.sidebyside import _interpreter, interleaved_p50_ms, print_table  # noqa: E402

VARIANTS = ("fp32", "prune_channels@flops=0.5", "prune_sparse")


def _acc(metrics: dict) -> str:
    if "top1" in metrics:
        return f"top-1 {metrics['top1']:.3f}"
    if "psnr_db" in metrics:
        return f"PSNR {metrics['psnr_db']:.2f} dB"
    if "map50" in metrics:
        return f"mAP@.5 {metrics['map50']:.3f}"
    return "not measured"


def _delta(metrics: dict, base: dict) -> str:
    if "top1" in metrics and "top1" in base:
        return f"{100 * (metrics['top1'] - base['top1']):+.1f} pt"
    if "psnr_db" in metrics and "psnr_db" in base:
        return f"{metrics['psnr_db'] - base['psnr_db']:+.2f} dB"
    return "-"


def _vs_control(metrics: dict) -> str:
    """The change against the variant's control (same fine-tuning, nothing compressed) with its paired 95%
    interval: a fine-tuned variant beside fp32 alone credits the compression with the fine-tuning."""
    from harness.reporting.kept import kept_row

    if not metrics.get("per_example") or not metrics.get("steps_run"):
        return "-"
    return kept_row(dict(metrics))[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--models", default="squeezenet,srcnn")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--cache-dir")
    args = ap.parse_args(argv)
    from ai_edge_litert.interpreter import OpResolverType

    from converters.build import VariantBuilder

    builder = VariantBuilder(Path(args.cache_dir) if args.cache_dir else None)
    rows = []
    for model in args.models.split(","):
        built, times = {}, {}
        for v in args.variants.split(","):
            t0 = time.monotonic()
            try:
                built[v] = builder.build(model, v)
            except Exception as exc:  # one failing variant does not stop the others
                print(f"{model}/{v}: {str(exc).splitlines()[0][:200]}", flush=True)
                continue
            times[v] = time.monotonic() - t0
            print(f"{model}/{v}: {'cached' if built[v].cached else 'built'} in {times[v]:.0f} s", flush=True)
        paths = {v: b.path for v, b in built.items()}
        its = {}
        if "prune_sparse" in built:
            its["prune_sparse (reference kernels)"] = _interpreter(
                built["prune_sparse"].path, args.threads,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            its["fp32 (reference kernels)"] = _interpreter(
                built["fp32"].path, args.threads,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        p50 = interleaved_p50_ms(paths, args.threads, args.rounds, interpreters=its)
        base = built.get("fp32")
        for name, ms in p50.items():
            v = name.split(" ")[0]
            ref = "fp32 (reference kernels)" if "reference" in name else "fp32"
            m = built[v].metrics
            rows.append([model, name, f"{ms:.2f}", f"{p50[ref] / ms:.2f}x" if ref in p50 else "-",
                         f"{(m.get('macs') or 0) / 1e6:.1f}", f"{(m.get('params') or 0) / 1e3:.1f}",
                         f"{m.get('weight_sparsity', 0):.2f}", _acc(m), _delta(m, base.metrics) if base else "-",
                         _vs_control(m), f"{times.get(v, 0):.0f}"])
    print_table(f"side by side, interleaved, median of {args.rounds} round medians, {args.threads} threads, "
                f"recipe {os.environ.get('HARNESS_RECIPE', 'default')}",
                ["model", "variant", "p50 ms", "speed-up vs fp32", "MMACs", "k params", "sparsity", "accuracy",
                 "vs fp32", "vs control (95%)", "build s"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
