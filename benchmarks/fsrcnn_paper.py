#!/usr/bin/env python3
"""FSRCNN-s trained as the FSRCNN paper trains it, one change at a time, each against the current model (issue 23).

Dong, Loy, Tang (ECCV 2016) train FSRCNN-s (d=32, s=5, m=1; PReLU after every convolution; a 9x9 deconvolution of
stride = scale) with an L2 loss from He et al.'s PReLU initialisation (the deconvolution Gaussian, std 0.001), rates
1e-3 for the convolutions and 1e-4 for the deconvolution, on 91 images rotated and scaled. Each trial trains
fsrcnn_s through the zoo's own recipe (converters.training, same seed, data and length) with one of those changes
(or several, named with +), and scores it beside the shipped FSRCNN-s, SRCNN 9-5-5 and SRCNN 9-1-5 on the same 48
held-out crops: per-crop PSNR (dB, the harness's shave), paired bootstrap 95% intervals.

Trials (TRIAL[+TRIAL...]): augment (8 rotations/flips), init (the paper's initialisation), deconv_lr (the
deconvolution's rate a tenth), plain (no bicubic carry: the paper's network, all 5 shrinking channels free).

Usage: python benchmarks/fsrcnn_paper.py train TRIAL [--steps N] [--out DIR]   (trains one trial, stores its scores)
       python benchmarks/fsrcnn_paper.py report [--out DIR]                  (the table from every stored trial)
The models are scored in Keras (float32, the same graph LiteRT's fp32 runs; the shipped models the same way).
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

# trial -> (zoo overrides, recipe options)
CHANGES: dict[str, tuple[dict[str, object], dict[str, float | bool]]] = {
    "current": ({}, {}),
    "augment": ({}, {"augment": True}),
    "init": ({"init": "paper"}, {}),
    "deconv_lr": ({}, {"deconv_lr": 0.1}),
    "plain": ({"carry": 0}, {}),
}
REFERENCES = ("fsrcnn_s", "srcnn_955", "srcnn", "fsrcnn")  # shipped weights, scored the same way
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


def train(trial: str, steps: int | None, out: Path) -> int:
    import tf_keras as keras

    from converters import training
    from converters.zoo import get_spec

    overrides, options = parse_trial(trial)
    for name in REFERENCES:
        reference(name, out)
    name = "fsrcnn_s" + "".join(f"@{k}={v}" for k, v in overrides.items())
    spec = get_spec(name)
    training.SR_MODEL_RECIPE["fsrcnn_s"] = options
    if steps:
        training.SR_MODEL_STEPS["fsrcnn_s"] = steps
    keras.utils.set_random_seed(0)  # as converters.shipped.write does
    model = spec.create()
    t0 = time.monotonic()
    load0 = os.getloadavg()[0]
    training._train_recipe(spec, model, None)
    seconds = time.monotonic() - t0
    psnr, _ = scores(model, name)
    record = {"trial": trial, "model": name, "options": options, "steps": training.sr_recipe(
        training.spec_task(spec, model), name)[0], "train_s": round(seconds, 1),
        "load": [round(load0, 1), round(os.getloadavg()[0], 1)], "psnr": psnr}
    (out / f"trial-{trial}.json").write_text(json.dumps(record))
    model.save_weights(str(out / f"trial-{trial}.weights.h5"))
    print(f"{trial}: {sum(psnr) / len(psnr):.3f} dB, trained {seconds:.0f} s (load {load0:.1f} -> "
          f"{os.getloadavg()[0]:.1f})", flush=True)
    return 0


def report(out: Path) -> int:
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
    current = out / "trial-current.json"  # the current recipe retrained beside the trials: their control
    control = json.loads(current.read_text())["psnr"] if current.exists() else None
    print("| FSRCNN-s trained | steps | train s (load) | PSNR dB | gain over bicubic | vs `current` (same run) "
          "| vs shipped FSRCNN-s | vs SRCNN 9-5-5 | vs SRCNN 9-1-5 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = [("shipped (current recipe)", "6000", "-", refs["fsrcnn_s"]["psnr"])]
    for path in sorted(out.glob("trial-*.json")):
        r = json.loads(path.read_text())
        rows.append((r["trial"], str(r["steps"]), f"{r['train_s']:.0f} ({r['load'][0]}-{r['load'][1]})", r["psnr"]))
    for label, steps, cost, p in rows:
        vs_control = cell(p, control) if control is not None and label != "shipped (current recipe)" else "-"
        print(f"| {label} | {steps} | {cost} | {mean(p):.3f} | {mean(p) - mean(bicubic):+.3f} | {vs_control} | "
              f"{cell(p, refs['fsrcnn_s']['psnr'])} | {cell(p, refs['srcnn_955']['psnr'])} | "
              f"{cell(p, refs['srcnn']['psnr'])} |")
    print("\n| shipped model | PSNR dB | gain over bicubic | vs SRCNN 9-5-5 | vs SRCNN 9-1-5 |")
    print("| --- | --- | --- | --- | --- |")
    for n, label in (("fsrcnn_s", "FSRCNN-s (32,5,1)"), ("fsrcnn", "FSRCNN (56,12,4)"),
                     ("srcnn_955", "SRCNN 9-5-5"), ("srcnn", "SRCNN 9-1-5")):
        p = refs[n]["psnr"]
        print(f"| {label} | {mean(p):.3f} | {mean(p) - mean(bicubic):+.3f} | {cell(p, refs['srcnn_955']['psnr'])} | "
              f"{cell(p, refs['srcnn']['psnr'])} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("train", "report"))
    ap.add_argument("trial", nargs="?", default="current")
    ap.add_argument("--steps", type=int, help="recipe length (default: fsrcnn_s's own, 6000)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="folder of the stored trials")
    args = ap.parse_args(argv)
    if args.steps is not None and not 2 <= args.steps <= 100000:
        print(f"fsrcnn_paper: --steps {args.steps}: expected 2 to 100000", file=sys.stderr)
        return 2
    try:
        parse_trial(args.trial)
    except ValueError as exc:
        print(f"fsrcnn_paper: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return train(args.trial, args.steps, out) if args.action == "train" else report(out)


if __name__ == "__main__":
    sys.exit(main())
