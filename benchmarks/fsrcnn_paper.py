#!/usr/bin/env python3
"""FSRCNN-s trained as the FSRCNN paper trains it, one change at a time, each against the current model (issue 23).

Dong, Loy, Tang (ECCV 2016) train FSRCNN-s (d=32, s=5, m=1; PReLU after every convolution; a 9x9 deconvolution of
stride = scale) with an L2 loss from He et al.'s PReLU initialisation (the deconvolution Gaussian, std 0.001), rates
1e-3 for the convolutions and 1e-4 for the deconvolution, on 91 images rotated and scaled. Each trial trains
fsrcnn_s through the zoo's own recipe (converters.training, same seed, data and length) with one of those changes
(or several, named with +), and scores it beside the shipped FSRCNN-s, SRCNN 9-5-5 and SRCNN 9-1-5 on the same 48
held-out crops: per-crop PSNR (dB, the harness's shave), paired bootstrap 95% intervals.

Trials (TRIAL[+TRIAL...]): augment (8 rotations/flips), init (the paper's initialisation), deconv_lr (the
deconvolution's rate a tenth), plain (no bicubic carry: the paper's network, all 5 shrinking channels free), scale
(crops also from the training photos downscaled by 0.9, 0.8, 0.7 and 0.6, as the paper scales its 91 images),
before (the recipe shipped until issue 23's sixth round: Glorot start, no turns). Since that round fsrcnn_s's own
recipe has the paper's init and the turns, so `current` is that recipe and `init`/`augment` add nothing to it.

`--seed N` moves the recipe's random draws (initial weights, crops, their order and turns; 0 is the shipped
recipe's): seeds move FSRCNN-s by about 0.1 dB, more than the crops' interval, so a change is judged on each seed
against the current recipe of the same seed (seed 0 at the shipped length: the shipped weights themselves), and on
the seeds' per-crop mean.

Usage: python benchmarks/fsrcnn_paper.py train TRIAL [--steps N] [--seed N] [--out DIR]   (trains one trial)
       python benchmarks/fsrcnn_paper.py report [--out DIR]                  (the tables from every stored trial)
The models are scored in Keras (float32, the same graph LiteRT's fp32 runs; the shipped models the same way).
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

# trial -> (zoo overrides, recipe options)
CHANGES: dict[str, tuple[dict[str, object], dict[str, float | bool]]] = {
    "current": ({}, {}),
    "augment": ({}, {"augment": True}),
    "init": ({"init": "paper"}, {}),
    "deconv_lr": ({}, {"deconv_lr": 0.1}),
    "plain": ({"carry": 0}, {}),
    "scale": ({}, {"scale": True}),
    # the recipe before issue 23's sixth round (Glorot start, no turns), now that init and augment are fsrcnn_s's own
    "before": ({"init": "keras"}, {"augment": False}),
}
REFERENCES = ("fsrcnn_s", "srcnn_955", "srcnn", "fsrcnn")  # shipped weights, scored the same way
SHIPPED_STEPS = 6000  # training.SR_MODEL_STEPS["fsrcnn_s"], the shipped weights' length
DEFAULT_OUT = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "harness" / "fsrcnn_paper"


def parse_trial(text: str) -> tuple[dict[str, object], dict[str, float | bool]]:
    """The zoo overrides and recipe options of `a+b+...`; ValueError names an unknown part."""
    overrides: dict[str, object] = {}
    options: dict[str, float | bool] = {}
    for part in text.split("+"):
        if part not in CHANGES:
            raise ValueError(f"trial {part[:40]!r}: expected one of {', '.join(CHANGES)} (joined with +)")
        overrides.update(CHANGES[part][0])
        options.update(CHANGES[part][1])
    return overrides, options


def scores(model: object, name: str) -> tuple[list[float], list[float]]:
    """Per-crop PSNR of a Keras SR model on the harness's 48 held-out crops, and bicubic's."""
    import numpy as np

    from converters.accuracy import _sr_data, psnr
    from converters.training import copy_at, spec_task
    from converters.zoo import get_spec

    info = spec_task(get_spec(name), model)
    side = int(model.output_shape[1])  # type: ignore[attr-defined]
    x, hr, bic = _sr_data(info, side, None)
    out = copy_at(model, batch=None).predict(x, batch_size=8, verbose=0)
    s = info.scale
    return ([round(psnr(o, h, s), 4) for o, h in zip(np.asarray(out), hr)],
            [round(psnr(b, h, s), 4) for b, h in zip(bic, hr)])


def reference(name: str, out: Path) -> list[float]:
    path = out / f"ref-{name}.json"
    if path.exists():
        return list(json.loads(path.read_text())["psnr"])
    from converters import shipped
    from converters.zoo import get_spec

    spec = get_spec(name)
    model = spec.create()
    if not shipped.load(spec, model, None):
        raise SystemExit(f"fsrcnn_paper: {name}: no shipped weights of the current recipe")
    psnr, bicubic = scores(model, name)
    path.write_text(json.dumps({"psnr": psnr, "bicubic": bicubic}))
    return psnr


def train(trial: str, steps: int | None, out: Path, seed: int = 0) -> int:
    import tf_keras as keras

    from converters import training
    from converters.zoo import get_spec

    overrides, options = parse_trial(trial)
    for name in REFERENCES:
        reference(name, out)
    name = "fsrcnn_s" + "".join(f"@{k}={v}" for k, v in overrides.items())
    spec = get_spec(name)
    options = {**training.sr_model_recipe("fsrcnn_s"), **options}  # a trial adds to the current recipe
    training.SR_MODEL_RECIPE["fsrcnn_s"] = options
    if steps:
        training.SR_MODEL_STEPS["fsrcnn_s"] = steps
    keras.utils.set_random_seed(seed)  # seed 0: as converters.shipped.write does
    model = spec.create()
    t0 = time.monotonic()
    load0 = os.getloadavg()[0]
    training._train_recipe(spec, model, None, seed=seed)
    seconds = time.monotonic() - t0
    psnr, _ = scores(model, name)
    n = training.sr_recipe(training.spec_task(spec, model), name)[0]
    record = {"trial": trial, "model": name, "options": options, "steps": n, "seed": seed,
              "train_s": round(seconds, 1), "load": [round(load0, 1), round(os.getloadavg()[0], 1)], "psnr": psnr}
    stem = f"trial-{trial}-{n}-s{seed}"
    (out / f"{stem}.json").write_text(json.dumps(record))
    model.save_weights(str(out / f"{stem}.weights.h5"))
    print(f"{trial} (seed {seed}, {n} steps): {sum(psnr) / len(psnr):.3f} dB, trained {seconds:.0f} s "
          f"(load {load0:.1f} -> "
          f"{os.getloadavg()[0]:.1f})", flush=True)
    return 0


def report(out: Path, control: str = "current") -> int:
    from harness.statistics.accuracy_change import paired_mean_change

    refs = {n: json.loads((out / f"ref-{n}.json").read_text()) for n in REFERENCES
            if (out / f"ref-{n}.json").exists()}
    if len(refs) < len(REFERENCES):
        print(f"fsrcnn_paper: {out}: no reference scores yet (run a trial first)", file=sys.stderr)
        return 2
    bicubic = refs["fsrcnn_s"]["bicubic"]
    mean = lambda v: sum(v) / len(v)  # noqa: E731

    def cell(a: list[float], b: list[float]) -> str:
        c = paired_mean_change(a, b, "PSNR dB", "-")
        return f"{c.change:+.2f} ({c.low:+.2f} to {c.high:+.2f})"

    print(f"48 held-out crops (scikit-image photos), x3, per-crop PSNR; bicubic {mean(bicubic):.3f} dB; "
          "paired bootstrap 95%")
    trials = [json.loads(p.read_text()) for p in sorted(out.glob("trial-*.json"))]
    for r in trials:
        r.setdefault("seed", 0)
    # the current recipe of the same length and seed is each trial's control; at the shipped length, seed 0,
    # the shipped weights are that recipe's result (converters.shipped.write trains it so)
    controls = {(r["steps"], r["seed"]): r["psnr"] for r in trials if r["trial"] == control}
    if control == "current":
        controls.setdefault((SHIPPED_STEPS, 0), refs["fsrcnn_s"]["psnr"])
    print(f"| FSRCNN-s trained | steps | seed | train s (load) | PSNR dB | gain over bicubic | vs `{control}` (same "
          "seed, steps) | vs shipped FSRCNN-s | vs SRCNN 9-5-5 | vs SRCNN 9-1-5 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = [("shipped (current recipe)", SHIPPED_STEPS, 0, "-", refs["fsrcnn_s"]["psnr"])]
    rows += [(r["trial"], r["steps"], r["seed"], f"{r['train_s']:.0f}" + (
        f" ({r['load'][0]}-{r['load'][1]})" if r.get("load") and r["load"][0] is not None else ""), r["psnr"])
             for r in sorted(trials, key=lambda r: (r["steps"], r["trial"], r["seed"]))]
    for label, steps, seed, cost, p in rows:
        c = controls.get((steps, seed))
        vs_control = cell(p, c) if c is not None and label not in (control, rows[0][0]) else "-"
        print(f"| {label} | {steps} | {seed} | {cost} | {mean(p):.3f} | {mean(p) - mean(bicubic):+.3f} | "
              f"{vs_control} | {cell(p, refs['fsrcnn_s']['psnr'])} | {cell(p, refs['srcnn_955']['psnr'])} | "
              f"{cell(p, refs['srcnn']['psnr'])} |")
    pooled = seeds_pooled(trials, controls, control)
    if pooled:
        print(f"\nOver seeds: each crop's PSNR averaged over the seeds, paired with `{control}`'s over the same seeds")
        print(f"| FSRCNN-s trained | steps | seeds | PSNR dB | vs `{control}` (same seeds) | vs SRCNN 9-5-5 | "
              "vs SRCNN 9-1-5 |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for trial, steps, seeds, p, c in pooled:
            vs = cell(p, c) if trial != control else "-"
            print(f"| {trial} | {steps} | {', '.join(map(str, seeds))} | {mean(p):.3f} | {vs} | "
                  f"{cell(p, refs['srcnn_955']['psnr'])} | {cell(p, refs['srcnn']['psnr'])} |")
    print("\n| shipped model | PSNR dB | gain over bicubic | vs SRCNN 9-5-5 | vs SRCNN 9-1-5 |")
    print("| --- | --- | --- | --- | --- |")
    for n, label in (("fsrcnn_s", "FSRCNN-s (32,5,1)"), ("fsrcnn", "FSRCNN (56,12,4)"),
                     ("srcnn_955", "SRCNN 9-5-5"), ("srcnn", "SRCNN 9-1-5")):
        p = refs[n]["psnr"]
        print(f"| {label} | {mean(p):.3f} | {mean(p) - mean(bicubic):+.3f} | {cell(p, refs['srcnn_955']['psnr'])} | "
              f"{cell(p, refs['srcnn']['psnr'])} |")
    return 0


def seeds_pooled(trials: list[dict[str, Any]], controls: dict[tuple[int, int], list[float]], control: str = "current"
                 ) -> list[tuple[str, int, list[int], list[float], list[float]]]:
    """(trial, steps, seeds, per-crop mean over those seeds, the controls' per-crop mean over the same seeds) for
    every trial and length trained on two or more seeds that each have a control."""
    by: dict[tuple[str, int], dict[int, list[float]]] = {}
    for r in trials:
        if (r["steps"], r["seed"]) in controls:
            by.setdefault((r["trial"], r["steps"]), {})[r["seed"]] = r["psnr"]
    for (steps, seed), p in controls.items():  # the shipped weights count as `current` seed 0
        by.setdefault((control, steps), {}).setdefault(seed, p)
    out = []
    for (trial, steps), per_seed in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0] != control, kv[0][0])):
        if len(per_seed) < 2:
            continue
        seeds = sorted(per_seed)
        avg = [sum(v) / len(v) for v in zip(*(per_seed[s] for s in seeds))]
        ctl = [sum(v) / len(v) for v in zip(*(controls[(steps, s)] for s in seeds))]
        out.append((trial, steps, seeds, avg, ctl))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("train", "report"))
    ap.add_argument("trial", nargs="?", default="current")
    ap.add_argument("--steps", type=int, help="recipe length (default: fsrcnn_s's own, 6000)")
    ap.add_argument("--seed", type=int, default=0, help="the recipe's random draws (default 0, the shipped one's)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="folder of the stored trials")
    ap.add_argument("--control", default="current", choices=tuple(CHANGES),
                    help="report: the trial each is paired with, seed by seed (default current)")
    args = ap.parse_args(argv)
    if args.steps is not None and not 2 <= args.steps <= 100000:
        print(f"fsrcnn_paper: --steps {args.steps}: expected 2 to 100000", file=sys.stderr)
        return 2
    if not 0 <= args.seed <= 1000:
        print(f"fsrcnn_paper: --seed {args.seed}: expected 0 to 1000", file=sys.stderr)
        return 2
    try:
        parse_trial(args.trial)
    except ValueError as exc:
        print(f"fsrcnn_paper: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return train(args.trial, args.steps, out, args.seed) if args.action == "train" else report(out, args.control)


if __name__ == "__main__":
    sys.exit(main())
