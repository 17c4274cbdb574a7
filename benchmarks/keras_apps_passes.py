#!/usr/bin/env python3
"""keras.applications models through every pass the harness lists: which pass works, and why not where not.

Each model (MobileNetV2, EfficientNetB0, ResNet50, MobileNetV3Small; Keras 3, built in code with
weights=None, nothing downloaded) is saved as a user's .keras file and handed to the harness's own
VariantBuilder, as `harness convert --models FILE --variants ...` would, for every registered pass
(`harness convert --list-passes`). A pass that has nothing to do on a model (converters/applies.py, what
the plan refuses: subpixel without a transposed convolution, truncated_svd without a large Dense layer) is a
"does not apply" cell with its reason, not a failure. Passes that fine-tune run `--steps` steps (default 2):
the point is that each pass builds a valid artifact from the model, not what it keeps (these models are
untrained). One child process per model, so a crash or a memory peak costs that model's cells only; each
cell is written to `--out` (JSON lines, with the run and the load) as it finishes, so an interrupted run
keeps what it measured, and `--append` adds the cells a later run reaches.

Usage: python benchmarks/keras_apps_passes.py [--models MobileNetV2,EfficientNetB0,ResNet50,MobileNetV3Small]
       [--size 32] [--steps 2] [--passes fp32,int8,...] [--out keras_apps_passes.jsonl] [--append]
       [--timeout 3600]
       python benchmarks/keras_apps_passes.py --out benchmarks/keras_apps_passes.jsonl --table [--readme README.md]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MODELS = ("MobileNetV2", "EfficientNetB0", "ResNet50", "MobileNetV3Small")
RUN = time.strftime("%Y-%m-%d %H:%M", time.gmtime())  # which run a cell comes from (UTC start)
CONTROL_ONLY = {"fine_tune"}  # a control for the fine-tuning passes, not a compression: left out


def all_passes() -> list[str]:
    """Every registered pass: the default plan's first, then the others, fine-tuning ones after, Core ML last
    (its conversions took 2 to 10 minutes each at load 30: an interrupted run keeps the common cells)."""
    from converters.passes import DEFAULT_VARIANTS, PASSES, load_extensions

    load_extensions()
    names = [n for n in PASSES if n not in CONTROL_ONLY]
    return sorted(names, key=lambda n: (n not in DEFAULT_VARIANTS, n.startswith("coreml"),
                                        "steps" in PASSES[n].defaults,
                                        DEFAULT_VARIANTS.index(n) if n in DEFAULT_VARIANTS else 0, n))


def variant_label(name: str, steps: int) -> str:
    from converters.passes import PASSES, load_extensions

    load_extensions()
    return f"{name}@steps={steps}" if "steps" in PASSES[name].defaults else name


def build_app(name: str, size: int):
    import keras

    keras.utils.set_random_seed(0)
    return getattr(keras.applications, name)(input_shape=(size, size, 3), weights=None, classes=10,
                                             classifier_activation=None)


def run_one(model: str, size: int, steps: int, passes: list[str], out: Path) -> None:
    """In the child: every pass on one model, one JSON line per pass as it finishes."""
    from converters.applies import why_not
    from converters.build import VariantBuilder

    work = Path(tempfile.mkdtemp(prefix=f"apps-{model}-"))
    path = work / f"{model.lower()}.keras"
    build_app(model, size).save(path)
    builder = VariantBuilder(work / "cache", controls=False)
    for name in passes:
        label = variant_label(name, steps)
        t0 = time.monotonic()
        cell: dict = {"model": model, "pass": name, "variant": label, "size": size, "run": RUN}
        why = why_not(str(path), label)  # what `harness convert`/`run` refuse at planning, from the file alone
        if why:
            cell.update(ok=False, applies=False, why=why)
        else:
            try:
                art = builder.build(str(path), label)
                cell.update(ok=True, size_bytes=art.metrics.get("size_bytes"), suffix="".join(art.path.suffixes),
                            note=art.metrics.get("note") or art.metrics.get("accuracy_note", ""))
            except Exception as exc:  # one line per failing pass; the others go on
                lines = str(exc).strip().splitlines()
                cell.update(ok=False, error=(lines[0] if lines else type(exc).__name__)[:300])
        cell["seconds"] = round(time.monotonic() - t0, 1)
        cell["load"] = round(os.getloadavg()[0], 1)
        with out.open("a") as f:
            f.write(json.dumps(cell) + "\n")
        state = "ok" if cell["ok"] else f"does not apply: {why}" if why else f"FAILS: {cell['error']}"
        print(f"{model} {label}: {state} ({cell['seconds']} s, load {cell['load']})", flush=True)


def table(cells: list[dict], models: list[str], passes: list[str]) -> str:
    """The markdown table of the cells (the latest of each model x pass), then one line per pass that fails
    or does not apply, saying why."""
    got = {(c["model"], c["pass"]): c for c in cells}
    lines = ["| pass | " + " | ".join(models) + " |", "| --- |" + " --- |" * len(models)]
    reasons: dict[str, str] = {}
    for p in passes:
        row = []
        for m in models:
            c = got.get((m, p))
            if c is None:
                row.append("not run")
            elif c["ok"]:
                row.append(f"ok, {(c['size_bytes'] or 0) / 1e6:.2f} MB, {c['seconds']:.0f} s")
            elif c.get("applies") is False:
                row.append("does not apply")
                reasons.setdefault(p, f"does not apply ({m}): {c['why']}")
            else:
                row.append("fails")
                reasons.setdefault(p, f"fails ({m}): {c['error']}")
        lines.append(f"| {p} | " + " | ".join(row) + " |")
    if reasons:
        lines.append("")
        lines += [f"- `{p}` {why}" for p, why in reasons.items()]
    return "\n".join(lines)


BEGIN, END = "<!-- keras-apps-table: benchmarks/keras_apps_passes.py --table -->", "<!-- /keras-apps-table -->"


def readme_with(readme: str, text: str) -> str:
    """README with the text between the table's markers replaced (the markers must be there once)."""
    head, sep, rest = readme.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise SystemExit(f"README: markers {BEGIN!r} ... {END!r} not found")
    return f"{head}{BEGIN}\n{text}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--size", type=int, default=32, help="input side (32: cheap on 2 cores; the layers are the same)")
    ap.add_argument("--steps", type=int, default=2, help="fine-tuning steps of the passes that fine-tune")
    ap.add_argument("--passes", help="comma-separated (default: every registered pass but the fine_tune control)")
    ap.add_argument("--out", default="keras_apps_passes.jsonl")
    ap.add_argument("--append", action="store_true", help="add to --out instead of starting it afresh")
    ap.add_argument("--table", action="store_true", help="run nothing: print the table of the cells in --out")
    ap.add_argument("--readme", help="with --table: write it into this README between its markers")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per model")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # the child's model
    args = ap.parse_args(argv)
    passes = args.passes.split(",") if args.passes else all_passes()
    out = Path(args.out)
    models = args.models.split(",")
    if args.table:
        cells = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        text = table(cells, models, passes)
        if args.readme:
            readme = Path(args.readme)
            readme.write_text(readme_with(readme.read_text(), text))
        print(text)
        return 0
    if args.one:
        run_one(args.one, args.size, args.steps, passes, out)
        return 0
    if not args.append:
        out.unlink(missing_ok=True)
    print(f"load before: {os.getloadavg()[0]:.1f}; passes: {', '.join(passes)}", flush=True)
    t0 = time.monotonic()
    for m in models:
        cmd = [sys.executable, __file__, "--one", m, "--size", str(args.size), "--steps", str(args.steps),
               "--passes", ",".join(passes), "--out", str(out)]
        try:
            rc = subprocess.run(cmd, timeout=args.timeout).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        if rc != 0:
            print(f"{m}: child ended with {rc}; cells it had finished are kept", flush=True)
    cells = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    print(f"\n{len(models)} models x {len(passes)} passes at {args.size}x{args.size}, {args.steps} fine-tuning "
          f"steps, {time.monotonic() - t0:.0f} s; load after: {os.getloadavg()[0]:.1f}")
    print(table(cells, models, passes))
    return 0 if all(c["ok"] or c.get("applies") is False for c in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
