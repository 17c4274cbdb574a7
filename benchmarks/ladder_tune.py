#!/usr/bin/env python3
"""Does a longer fine-tune cut what pruning costs the proxy? Each length beside a control just as long.

Issue 23: on the annealed proxy (fp32 mAP@0.5 0.677) the ladder's 50 % channel-pruned rung, fine-tuned 100 steps,
lost 0.242 against its control (the same 100 steps, nothing pruned). A better-trained model may need a longer
fine-tune after losing half its channels. For each length in --steps this builds the ladder's pruned rung
(`prune_channels@flops=F@steps=N@then=Q`, the task's rate cosine-decayed to 5 %) and its control
(`fine_tune@steps=N@then=Q`), scores both and fp32 on the same held-out scenes and prints, with paired bootstrap
95 % intervals: pruned vs its control (what pruning costs after N steps), the control vs fp32 (is fp32 still a
fair baseline at that length), and, against the first length, how much the longer fine-tune changed the pruned
model and the pruning cost itself (the difference of the two pruned-minus-control differences, on the same
resamples).

Usage: python benchmarks/ladder_tune.py [--model faster_rcnn_proxy] [--steps 100,400] [--flops 0.5]
       [--quant dr_int8] [--images 500]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

QUANTS = ("fp32", "fp16", "dr_int8", "int8")


def _load() -> str:
    return f"1-min load {os.getloadavg()[0]:.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="faster_rcnn_proxy")
    ap.add_argument("--steps", default="100,400", help="fine-tuning lengths, each with its own control")
    ap.add_argument("--flops", type=float, default=0.5, help="fraction of the conv MACs kept by prune_channels")
    ap.add_argument("--quant", default="dr_int8", help=f"the conversion after the fine-tune: {', '.join(QUANTS)}")
    ap.add_argument("--images", type=int, default=500)
    args = ap.parse_args(argv)
    try:
        lengths = [int(v) for v in args.steps.split(",") if v.strip()]
    except ValueError:
        lengths = []
    if not lengths or min(lengths) < 1:
        print("ladder_tune: --steps: fine-tuning lengths, whole numbers of at least 1 separated by commas",
              file=sys.stderr)
        return 2
    if not 0 < args.flops < 1:
        print("ladder_tune: --flops: a fraction between 0 and 1", file=sys.stderr)
        return 2
    if args.quant not in QUANTS:
        print(f"ladder_tune: --quant: one of {', '.join(QUANTS)}", file=sys.stderr)
        return 2
    if args.images < 10:
        print("ladder_tune: --images: at least 10", file=sys.stderr)
        return 2
    from benchmarks.ladder_build import Config
    from benchmarks.ladder_proxy import not_a_proxy, proxy_source
    from converters.detection import model_classes
    from converters.zoo import get_spec

    refused = not_a_proxy("ladder_tune", args.model)
    if refused:
        print(refused, file=sys.stderr)
        return 2
    t0, cpu0 = time.monotonic(), time.process_time()
    print(f"{args.model}: prune_channels@flops={args.flops} then {args.quant}, fine-tuned {args.steps} steps, each "
          f"beside its control; {args.images} held-out scenes; {_load()} at the start", flush=True)

    kwargs = get_spec(args.model).kwargs  # the model's own operating point (600 px, 300 proposals by default)
    base = Config(size=int(kwargs.get("size", 600)), proposals=int(kwargs.get("proposals", 300)))
    src = proxy_source(args.model, base.size, {})
    classes = model_classes(src)
    work = Path(tempfile.mkdtemp(prefix="ladder-tune-"))
    try:
        _run(args, lengths, base, src, classes, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cpu = os.times()
    print(f"({time.monotonic() - t0:.0f} s wall, {time.process_time() - cpu0:.0f} s CPU in this process, "
          f"{cpu.children_user + cpu.children_system:.0f} s in its children; {_load()} at the end)", flush=True)
    return 0


def _run(args: argparse.Namespace, lengths: list[int], base: Any, src: Any, classes: int, work: Path) -> None:
    """Build and score fp32, then each length's pruned rung and its control; print the paired changes."""
    from benchmarks.ladder_build import Config, build_rung
    from converters.detection import evaluate_tflite
    from converters.detection_data import MatchedIndex
    from harness.statistics.accuracy_change import change_text, paired_resampled_change

    data = ""

    def scored(cfg: Config, name: str, **kw: Any) -> MatchedIndex:
        nonlocal data
        t, c = time.monotonic(), time.process_time()
        path, label = build_rung(args.model, cfg, work / f"{name}.tflite", src, **kw)
        got = evaluate_tflite(path, n=args.images, classes=classes)
        path.unlink(missing_ok=True)
        data = f"{args.images} held-out images, {got['data']}"
        print(f"  {label}: mAP@0.5 {got['map50']:.3f} (built and scored in {time.monotonic() - t:.0f} s wall, "
              f"{time.process_time() - c:.0f} s CPU; {_load()})", flush=True)
        return MatchedIndex(got["matched"])

    def change(a: MatchedIndex, b: MatchedIndex, against: str) -> str:
        return change_text(paired_resampled_change(lambda i: (a.map(i), b.map(i)), a.images, "mAP@0.5", against,
                                                   data, many=lambda m: (a.map_many(m), b.map_many(m))))

    def cost_change(p: MatchedIndex, c: MatchedIndex, p1: MatchedIndex, c1: MatchedIndex, first: int) -> str:
        """(pruned minus control) at this length minus the same at the first length, on the same resamples."""
        return change_text(paired_resampled_change(
            lambda i: (p.map(i) - c.map(i), p1.map(i) - c1.map(i)), p.images, "pruning's cost (pruned minus control)",
            f"the same at {first} steps", data,
            many=lambda m: (p.map_many(m) - c.map_many(m), p1.map_many(m) - c1.map_many(m))))

    fp32 = scored(base, "fp32")
    cfg = replace(base, quant=args.quant, prune=args.flops)
    runs: dict[int, tuple[MatchedIndex, MatchedIndex]] = {}
    for n in lengths:
        pruned = scored(cfg, f"pruned_{n}", prune_steps=n)
        control = scored(cfg, f"control_{n}", prune_steps=n, control=True)
        runs[n] = (pruned, control)
        ctl = f"control ({n} steps, nothing pruned)"
        print(f"  {n} steps: pruned minus its control {change(pruned, control, ctl)}", flush=True)
        print(f"  {n} steps: control minus fp32 {change(control, fp32, 'fp32')}", flush=True)
        first = lengths[0]
        if n != first:
            p1, c1 = runs[first]
            print(f"  {n} vs {first} steps: pruned {change(pruned, p1, f'pruned, {first} steps')}", flush=True)
            print(f"  {n} vs {first} steps: pruning's cost (pruned minus control) changed by "
                  f"{cost_change(pruned, control, p1, c1, first)}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
