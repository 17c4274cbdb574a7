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
with paired 95% intervals on 500 held-out images; pruned and SVD-split variants fine-tuned 100
steps, each beside a control with the same fine-tuning. The seed-scale model is untrained (nothing
is downloaded): its own accuracy is not measured, the proxy's stands in for it.

With --devices, the same ladder runs through TensorRT (fp16 and int8 engines built by trtexec) on
every Jetson listed (benchmarks/ladder_tensorrt.py); with none listed it says those figures need
real hardware.

Usage: python benchmarks/faster_rcnn_ladder.py [--model faster_rcnn_zf] [--threads 2] [--rounds 3]
       [--twin faster_rcnn_proxy] [--no-twin] [--no-seed] [--skip 2,4] [--fold 5,6,7] [--sizes 600,400]
       [--proposals 300,100]
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
# Fast R-CNN §3.1 keeps the top 1024 of fc6's and 256 of fc7's singular values (of 4096 units):
# ranks as fractions of the head's width, so the small twin's 128-unit head keeps 32 and 8.
SVD_FRACTIONS = (0.25, 0.0625)
ACCURACY_MODEL = "faster_rcnn_proxy"  # the trained model the accuracy column is measured on
EVAL_IMAGES = 500  # its held-out images
# The least noise a ratio is judged against: a ratio closer to 1 than this (or than the run's A/A
# ratio strayed, if more) is a tie, whatever the rounds say.
TIE_BAND = 0.03


@dataclass(frozen=True)
class Config:
    """What a rung's model is: quantization, structure (pruning, SVD head) and the model overrides."""

    quant: str = "fp32"  # fp32 | fp16 | dr_int8 | int8
    prune: float | None = None  # fraction of the convolution MACs kept by prune_channels
    svd: tuple[float, float] | None = None  # fc6, fc7 ranks as fractions of the head's units
    size: int = 600
    proposals: int = 300

    @property
    def overrides(self) -> dict[str, Any]:
        return {"size": self.size, "proposals": self.proposals}


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


def svd_layers(cfg: Config, head_units: int) -> str:
    f6, f7 = cfg.svd or (0, 0)
    return f"head_fc1:{max(1, round(head_units * f6))},head_fc2:{max(1, round(head_units * f7))}"


def variant(cfg: Config, head_units: int, prune_steps: int = 0, final: str | None = None, svd_steps: int = 0) -> str:
    """The pass chain of a configuration: prune_channels -> truncated_svd -> the conversion (`final`
    instead of the quantization: tensorrt for the Jetson ladder). Fine-tuning steps after pruning
    and after the SVD split (0: none, as on the untrained seed-scale model)."""
    last = final or cfg.quant
    if cfg.svd:
        tune = f"+steps={svd_steps}" if svd_steps else ""
        last = f"truncated_svd+layers={svd_layers(cfg, head_units)}{tune}+then={last}"
    if cfg.prune:
        return f"prune_channels@flops={cfg.prune}@steps={prune_steps}@then={last}"
    return last.replace("+", "@")


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


def _build(model: str, cfg: Config, out: Path, weights_from: Any = None, prune_steps: int = 0,
           final: str | None = None, svd_steps: int = 0, control: bool = False) -> tuple[Path, str]:
    """The configuration's file: the model with its overrides (weights copied from `weights_from`),
    then its pass chain. Returns the path (its suffix from the pass: .onnx for tensorrt) and the variant."""
    import tf_keras as keras

    from converters.passes import Source, get_pass
    from converters.zoo import get_spec

    spec = get_spec(model)
    keras.utils.set_random_seed(0)
    km = spec.create(**cfg.overrides)
    if weights_from is not None:
        km.set_weights(weights_from.get_weights())
    label = variant(cfg, int(km.get_layer("head_fc1").units), prune_steps, final, svd_steps)
    if control:  # the same fine-tuning and conversion, nothing pruned or factored
        label = f"fine_tune@steps={control_steps(cfg, prune_steps, svd_steps)}@then={final or cfg.quant}"
    p = get_pass(label)
    src = Source(model, keras_model=km, task=spec.task, input_shape=tuple(km.input_shape), spec=spec)
    result = p.fn(src, dict(p.defaults))
    data, record = result if isinstance(result, tuple) else (result, {})
    out = out.with_suffix(record.get("artifact_suffix", out.suffix))
    out.write_bytes(data)
    return out, label


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


def twin_config(cfg: Config, base: Config, twin_size: int = 128, twin_smaller: int = 96,
                twin_proposals: int = 48) -> Config:
    """The seed configuration on the small twin: its own size (smaller input: 96 px) and its own
    proposal count scaled like the seed's."""
    size = twin_size if cfg.size == base.size else twin_smaller
    proposals = max(4, int(round(twin_proposals * cfg.proposals / base.proposals)))
    return replace(cfg, size=size, proposals=proposals)


def control_steps(cfg: Config, prune_steps: int, svd_steps: int) -> int:
    """The fine-tuning a configuration had: pruning's steps then the SVD head's (0: none)."""
    return (prune_steps if cfg.prune else 0) + (svd_steps if cfg.svd else 0)


def is_proxy(model: str) -> bool:
    """The trainable ZF-shaped proxy (seed sizes and proposal counts as they are), not the small twin."""
    from converters.zoo import get_spec

    return get_spec(model).build.__name__ == "faster_rcnn_proxy"


def proxy_source(model: str, size: int, sources: dict[int, Any]) -> Any:
    """The trained accuracy model at `size` px: the proxy at 600 px, its fine-tuned sibling at 400 px
    (shipped, cached or trained by the recipe), at another size fine-tuned from the 600 px weights."""
    from converters.build import VariantBuilder
    from converters.zoo import get_spec

    if size not in sources:
        name = model
        if is_proxy(model) and size != int(get_spec(model).kwargs.get("size", 600)):
            name = "faster_rcnn_proxy_400" if model == "faster_rcnn_proxy" and size == 400 else f"{model}@size={size}"
        sources[size] = VariantBuilder().source(name).keras_model
    return sources[size]


def run_twin(twin: str, configs: list[tuple[str, Config]], work: Path, prune_steps: int = 100,
             svd_steps: int = 100, images: int = 500, built_on: dict[str, str | None] | None = None
             ) -> dict[str, dict[str, Any]]:
    """mAP@0.5 of each step's configuration on the trained accuracy model (the ZF-shaped proxy, or the
    old small twin) on `images` held-out images, with paired 95% intervals (twin_changes). The proxy
    runs the seed's sizes and proposal counts; the small twin its own (twin_config). Pruned variants
    are fine-tuned `prune_steps` steps and SVD-split ones `svd_steps` (the twin's 128-unit head at
    ranks 32/8 lost 0.4 mAP@0.5 without it). Each fine-tuned rung is also scored beside its control:
    the model fine-tuned as many steps at the same operating point and precision, nothing compressed
    (one control per distinct configuration)."""
    from converters.detection import evaluate_tflite, model_classes

    t_start = time.monotonic()
    proxy = is_proxy(twin)
    sources: dict[int, Any] = {}
    base_cfg = configs[0][1]
    matched: dict[str, Any] = {}
    controls: dict[str, Any] = {}
    control_cache: dict[tuple[Any, ...], Any] = {}
    data = ""
    if built_on is None:
        labels = [lbl for lbl, _ in configs]
        built_on = {lbl: (labels[i - 1] if i else None) for i, lbl in enumerate(labels)}
    base = configs[0][0]
    for i, (label, cfg) in enumerate(configs):
        tcfg = cfg if proxy else twin_config(cfg, base_cfg)
        try:
            src = proxy_source(twin, tcfg.size, sources)
            classes = model_classes(src)
            path, _ = _build(twin, tcfg, work / f"twin_{i}.tflite", src,
                             prune_steps=prune_steps, svd_steps=svd_steps)
            got = evaluate_tflite(path, n=images, classes=classes)
            data = got["data"]
            matched[label] = got["matched"]
            steps = control_steps(tcfg, prune_steps, svd_steps)
            if steps:
                key = (steps, tcfg.quant, tcfg.size, tcfg.proposals)
                if key not in control_cache:
                    cpath, _ = _build(twin, tcfg, work / f"twin_control_{i}.tflite", src,
                                      prune_steps=prune_steps, svd_steps=svd_steps, control=True)
                    control_cache[key] = evaluate_tflite(cpath, n=images, classes=classes)["matched"]
                controls[label] = control_cache[key]
        except Exception as exc:
            print(f"  {twin} {label}: {str(exc).splitlines()[0][:200]}", flush=True)
            continue
        # this rung's intervals now: a run stopped later keeps them (the log has every figure so far)
        part = twin_changes({k: matched[k] for k in {base, label, built_on.get(label)} if k in matched}, base,
                            built_on, {label: controls[label]} if label in controls else {}, images, data=data)
        got_now = part.get(label, {})
        print(f"  {twin} {label}: mAP@.5 {got['map50']:.3f}; vs fp32 {_change_cell(got_now.get('twin_change'))}; "
              f"own {_change_cell(got_now.get('twin_step_change'))}; vs control "
              f"{_change_cell(got_now.get('twin_control_change'))} ({time.monotonic() - t_start:.0f} s in)", flush=True)
    if not matched:
        return {}
    return twin_changes(matched, base, built_on, controls, images, data=data)


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


def static_configs(steps: list[Step]) -> list[tuple[str, Config]]:
    """Every step kept (no host timing decided otherwise): the seed's order, cumulative."""
    out, cfg = [], Config()
    for step in steps:
        cfg = step.change(cfg)
        out.append((step.label, cfg))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="faster_rcnn_zf")
    ap.add_argument("--twin", default=ACCURACY_MODEL, help="the trained model the accuracy column is "
                    "measured on: the ZF-shaped proxy (default) or the old small twin faster_rcnn")
    ap.add_argument("--no-twin", action="store_true")
    ap.add_argument("--twin-images", type=int, default=EVAL_IMAGES, help="held-out images the proxy's mAP is scored on")
    ap.add_argument("--tune-steps", type=int, default=100, help="fine-tuning steps after pruning and after the "
                    "SVD split on the accuracy model (and its controls)")
    ap.add_argument("--no-seed", action="store_true", help="no host timing (the twin's mAP and the Jetson ladder only)")
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
    args = ap.parse_args(argv)
    try:
        size, smaller = (int(v) for v in args.sizes.split(","))
        proposals, fewer = (int(v) for v in args.proposals.split(","))
        skip = {int(v) for v in args.skip.split(",") if v.strip()}
        fold = {int(v) for v in args.fold.split(",") if v.strip()}
    except ValueError:
        print("faster_rcnn_ladder: --sizes, --proposals, --skip and --fold take whole numbers separated by commas",
              file=sys.stderr)
        return 2
    if args.tune_steps < 0:
        print("faster_rcnn_ladder: --tune-steps: a count of steps, 0 or more", file=sys.stderr)
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
    steps = folded([(i, s) for i, s in enumerate(steps, 1) if i == 1 or i not in skip], fold)
    work = Path(tempfile.mkdtemp(prefix="harness-ladder-"))
    try:
        return _run(args, model, steps, work, jetsons, no_jetson)
    finally:
        if args.keep_files:
            print(f"files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, model: str, steps: list[Step], work: Path, jetsons: list[Any],
         no_jetson: str | None) -> int:
    from benchmarks.ladder_tensorrt import NO_JETSON, run_jetson_ladder

    t0 = time.monotonic()
    print(f"ladder on {model}, {args.threads} threads, {args.rounds} interleaved rounds", flush=True)
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
        static = static_configs(steps)
        rows = [{"label": label, "side": cfg.size, "config": asdict(cfg), "kept": True,
                 "kind": rung_kind(asdict(cfg), asdict(static[i - 1][1]) if i else None)}
                for i, (label, cfg) in enumerate(static)]
    else:
        rows = run_seed(model, steps, args.threads, args.rounds, work, json_path)
    configs = [(r["label"], Config(**{**r["config"], "svd": tuple(r["config"]["svd"]) if r["config"]["svd"] else None}))
               for r in rows if "config" in r and "error" not in r]
    if not args.no_twin:
        built_on = {r["label"]: r.get("built_on") for r in rows} if any("built_on" in r for r in rows) else None
        twin = run_twin(args.twin, configs, work, prune_steps=args.tune_steps, svd_steps=args.tune_steps,
                        images=args.twin_images, built_on=built_on)
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
    kept = {r["label"] for r in rows if r.get("kept")}
    if jetsons:
        trt_rows = run_jetson_ladder(args.devices, model, [(lbl, c) for lbl, c in configs if lbl in kept], work,
                                     jetsons, build=_build)
    else:
        trt_rows = []
        print(NO_JETSON.format(why=no_jetson))
    if json_path:
        json_path.write_text(json.dumps({"host": rows, "tensorrt": trt_rows}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
