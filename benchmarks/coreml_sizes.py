"""Core ML variants' sizes against the .tflite ones, for every zoo model (or the models given).

Sizes do not depend on how long a recipe trains, so HARNESS_RECIPE=quick is fine here. Prints one
markdown table: each variant's size in kB and its ratio to the model's fp32 .tflite, measured in one run.

    python benchmarks/coreml_sizes.py [--models srcnn,fsrcnn] [--cache-dir DIR] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TFLITE = ("fp32", "fp16", "dr_int8", "int8")
COREML = ("coreml", "coreml_fp32", "coreml_int8", "coreml_palettize")


def measure(models: list[str], cache_dir: Path | None) -> list[dict]:
    from converters.build import VariantBuilder
    from converters.zoo import ZOO

    builder = VariantBuilder(cache_dir)
    rows = []
    for model in models or list(ZOO):
        row: dict = {"model": model}
        for v in TFLITE + COREML:
            try:
                art = builder.build(model, v)
                row[v] = {"size_bytes": art.metrics.get("size_bytes"), "params": art.metrics.get("params")}
            except Exception as exc:  # one failing variant is a cell, not the end of the table
                row[v] = {"error": str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__}
            print(f"{model}/{v}: {row[v]}", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    heads = ["model", *TFLITE, *COREML]
    out = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads),
           "| (kB, ratio to fp32 .tflite) |" + " |" * (len(heads) - 1)]
    for r in rows:
        base = (r.get("fp32") or {}).get("size_bytes")
        cells = [r["model"]]
        for v in TFLITE + COREML:
            c = r.get(v) or {}
            if "error" in c:
                cells.append("error")
            elif c.get("size_bytes") is None:
                cells.append("")
            else:
                ratio = f" ({c['size_bytes'] / base:.2f}x)" if base else ""
                cells.append(f"{c['size_bytes'] / 1000:.1f}{ratio}")
        out.append("| " + " | ".join(cells) + " |")
    errors = [f"- {r['model']}/{v}: {r[v]['error']}"
              for r in rows for v in TFLITE + COREML if "error" in (r.get(v) or {})]
    return "\n".join(out + ([""] + errors if errors else [])) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="comma-separated zoo names (default: the whole zoo)")
    ap.add_argument("--cache-dir")
    ap.add_argument("--json", help="also write the raw figures here")
    args = ap.parse_args()
    rows = measure([m for m in (args.models or "").split(",") if m], Path(args.cache_dir) if args.cache_dir else None)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
