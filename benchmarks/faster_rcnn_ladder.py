#!/usr/bin/env python3
"""The seed paper's ladder on a seed-scale Faster R-CNN, on this host, one step after another.

fp32 -> fp16 weights -> dynamic-range int8 -> full int8 -> channel-pruned (50% of the conv MACs)
-> fc6/fc7 truncated SVD (Fast R-CNN's ranks: 1/4 and 1/16 of the head's units) -> fewer
proposals (300 -> 100) -> smaller input (600 -> 400 px), then one step beyond the seed toward the
goal (pruned to 25% of the conv MACs). Each step changes the best configuration so far, and is timed
interleaved in one process beside fp32 and that best: a step slower than the best beside it is not
kept (the table says so) and the later steps build on the faster one, e.g. on dynamic-range int8
where full int8 runs slower. A ratio within the noise (under 3%, or under how far fp32 beside a copy
of itself strayed from 1 in this run, or not the same way in every round) is a tie: kept only when
the step also makes the model smaller (MACs or file), never on a coin flip.
For every step: p50 latency, its ratio to fp32 timed beside it, peak
memory (a fresh process per file: resident-set high-water mark after load + invoke, less the
baseline after imports), file size, MACs (counted from the .tflite), the GMAC/s achieved, and the
mAP@0.5 change of the same configuration on a trained PROXY of ZF (`faster_rcnn_proxy`: ZF's
topology at 1/8 width, stride 16, 6x6 RoI pooling, fc6/fc7 of 1024 units, trained at 600 px and
fine-tuned for 400 px on 12 classes of generated objects on photos; converters/detection_proxy.py),
with paired 95% intervals on 500 held-out images; pruned and SVD-split variants fine-tuned
TUNE_STEPS (400) steps, each beside a control with the same fine-tuning. The seed-scale model is untrained (nothing
is downloaded): its own accuracy is not measured, the proxy's stands in for it. The proxy's rungs are
also timed through the project's runner on the very files their mAP is scored on, and judged on both
axes there (benchmarks/ladder_proxy.py): compression against its control, operating points against fp32.

With --devices, the same ladder runs through TensorRT (fp16 and int8 engines built by trtexec) on
every Jetson listed (benchmarks/ladder_tensorrt.py); with none listed it says those figures need
real hardware.

Usage: python benchmarks/faster_rcnn_ladder.py [--model faster_rcnn_zf] [--threads 2] [--rounds 3]
       [--twin faster_rcnn_proxy] [--no-twin] [--no-seed] [--skip 2,4] [--fold 5,6,7] [--sizes 600,400]
       [--proposals 300,100] [--tune-steps 400] [--latency-runs 30]
       [--devices devices.yaml] [--json rows.json] [--from-json rows.json] [--small]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.ladder_accuracy import (  # noqa: E402,F401  (re-exported: tests and ladder_tensorrt)
    GOAL_MIN_SIDE, GOAL_MS, MAP_TOLERANCE, _change_cell, best_step, costs_by_kind, goal_line, rung_kind,
    twin_changes,
)
from benchmarks.ladder_build import (  # noqa: E402,F401  (re-exported)
    SVD_FRACTIONS, Config, build_rung, control_steps, svd_layers, variant,
)
from benchmarks.ladder_proxy import (  # noqa: E402,F401  (re-exported)
    is_proxy, proxy_goal_rows, proxy_source, proxy_tables, run_twin, runner_latency, twin_config,
)

_build = build_rung  # the ladder's builder under its old name
ACCURACY_MODEL = "faster_rcnn_proxy"  # the trained model the accuracy column is measured on
EVAL_IMAGES = 500  # its held-out images
# The least noise a ratio is judged against: a ratio closer to 1 than this (or than the run's A/A
# ratio strayed, if more) is a tie, whatever the rounds say.
TIE_BAND = 0.03
# Fine-tuning steps after pruning and after the SVD split on the accuracy model, and for their controls
# (--tune-steps): the detection task's own compression default (converters.training.COMPRESSION_STEPS). Issue 23,
# sixth round (benchmarks/ladder_tune.py, 500 held-out scenes, paired 95%): on the annealed proxy (fp32 0.677) the
# 50 % channel-pruned rung lost 0.242 (-0.255 to -0.226) against its control after 100 steps and 0.141 (-0.151 to
# -0.130) after 400; the pruned model itself gained +0.119 (+0.107 to +0.129). About 4x the ladder's fine-tuning time.
TUNE_STEPS = 400


@dataclass(frozen=True)
class Step:
    """One rung: a change applied to the best configuration so far (the first: the baseline)."""

    label: str
    change: Callable[[Config], Config]
    seed: bool = True  # one of the seed paper's steps (False: beyond it, toward the goal)


def ladder(size: int = 600, proposals: int = 300, fewer: int = 100, smaller: int = 400,
           prune_flops: float = 0.5, deeper_flops: float = 0.25) -> list[Step]:
    """The seed's steps in order, then the SVD head and deeper pruning. Each step changes the best
    configuration measured so far: a step that runs slower than it (side by side) is not kept, and
    the later steps build on the faster one (run_seed decides; the table says which)."""
    return [
        Step("fp32", lambda c: Config(size=size, proposals=proposals)),
        Step("fp16 weights", lambda c: replace(c, quant="fp16")),
        Step("dynamic-range int8", lambda c: replace(c, quant="dr_int8")),
        Step("full int8", lambda c: replace(c, quant="int8")),
        Step(f"channel-pruned ({prune_flops:.0%} conv MACs)", lambda c: replace(c, prune=prune_flops)),
        Step("fc6/fc7 truncated SVD (ranks 1/4, 1/16)", lambda c: replace(c, svd=SVD_FRACTIONS)),
        Step(f"proposals {proposals} -> {fewer}", lambda c: replace(c, proposals=fewer)),
        Step(f"input {size} -> {smaller} px", lambda c: replace(c, size=smaller)),
        Step(f"channel-pruned to {deeper_flops:.0%} conv MACs", lambda c: replace(c, prune=deeper_flops),
             seed=False),
    ]


def fmt_row(r: dict[str, Any]) -> list[str]:
    def num(v: Any, f: str) -> str:
        return "-" if v is None else f.format(v)

    ref = r.get("fp32_p50_ms")  # fp32 timed beside this step
    speed = ref / r["p50_ms"] if ref and r.get("p50_ms") else None
    rate = r["gmacs"] / (r["p50_ms"] / 1000) if r.get("gmacs") and r.get("p50_ms") else None
    return [r["label"], r.get("kind", "-"), str(r["side"]), num(r.get("p50_ms"), "{:.1f}"), num(speed, "{:.2f}x"),
            r.get("kept_note", "-"), num(r.get("peak_mb"), "{:.0f}"), num(r.get("size_mb"), "{:.1f}"),
            num(r.get("gmacs"), "{:.2f}"), num(rate, "{:.1f}"), "not measured (untrained)",
            _change_cell(r.get("twin_change"), r.get("twin_map")), _change_cell(r.get("twin_step_change")),
            _change_cell(r.get("twin_control_change"))]


HEADERS = ["step", "kind", "px", "p50 ms", "vs fp32 (beside it)", "kept? (vs best so far, beside it)", "peak MB",
           "size MB", "GMACs", "GMAC/s", "mAP (seed-scale)", "proxy mAP@.5 change vs fp32",
           "proxy: this step's own change (vs the rung it built on)",
           "proxy: compression's cost (vs control: same fine-tuning, no compression)"]


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


def _time(its: dict[str, Any], threads: int, rounds: int) -> dict[str, list[float]]:
    from benchmarks.sidebyside import interleaved_rounds_ms

    return interleaved_rounds_ms({}, threads, rounds, runs=3, warmup=1, interpreters=its)


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def keep_decision(best_ms: list[float], step_ms: list[float], smaller: str | None,
                  best_label: str, band: float = TIE_BAND) -> tuple[bool, str]:
    """Whether a step replaces the best so far, from the per-round times of both (same rounds, side
    by side), and why. Faster: the median ratio is over 1 + band and the step won every round.
    Slower: the mirror. Anything else is a tie, kept only when `smaller` says what the step saves."""
    ratios = [b / s for b, s in zip(best_ms, step_ms)]
    vs = _median(ratios)
    if vs > 1 + band and min(ratios) > 1:
        return True, f"yes ({vs:.2f}x '{best_label}')"
    if vs < 1 - band and max(ratios) < 1:
        return False, f"no: {1 / vs:.2f}x slower than '{best_label}', built on that"
    spread = f"{min(ratios):.2f}-{max(ratios):.2f}x over {len(ratios)} rounds" if len(ratios) > 1 else "1 round"
    if smaller:
        return True, f"tie ({vs:.2f}x '{best_label}', {spread}): kept, {smaller}"
    return False, f"tie ({vs:.2f}x '{best_label}', {spread}): not kept, no smaller"


def smaller_note(row: dict[str, Any], best_row: dict[str, Any]) -> str | None:
    """What a step saves against the best so far (>= 1% fewer MACs or a >= 1% smaller file), or None."""
    parts = [f"{best_row[k] / row[k]:.2f}x {what}" for k, what in (("gmacs", "fewer MACs"), ("size_mb", "smaller"))
             if row.get(k) and best_row.get(k) and row[k] < 0.99 * best_row[k]]
    return ", ".join(parts) or None


def run_seed(model: str, steps: list[Step], threads: int, rounds: int, work: Path,
             json_path: Path | None = None, timer: Callable[..., dict[str, float]] | None = None
             ) -> list[dict[str, Any]]:
    """Build each step from the best configuration so far, then time it interleaved with fp32 and that
    best (a ratio per step even if a later step fails or the run is stopped). A step slower than the
    best beside it is not kept. Rows are written to `json_path` as they come. `timer(interpreters,
    threads, rounds)` -> per-round ms per name (default: interleaved invokes); p50 is their median."""
    timer = timer or _time
    from benchmarks.sidebyside import _interpreter
    from converters import analysis

    rows: list[dict[str, Any]] = []
    base_it = best_it = None
    best: Config | None = None
    best_label = "fp32"
    best_row: dict[str, Any] = {}
    band = TIE_BAND
    for i, step in enumerate(steps):
        t0 = time.monotonic()
        cfg = step.change(best or Config())
        row: dict[str, Any] = {"label": step.label, "side": cfg.size, "config": asdict(cfg), "seed_step": step.seed,
                               "kind": rung_kind(asdict(cfg), asdict(best) if best else None),
                               "built_on": best_label if best else None}
        rows.append(row)
        try:
            path, row["variant"] = _build(model, cfg, work / f"seed_{i}.tflite")
        except Exception as exc:  # one failing step does not stop the others
            row["error"] = str(exc).splitlines()[0][:200]
            print(f"  {step.label}: {row['error']}", flush=True)
            continue
        a = analysis.analyze(path.read_bytes())
        row.update(size_mb=path.stat().st_size / 1e6, gmacs=a["macs"] / 1e9, peak_mb=peak_mb(path, threads),
                   build_s=time.monotonic() - t0, macs_by_op={k: v / 1e9 for k, v in a["macs_by_op"].items()})
        it = _interpreter(path, threads)
        if base_it is None:
            base_it = best_it = it
            best, best_row = cfg, row
            # A/A: the baseline beside a second interpreter of the same file. How far that ratio strays
            # from 1 is this run's noise; a step's ratio inside it (or inside TIE_BAND) is a tie.
            aa = timer({"fp32": it, "aa": _interpreter(path, threads)}, threads, rounds)
            row["aa_ratios"] = [a / b for a, b in zip(aa["fp32"], aa["aa"])]
            band = max(TIE_BAND, *(abs(r - 1) for r in row["aa_ratios"]))
            row["p50_ms"] = row["fp32_p50_ms"] = _median(aa["fp32"])
            row.update(kept=True, kept_note="baseline")
            print(f"  A/A: fp32 beside a copy of itself {min(row['aa_ratios']):.3f}-{max(row['aa_ratios']):.3f}x "
                  f"over {len(row['aa_ratios'])} rounds: ties within {band:.1%}", flush=True)
        else:
            its = {"fp32": base_it, "step": it}
            if best_it is not base_it:
                its["best"] = best_it
            rounds_ms = timer(its, threads, rounds)
            best_ms = rounds_ms.get("best", rounds_ms["fp32"])
            row["p50_ms"], row["fp32_p50_ms"] = _median(rounds_ms["step"]), _median(rounds_ms["fp32"])
            row["best_p50_ms"], row["best_label"] = _median(best_ms), best_label
            row["kept"], row["kept_note"] = keep_decision(best_ms, rounds_ms["step"], smaller_note(row, best_row),
                                                          best_label, band)
            if row["kept"]:
                if best_it is not base_it:
                    del its["best"]
                best, best_it, best_label, best_row = cfg, it, step.label, row
            del it, its
        print(f"  {step.label}: {row['variant']}: {row['gmacs']:.2f} GMACs, {row['size_mb']:.1f} MB, "
              f"peak {row['peak_mb']} MB, p50 {row['p50_ms']:.1f} ms vs fp32 {row['fp32_p50_ms']:.1f} ms beside it, "
              f"kept: {row['kept_note']} (built in {row['build_s']:.0f} s)", flush=True)
        if json_path:
            json_path.write_text(json.dumps(rows, indent=1, default=str))
    return rows


def remaining(rows: list[dict[str, Any]], goal_ms: float = GOAL_MS, min_side: int = GOAL_MIN_SIDE) -> str:
    """Where the best step's time goes: MACs per op type and the rate achieved, against the goal."""
    best = best_step(rows, min_side)
    if best is None or not best.get("gmacs"):
        return ""
    rate = best["gmacs"] / (best["p50_ms"] / 1000)
    parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(best.get("macs_by_op", {}).items(), key=lambda kv: -kv[1])
                      if v >= 0.005)
    return (f"best step: {best['gmacs']:.2f} GMACs ({parts}) at {rate:.1f} GMAC/s achieved; {goal_ms:.0f} ms at "
            f"that rate allows {rate * goal_ms / 1000:.2f} GMACs, {best['gmacs'] / (rate * goal_ms / 1000):.1f}x fewer")


def folded(numbered: list[tuple[int, Step]], fold: set[int]) -> list[Step]:
    """The steps with those numbered in `fold` applied together with the next one, as one rung."""
    out: list[Step] = []
    pending: list[Step] = []
    for i, step in numbered:
        if i in fold and i != numbered[-1][0]:
            pending.append(step)
            continue
        if pending:
            chain = [*pending, step]

            def change(c: Config, chain: list[Step] = chain) -> Config:
                for s in chain:
                    c = s.change(c)
                return c

            step = Step(" + ".join(s.label for s in chain), change, all(s.seed for s in chain))
            pending = []
        out.append(step)
    return out


def static_configs(steps: list[Step], not_built_on: frozenset[str] = frozenset()) -> list[tuple[str, Config]]:
    """No host timing to decide: the seed's order, cumulative, except that the steps labelled in
    `not_built_on` are measured and the next step builds on the one before them."""
    out, cfg = [], Config()
    for step in steps:
        this = step.change(cfg)
        out.append((step.label, this))
        if step.label not in not_built_on:
            cfg = this
    return out


def static_rows(steps: list[Step], not_built_on: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The rows of a run with no host timing (--no-seed): each rung, what it was built on, and its kind."""
    rows: list[dict[str, Any]] = []
    on: tuple[str, Config] | None = None
    for label, cfg in static_configs(steps, not_built_on):
        rows.append({"label": label, "side": cfg.size, "config": asdict(cfg), "kept": label not in not_built_on,
                     "built_on": on[0] if on else None,
                     "kind": rung_kind(asdict(cfg), asdict(on[1]) if on else None)})
        if label not in not_built_on:
            on = (label, cfg)
    return rows


def parser() -> argparse.ArgumentParser:
    """The ladder's flags and their defaults."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="faster_rcnn_zf")
    ap.add_argument("--twin", default=ACCURACY_MODEL, help="the trained model the accuracy column is "
                    "measured on: the ZF-shaped proxy (default) or the old small twin faster_rcnn")
    ap.add_argument("--no-twin", action="store_true")
    ap.add_argument("--twin-images", type=int, default=EVAL_IMAGES, help="held-out images the proxy's mAP is scored on")
    ap.add_argument("--tune-steps", type=int, default=TUNE_STEPS, help="fine-tuning steps after pruning and after the "
                    "SVD split on the accuracy model (and its controls)")
    ap.add_argument("--latency-runs", type=int, default=30, help="timed runs of each proxy rung's file through "
                    "the runner (the same file its mAP is scored on); 0: its latency not measured")
    ap.add_argument("--latency-rounds", type=int, default=3, help="rotated rounds of the runner over every rung's "
                    "file (each rung's p50: the median of its rounds)")
    ap.add_argument("--no-seed", action="store_true", help="no host timing (the twin's mAP and the Jetson ladder only)")
    ap.add_argument("--not-built-on", default="4", help="with --no-seed: step numbers measured that later steps do "
                    "not build on; '' builds every step on the one before. Default 4, full int8, as the timed ZF "
                    "ladder decides: with its detection tail float it keeps the proxy's accuracy (-0.004 vs fp32) "
                    "and runs 3.9x fp32 on ZF, but not faster than dynamic-range int8 (0.79x beside it in every "
                    "round, load 16-40) with the same file size, so it is not kept (before: mAP@0.5 0.008, 4x "
                    "slower than dynamic-range int8)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip", default="", help="step numbers to leave out, e.g. 2,4 (fp16, full int8)")
    ap.add_argument("--fold", default="", help="step numbers applied together with the next step, unmeasured "
                    "(a large model: fewer builds), e.g. 5,6,7")
    ap.add_argument("--sizes", default="600,400", help="input side, then the smaller one (multiples of 16)")
    ap.add_argument("--proposals", default="300,100", help="proposals, then the fewer count")
    ap.add_argument("--small", action="store_true", help="a 160 px model with a 512-unit head (smoke run)")
    ap.add_argument("--devices", help="devices.yaml: the same ladder through TensorRT on every jetson listed")
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--keep-files", action="store_true", help="keep the built files (their folder is printed)")
    ap.add_argument("--from-json", help="the host rows of an earlier --json run (no host timing): its rungs, "
                    "kept or not, for the twin and the Jetson ladder, and its table with the twin's column")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    try:
        size, smaller = (int(v) for v in args.sizes.split(","))
        proposals, fewer = (int(v) for v in args.proposals.split(","))
        skip = {int(v) for v in args.skip.split(",") if v.strip()}
        fold = {int(v) for v in args.fold.split(",") if v.strip()}
        unbuilt = {int(v) for v in args.not_built_on.split(",") if v.strip()}
    except ValueError:
        print("faster_rcnn_ladder: --sizes, --proposals, --skip, --fold and --not-built-on take whole numbers "
              "separated by commas", file=sys.stderr)
        return 2
    if args.tune_steps < 0:
        print("faster_rcnn_ladder: --tune-steps: a count of steps, 0 or more", file=sys.stderr)
        return 2
    if args.latency_runs < 0:
        print("faster_rcnn_ladder: --latency-runs: a count of runs, 0 or more", file=sys.stderr)
        return 2
    if args.latency_rounds < 1:
        print("faster_rcnn_ladder: --latency-rounds: a count of rounds, 1 or more", file=sys.stderr)
        return 2
    if args.twin_images < 2:
        print("faster_rcnn_ladder: --twin-images: at least 2 held-out images are needed for an interval",
              file=sys.stderr)
        return 2
    from benchmarks.ladder_tensorrt import load_jetsons
    from errors import UserError

    try:  # a bad devices file is said before the long host run
        jetsons, no_jetson = load_jetsons(args.devices)
    except UserError as exc:
        print(f"faster_rcnn_ladder: --devices: {exc}", file=sys.stderr)
        return 2
    model = f"{args.model}@head_units=512" if args.small else args.model
    steps = ladder(160, 300, 100, 128) if args.small else ladder(size, proposals, fewer, smaller)
    not_built_on = frozenset(s.label for i, s in enumerate(steps, 1) if i in unbuilt and i != 1)
    steps = folded([(i, s) for i, s in enumerate(steps, 1) if i == 1 or i not in skip], fold)
    work = Path(tempfile.mkdtemp(prefix="harness-ladder-"))
    try:
        return _run(args, model, steps, work, jetsons, no_jetson, not_built_on)
    finally:
        if args.keep_files:
            print(f"files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, model: str, steps: list[Step], work: Path, jetsons: list[Any],
         no_jetson: str | None, not_built_on: frozenset[str] = frozenset()) -> int:
    from benchmarks.ladder_tensorrt import NO_JETSON, run_jetson_ladder

    t0 = time.monotonic()
    timing = "no host timing of it (--no-seed)" if args.no_seed else f"{args.rounds} interleaved rounds"
    print(f"ladder on {model}, {args.threads} threads, {timing}; 1-min load at the start "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    json_path = Path(args.json) if args.json else None
    if args.from_json:
        try:
            saved = json.loads(Path(args.from_json).read_text())
            rows = saved["host"] if isinstance(saved, dict) else saved
            [r["config"] for r in rows if "error" not in r]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"faster_rcnn_ladder: --from-json {args.from_json[:200]!r}: not the rows of a ladder run "
                  f"({type(exc).__name__})", file=sys.stderr)
            return 2
    elif args.no_seed:
        rows = static_rows(steps, not_built_on)
    else:
        rows = run_seed(model, steps, args.threads, args.rounds, work, json_path)
    configs = [(r["label"], Config(**{**r["config"], "svd": tuple(r["config"]["svd"]) if r["config"]["svd"] else None}))
               for r in rows if "config" in r and "error" not in r]
    if not args.no_twin:
        built_on = {r["label"]: r.get("built_on") for r in rows} if any("built_on" in r for r in rows) else None
        lat = (None if not args.latency_runs else
               lambda path: runner_latency(path, threads=args.threads, runs=args.latency_runs))
        twin = run_twin(args.twin, configs, work, prune_steps=args.tune_steps, svd_steps=args.tune_steps,
                        images=args.twin_images, built_on=built_on, latency=lat,
                        latency_rounds=args.latency_rounds)
        for r in rows:
            r.update(twin.get(r["label"], {}))
    from benchmarks.sidebyside import print_table

    if any(r.get("p50_ms") for r in rows):
        print_table(f"{model} ladder on this host ({time.monotonic() - t0:.0f} s)", HEADERS,
                    [fmt_row(r) for r in rows if "error" not in r])
        for r in rows:
            if "error" in r:
                print(f"{r['label']}: not measured ({r['error']})")
        print(goal_line(rows))
        print(remaining(rows))
    elif not args.no_twin:
        data = next((r["twin_change"]["data"] for r in rows if isinstance(r.get("twin_change"), dict)), "")
        print_table(f"{args.twin}: mAP@0.5 per step ({data}; paired bootstrap 95% intervals)",
                    ["step", "kind", "mAP@.5", "change vs fp32", "this step's own change",
                     "vs control (same fine-tuning, no compression)"],
                    [[r["label"], r.get("kind", "-"), f"{r['twin_map']:.3f}", _change_cell(r.get("twin_change")),
                      _change_cell(r.get("twin_step_change")), _change_cell(r.get("twin_control_change"))]
                     for r in rows if "twin_map" in r])
    for line in costs_by_kind(rows):
        print(line)
    if any(r.get("proxy_latency") for r in rows):
        for title, headers, table in proxy_tables(rows):
            if table:
                print_table(title, headers, table)
        print(f"{args.twin} (latency and mAP on the same files): {goal_line(proxy_goal_rows(rows))}")
        if is_proxy(args.twin):
            print(f"note: {args.twin} is ZF at 1/8 width (about 1/64 of its conv MACs), trained on generated data: "
                  "its latency is the proxy's, not ZF's (the seed-scale ladder above times ZF itself)")
    kept = {r["label"] for r in rows if r.get("kept")}
    if jetsons:
        trt_rows = run_jetson_ladder(args.devices, model, [(lbl, c) for lbl, c in configs if lbl in kept], work,
                                     jetsons, build=_build)
    else:
        trt_rows = []
        print(NO_JETSON.format(why=no_jetson))
    if json_path:
        json_path.write_text(json.dumps({"host": rows, "tensorrt": trt_rows}, indent=1, default=str))
    cpu = os.times()
    print(f"ladder end to end: {time.monotonic() - t0:.0f} s wall, {cpu.user + cpu.system:.0f} s CPU in this process "
          f"and {cpu.children_user + cpu.children_system:.0f} s in its children (runner, peak memory), "
          f"1-min load at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
