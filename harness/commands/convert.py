"""`harness convert`: build variants without measuring them, copy them to a folder, and tabulate
what each holds (size, parameters, MACs, ops XNNPACK takes, accuracy against fp32 and a baseline).

A variant that fails prints one line and the others still build; the exit code is 1 if any failed.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Required, TypedDict

from errors import UserError, clean

if TYPE_CHECKING:
    from converters.passes import Params
    from converters.variant_metrics import VariantMetrics
from harness.commands.options import add_retrain_arg, add_task_arg, apply_retrain


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("convert", help="build model variants into a folder with a table of what each holds")
    p.add_argument("--models", help="comma-separated zoo names (name@key=value overrides) or model files "
                                    "(default: srcnn,fsrcnn,squeezenet)")
    p.add_argument("--variants", help="comma-separated passes (default: fp32,fp16,dr_int8,int8); "
                                      "see --list-passes")
    p.add_argument("--out", help="folder for the artifacts, variants.json and table.md")
    p.add_argument("--images", help="folder of your own images for recipes, calibration and accuracy")
    p.add_argument("--cache-dir", help="artifact cache (default ~/.cache/harness/artifacts)")
    add_task_arg(p)
    add_retrain_arg(p)
    p.add_argument("--list-passes", action="store_true", help="print the passes and their parameters, then exit")
    p.add_argument("--verbose", action="store_true",
                   help="show TensorFlow and converter logs here (default: a log file named at the end)")
    from harness.reporting.render import add_format_arg

    add_format_arg(p)
    p.set_defaults(func=cmd_convert)


def _csv(value: str | None, default: tuple[str, ...]) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else list(default)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@=-]+", "_", Path(name).name if "/" in name else name).strip("_") or "model"


def _si(n: float | None, unit: str = "") -> str:
    if n is None:
        return "-"
    for div, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f} {prefix}{unit}"
    return f"{n:.0f} {unit}".strip()


class ConvertRow(TypedDict, total=False):
    """One (model, variant) of `harness convert`, as variants.json keeps it: what was built, or its error."""

    model: Required[str]
    variant: Required[str]
    params: Params
    metrics: VariantMetrics
    cached: bool
    artifact: str  # the file in the cache
    file: str  # its copy's name in --out
    error: str


def _vs_fp32(m: VariantMetrics) -> str:
    """The variant's outputs against fp32's on the same inputs (a fidelity, named as one; not an accuracy)."""
    if "psnr_vs_fp32_db" in m:
        return f"PSNR {m['psnr_vs_fp32_db']:.1f} dB to fp32's"
    if "top1_agreement_fp32" in m:
        return f"{m['top1_agreement_fp32']:.1%} same top-1"
    if "map50_delta_fp32" in m:
        return f"mAP@.5 {m['map50_delta_fp32']:+.3f}"
    return "-"


def _accuracy_cells(m: VariantMetrics) -> tuple[str, str, str]:
    """(accuracy, output against fp32's, baseline) as short text for the table."""
    vs = _vs_fp32(m)
    if "psnr_db" in m:
        return (f"{m['psnr_db']:.2f} dB / {m['ssim']:.3f}", vs,
                f"bicubic {m['psnr_bicubic_db']:.2f} dB / {m['ssim_bicubic']:.3f}")
    if "top1" in m:
        return f"top-1 {m['top1']:.3f}", vs, f"chance {m['top1_chance']:.3f}" if "top1_chance" in m else "-"
    if "map50" in m:
        return f"mAP@.5 {m['map50']:.3f}", vs, "-"
    return "not measured" if m.get("accuracy_note") else "-", vs, \
        m.get("accuracy_note") or m.get("accuracy_error") or "-"


def row_cells(r: ConvertRow) -> list[str]:
    if r.get("error"):
        return [r["model"], r["variant"], "-", "-", "-", "-", "-", "-", "-", "-", f"error: {r['error']}"]
    m = r.get("metrics") or {}
    xnn = f"{m['xnnpack_ops']}/{m['ops_total']}" if m.get("ops_total") is not None else "-"
    acc, vs, base = _accuracy_cells(m)
    note = m.get("note") or ""
    return [r["model"], r["variant"], _si(m.get("size_bytes"), "B"), _si(m.get("gzip_bytes"), "B"),
            _si(m.get("params")), _si(m.get("macs")), xnn, acc, vs, base, note]


HEADERS = ["model", "variant", "file size", "gzip", "params", "MACs", "XNNPACK ops", "accuracy", "output vs fp32",
           "baseline", "notes"]
COMPRESSED = "compressed size"  # deep_compression: the coded size that is the pass's point, next to the file's


def table_rows(rows: list[ConvertRow]) -> tuple[list[str], list[list[str]]]:
    """Headers and cells; a compressed-size column when a variant has one (both sizes, named)."""
    headers, cells = list(HEADERS), [row_cells(r) for r in rows]
    if any((r.get("metrics") or {}).get("compressed_bytes") is not None for r in rows):
        headers.insert(3, COMPRESSED)
        for c, r in zip(cells, rows):
            c.insert(3, _si((r.get("metrics") or {}).get("compressed_bytes"), "B"))
    return headers, cells


def markdown_table(rows: list[ConvertRow]) -> str:
    from harness.reporting.render import markdown

    return markdown(*table_rows(rows))


def convert_all(models: list[str], variants: list[str], out: Path | None, image_dir: Path | None,
                cache_dir: Path | None, log: Callable[[str], object] = print,
                task: str | None = None) -> list[ConvertRow]:
    """Build every (model, variant); each failure is a row with its one-line error."""
    from converters.build import VariantBuilder

    def progress(m: str, v: str, phase: str, done: int, total: int) -> None:
        if phase != "train" or done == total or done % max(1, total // 4) == 0:
            log(f"{m}/{v}: {phase}" + (f" step {done}/{total}" if phase == "train" else ""))

    builder = VariantBuilder(cache_dir, image_dir, progress=progress, task=task)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    rows: list[ConvertRow] = []
    for model in models:
        for variant in variants:
            t0 = time.monotonic()
            row: ConvertRow = {"model": model, "variant": variant}
            try:
                art = builder.build(model, variant)
                row.update({"params": art.params, "metrics": art.metrics, "cached": art.cached,
                            "artifact": str(art.path)})
                if out is not None:
                    from converters.build import artifact_suffix

                    dest = out / f"{_safe(model)}__{variant}{artifact_suffix(art.path)}"
                    shutil.copyfile(art.path, dest)
                    row["file"] = dest.name
                log(f"{model}/{variant}: {'cached' if art.cached else 'built'} in {time.monotonic() - t0:.1f} s")
            except Exception as exc:  # ConversionError, or anything TF throws: one line, go on
                lines = str(exc).strip().splitlines()
                row["error"] = (lines[0] if lines else type(exc).__name__)[:500]
                log(f"{model}/{variant}: error: {row['error']}")
            rows.append(row)
    return rows


def cmd_convert(args: argparse.Namespace) -> int:
    from converters.passes import DEFAULT_VARIANTS, PASSES, load_extensions
    from converters.zoo import DEFAULT_MODELS

    load_extensions()
    if args.list_passes:
        for name, spec in sorted(PASSES.items()):
            print(f"{name:18} {spec.description}  {json.dumps(spec.defaults) if spec.defaults else ''}")
        print("\nset parameters in the variant name: --variants prune@sparsity=0.5,cluster@clusters=16")
        return 0
    from converters.build import is_user_model
    from harness.commands.options import check_folder
    from harness.planning.model_files import check_model_file, label_clash

    images = check_folder("--images", args.images)
    cache_dir = check_folder("--cache-dir", args.cache_dir, create=True)
    apply_retrain(args)
    out = check_folder("--out", args.out, create=True)
    models = _csv(args.models, DEFAULT_MODELS)
    for m in models:
        problem = check_model_file(m) if is_user_model(m) else None
        if problem:
            raise UserError(f"--models {clean(m)}: {problem}")
    clash = label_clash(models)
    if clash:
        raise UserError(f"--models: {clash}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    from harness.planning.plan import check_applies, check_recipe, check_task, check_variants

    check_recipe()
    task = check_task(args.task, tuple(models), str(images) if images else None)

    variants = list(check_variants(tuple(_csv(args.variants, DEFAULT_VARIANTS))))  # fp8 alone: exit 2, no work
    check_applies(tuple(models), tuple(variants))
    from harness.orchestration.quiet import quiet_logs

    with quiet_logs(args.verbose, name="convert") as log_path:
        rows = convert_all(models, variants, out, images, cache_dir,
                           log=lambda line: print(line, file=sys.stderr, flush=True), task=task)
    if log_path is not None:
        print(f"logs (TensorFlow, converter): {log_path}", file=sys.stderr)
    from harness.reporting.render import emit, render

    emit(render(args.format, *table_rows(rows), title="variants"))
    if out is not None:
        (out / "variants.json").write_text(json.dumps(rows, indent=2, default=str))
        (out / "table.md").write_text(markdown_table(rows))
        print(f"wrote {sum(1 for r in rows if 'file' in r)} artifacts, variants.json and table.md to {out}",
              file=sys.stderr)
    return 1 if any(r.get("error") for r in rows) else 0
