#!/usr/bin/env python3
"""Do the seed papers' optimization claims hold here? One `harness run` on this host, then ratios.

Jobs (each trained, converted, analysed and measured by the harness itself):
  FSRCNN-s vs SRCNN 9-5-5, x3, same 192x192 output   speed-up (paper: > 40x) and PSNR
  SqueezeNet full int8 vs fp32                        speed-up, size ratio, top-1 agreement
  SqueezeNet pruned 90% + int8 weights + entropy coding size ratio (Deep Compression: 35-49x on
                                                      AlexNet/VGG) and top-1 change
  SRCNN 9-1-5 and 9-5-5 factorized vs plain           speed-up (DecomposeMe: up to 4.3x) and PSNR
  Faster R-CNN fp32 vs its fastest accurate variant   ms per frame (real-time goal: 30-50 ms)
Every variant also shows its GFLOP/s beside this host's peak from the built-in matmul probe.

Usage: python benchmarks/optimizations.py [--threads 2] [--db FILE] [--cache-dir DIR] [--quick] [--markdown FILE]
       [--repeat N] [--models squeezenet,srcnn,...]
A warm cache (second run) converts and trains nothing; `HARNESS_RECIPE=long` trains 10x longer. A stopped run
resumes from the artifact cache: every variant (and control) built is kept, only what is missing is built again.
`--markdown FILE` also writes both tables as Markdown (README's table is that file, pasted).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.planning.plan import Plan  # noqa: E402

JOBS = (
    ("srcnn_955", "fp32"), ("fsrcnn_s", "fp32"), ("fsrcnn_s", "subpixel"),
    ("squeezenet", "fp32"), ("squeezenet", "int8"), ("squeezenet", "deep_compression"),
    ("srcnn", "fp32"), ("srcnn", "factorize"), ("srcnn_955", "factorize"),
    ("faster_rcnn", "fp32"), ("faster_rcnn", "fp16"), ("faster_rcnn", "dr_int8"), ("faster_rcnn", "int8"),
)
MAP_TOLERANCE = 0.02  # a detection variant counts as accurate within this mAP of fp32


@dataclasses.dataclass(frozen=True)
class SelectedPlan(Plan):
    """A plan measuring only the listed (model, variant) pairs, not the whole cross product."""

    pairs: tuple[tuple[str, str], ...] = ()

    def jobs(self) -> list[tuple[str, str, str]]:
        return [(d.name, m, v) for d in self.devices.enabled for m, v in self.pairs]


def _plan(threads: int, quick: bool, repeat: int = 1,
          jobs: tuple[tuple[str, str], ...] = JOBS) -> SelectedPlan:
    from harness.planning.config import local_only
    from harness.planning.plan import make_plan

    models = list(dict.fromkeys(m for m, _ in jobs))
    variants = list(dict.fromkeys(v for _, v in jobs))
    bench = {"threads": threads, "cooldown_s": 0.5, "min_runs": 20 if quick else 50, "min_s": 0.5 if quick else 2.0}
    base = make_plan(local_only(), models=models, variants=variants, overrides=bench, repeat=repeat)
    return SelectedPlan(**{f.name: getattr(base, f.name) for f in dataclasses.fields(Plan)}, pairs=jobs)


def median_results(measurements: list[Any]) -> dict[tuple[str, str], Any]:
    """Per (model, variant), the measurement with the median p50 of its interleaved repeats (the lower middle one
    of an even count): every ratio is then one of medians, and each row a real measurement with its metrics."""
    by: dict[tuple[str, str], list[Any]] = {}
    for m in measurements:
        by.setdefault((m.model, m.variant), []).append(m)
    return {k: sorted(ms, key=lambda m: m.p50_us)[(len(ms) - 1) // 2] for k, ms in by.items()}


def _log(kind: str, payload: dict[str, Any]) -> None:
    if kind == "convert_finished":
        state = (f"error: {payload['error']}" if payload.get("error")
                 else ("cached" if payload.get("cached") else "built"))
        print(f"  convert {payload['model']}/{payload['variant']}: {state}", flush=True)
    elif kind == "job_finished":
        m = payload["measurement"]  # the Measurement itself
        what = f"p50 {(m.p50_us or 0.0) / 1000:.2f} ms" if m.status == "ok" else f"error: {m.error}"
        print(f"  measure {m.model}/{m.variant}: {what}", flush=True)


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def _get(results: dict, model: str, variant: str) -> Any:
    return results.get((model, variant))


def _why(results: dict, errors: dict, *keys: tuple[str, str]) -> str | None:
    for k in keys:
        if k in errors:
            return f"{k[0]}/{k[1]}: {errors[k]}"
        if k not in results:
            return f"{k[0]}/{k[1]}: not measured"
    return None


def _kept(m: Any) -> str:
    """The variant's verdict against its control (harness.statistics.accuracy_change.judged) with both
    changes and their paired 95% intervals, and the eval data they were measured on."""
    from harness.reporting.kept import kept_row

    _, data, ctl, vs_fp32, why = kept_row(dict(m.metrics))
    return f"{why}; change vs control: {ctl}; vs fp32: {vs_fp32}; data: {data}"


def _gain_share(m: Any) -> str:
    """SR: the share of fp32's PSNR gain over bicubic the variant keeps (goal >= 90%)."""
    from harness.statistics.accuracy_change import share_of_gain

    per = m.metrics.get("per_example") or {}
    if not per.get("fp32") or not per.get("bicubic"):
        return "share of fp32's gain over bicubic: not measured"
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    share = share_of_gain(mean(per["variant"]), mean(per["fp32"]), mean(per["bicubic"]))
    if share is None:
        return "share of fp32's gain over bicubic: fp32 gains nothing over bicubic"
    goal = "goal >= 90% met" if share >= 0.9 else "goal >= 90% not met"
    return f"keeps {share:.0%} of fp32's gain over bicubic ({goal})"


def _paired_models(a: Any, b: Any) -> str:
    """b's PSNR change against a on the same crops (FSRCNN-s beside SRCNN 9-5-5)."""
    from harness.statistics.accuracy_change import change_text, paired_mean_change

    pa, pb = a.metrics.get("per_example") or {}, b.metrics.get("per_example") or {}
    if not pa.get("variant") or len(pa["variant"]) != len(pb.get("variant") or []):
        return "paired change: not measured (not the same crops)"
    c = paired_mean_change(pb["variant"], pa["variant"], "PSNR dB", a.model, str(pa.get("data") or ""))
    return f"PSNR {change_text(c, 2)} ({'at or above' if c.low >= 0 else 'not shown at or above'} it)"


def claims(results: dict, errors: dict, models: tuple[str, ...] | None = None) -> list[list[str]]:
    """One row per claim: what, ours, the paper's, accuracy beside it (only the claims of `models` when given)."""
    rows: list[list[str]] = []

    def wanted(*names: str) -> bool:
        return models is None or any(n in models for n in names)

    def p50(m: Any) -> float:
        return m.p50_us

    why = _why(results, errors, ("srcnn_955", "fp32"), ("fsrcnn_s", "fp32"))
    if not wanted("fsrcnn_s"):
        pass
    elif why:
        rows.append(["FSRCNN-s vs SRCNN 9-5-5 (x3) speed-up", "-", "> 40x", why])
    else:
        a, b = results[("srcnn_955", "fp32")], results[("fsrcnn_s", "fp32")]
        rows.append(["FSRCNN-s vs SRCNN 9-5-5 (x3) speed-up", _ratio(p50(a), p50(b)), "> 40x",
                     f"PSNR {b.metrics.get('psnr_db')} vs {a.metrics.get('psnr_db')} dB "
                     f"(bicubic {a.metrics.get('psnr_bicubic_db')}); {_paired_models(a, b)}; "
                     f"MACs {_ratio(a.metrics.get('macs'), b.metrics.get('macs'))}"])
        c = results.get(("fsrcnn_s", "subpixel"))
        if c is not None:
            rows.append(["  same, deconvolution as conv + depth-to-space", _ratio(p50(a), p50(c)), "> 40x",
                         f"PSNR {c.metrics.get('psnr_db')} dB; {_ratio(p50(b), p50(c))} faster than the "
                         f"TRANSPOSE_CONV graph (identical output: {c.metrics.get('psnr_vs_fp32_db')} dB vs fp32)"])
        else:
            rows.append(["  same, deconvolution as conv + depth-to-space", "-", "> 40x",
                         _why(results, errors, ("fsrcnn_s", "subpixel")) or "-"])
    why = _why(results, errors, ("squeezenet", "fp32"), ("squeezenet", "int8"))
    if not wanted("squeezenet"):
        pass
    elif why:
        rows.append(["SqueezeNet int8 vs fp32", "-", "-", why])
    else:
        a, b = results[("squeezenet", "fp32")], results[("squeezenet", "int8")]
        rows.append(["SqueezeNet int8 vs fp32: speed-up", _ratio(p50(a), p50(b)), "~2-4x (TFLite docs)",
                     f"top-1 {b.metrics.get('top1')} vs {a.metrics.get('top1')}, "
                     f"agreement {b.metrics.get('top1_agreement_fp32')}; {_kept(b)}"])
        rows.append(["SqueezeNet int8 vs fp32: size", _ratio(a.model_size_bytes, b.model_size_bytes), "4x", ""])
    why = _why(results, errors, ("squeezenet", "fp32"), ("squeezenet", "deep_compression"))
    if not wanted("squeezenet"):
        pass
    elif why:
        rows.append(["Deep Compression (prune 90% + int8 weights + Huffman)", "-", "35-49x", why])
    else:
        a, b = results[("squeezenet", "fp32")], results[("squeezenet", "deep_compression")]
        dc = b.metrics.get("deep_compression_bytes")
        delta = (b.metrics.get("top1") or 0) - (a.metrics.get("top1") or 0)
        rows.append(["Deep Compression (prune 90% + int8 weights + Huffman) size", _ratio(a.model_size_bytes, dc),
                     "35-49x (AlexNet/VGG)",
                     f"top-1 {b.metrics.get('top1')} vs {a.metrics.get('top1')} ({delta:+.3f}); "
                     f"sparsity {b.metrics.get('weight_sparsity')}; gzip of the int8 file "
                     f"{_ratio(a.model_size_bytes, b.metrics.get('gzip_bytes'))}; "
                     f"speed-up {_ratio(p50(a), p50(b))}; {_kept(b)}"])
    for model, label in (("srcnn", "SRCNN 9-1-5"), ("srcnn_955", "SRCNN 9-5-5")):
        why = _why(results, errors, (model, "fp32"), (model, "factorize"))
        if not wanted(model):
            continue
        if why:
            rows.append([f"factorized vs plain {label}", "-", "up to 4.3x", why])
            continue
        a, b = results[(model, "fp32")], results[(model, "factorize")]
        rows.append([f"factorized vs plain {label} speed-up", _ratio(p50(a), p50(b)), "up to 4.3x (VGG)",
                     f"PSNR {b.metrics.get('psnr_db')} vs {a.metrics.get('psnr_db')} dB "
                     f"({b.metrics.get('psnr_db', 0) - a.metrics.get('psnr_db', 0):+.2f}); "
                     f"MACs {_ratio(a.metrics.get('macs'), b.metrics.get('macs'))}; {_gain_share(b)}; {_kept(b)}"])
    if wanted("faster_rcnn"):
        rows.append(_detection_row(results, errors))
    return rows


def _detection_row(results: dict, errors: dict) -> list[str]:
    why = _why(results, errors, ("faster_rcnn", "fp32"))
    if why:
        return ["Faster R-CNN ms per frame", "-", "30-50 ms", why]
    from harness.statistics.accuracy_change import judged

    base = results[("faster_rcnn", "fp32")]
    base_map = base.metrics.get("map50") or 0.0
    # accurate: its mAP change's 95% interval has its worst end inside MAP_TOLERANCE (judged)
    candidates = [base] + [m for (model, _), m in results.items() if model == "faster_rcnn" and m is not base
                           and judged(dict(m.metrics))[1].startswith("keeps accuracy")]
    best = min(candidates, key=lambda m: m.p50_us)
    note = f"mAP@.5 {best.metrics.get('map50', 0):.3f} vs {base_map:.3f}"
    if best is not base:
        note += f"; {_kept(best)}"
    return ["Faster R-CNN twin (`faster_rcnn`: 68 M MACs, 3 classes, not the seed's ZF) fp32 vs best variant that "
            "keeps accuracy, ms/frame",
            f"{base.p50_us / 1000:.1f} -> {best.p50_us / 1000:.1f} ({best.variant})", "30-50 ms", note]


def variant_rows(results: dict, peaks: dict[str, float]) -> list[list[str]]:
    rows = []
    for (model, variant), m in sorted(results.items()):
        gf = m.metrics.get("achieved_gflops")
        kind = "int8" if "INT8" in (m.metrics.get("kernel_dtypes") or []) else "fp32"
        frac = f"{gf / peaks[kind]:.1%} {kind}" if gf and peaks.get(kind) else "-"
        rows.append([model, variant, f"{m.p50_us / 1000:.2f}", f"{(m.metrics.get('macs') or 0) / 1e6:.0f}",
                     f"{gf:.1f}" if gf else "-", frac, f"{m.model_size_bytes / 1e3:.0f}",
                     str(m.metrics.get("accuracy")), str(m.validity.valid if m.validity else "-")])
    return rows


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """The same rows as a Markdown table (cells' pipes escaped)."""
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *(line(r) for r in rows)]) + "\n"


def print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--db", help="results database (default: a temporary file)")
    ap.add_argument("--cache-dir", help="artifact cache (default: the harness cache)")
    ap.add_argument("--quick", action="store_true", help="shorter measurement windows")
    ap.add_argument("--markdown", help="also write the claims and variants tables here as Markdown")
    ap.add_argument("--models", help="comma-separated: only these models' jobs and claims (default: all of "
                    + ", ".join(dict.fromkeys(m for m, _ in JOBS)) + ")")
    ap.add_argument("--repeat", type=int, default=1,
                    help="measure every job this many times, interleaved (A B C A B C); rows show the median's")
    args = ap.parse_args(argv)

    from converters.peak import measure_here
    from harness.orchestration import orchestrate

    if not 1 <= args.repeat <= 100:
        print(f"optimizations: --repeat {args.repeat}: expected 1 to 100", file=sys.stderr)
        return 2
    known = tuple(dict.fromkeys(m for m, _ in JOBS))
    models = tuple(m.strip() for m in args.models.split(",") if m.strip()) if args.models is not None else known
    bad = [m for m in models if m not in known]
    if bad or not models:
        print(f"optimizations: --models {(args.models or '')[:80]!r}: expected some of {','.join(known)}",
              file=sys.stderr)
        return 2
    plan = _plan(args.threads, args.quick, args.repeat, tuple(j for j in JOBS if j[0] in models))
    db = args.db or str(Path(tempfile.mkdtemp(prefix="harness-opt-")) / "results.db")
    cache = Path(args.cache_dir) if args.cache_dir else None
    t0 = time.monotonic()
    print(f"harness run: {len(plan.jobs())} jobs on this host, {args.threads} threads; database {db}", flush=True)
    summary = orchestrate.run(plan, db, events=_log, cache_dir=cache)
    peaks = {dtype: measure_here(threads=args.threads, cache_dir=cache, dtype=dtype) for dtype in ("fp32", "int8")}
    results = median_results([m for m in summary.results if m.status == "ok"])
    errors = {(m.model, m.variant): m.error for m in summary.results
              if m.status != "ok" and (m.model, m.variant) not in results}  # a failed repeat beside good ones
    print(f"\nrun {summary.run_id}: {summary.measured} measured, {summary.errors} errors, "
          f"{summary.converted} converted, {time.monotonic() - t0:.0f} s")
    for p in peaks.values():
        print(f"peak probe {p['dtype']}: {p['peak_gflops']} GFLOP/s ({p['threads']} threads, {p['delegate']}, "
              f"{p['flops'] / 1e9:.1f} GFLOP matmul, p50 {p['p50_us'] / 1000:.2f} ms)")
    var_headers = ["model", "variant", "p50 ms", "MMACs", "GFLOP/s", "of peak", "kB", "accuracy", "valid"]
    var_rows = variant_rows(results, {k: p["peak_gflops"] for k, p in peaks.items()})
    claim_headers, claim_rows = ["claim", "here", "paper", "accuracy / notes"], claims(results, errors, models)
    print_table("variants (of peak: against the matmul probe of the variant's kernel type)", var_headers, var_rows)
    print_table("claims", claim_headers, claim_rows)
    if args.markdown:
        Path(args.markdown).write_text(
            f"run {summary.run_id}: {summary.measured} measured ({args.repeat} interleaved round(s), medians), "
            f"{summary.errors} errors, {summary.converted} converted, {time.monotonic() - t0:.0f} s, load "
            f"{os.getloadavg()[0]:.1f}\n\n"
            + markdown_table(claim_headers, claim_rows) + "\n" + markdown_table(var_headers, var_rows))
    return 0 if summary.measured else 1


if __name__ == "__main__":
    sys.exit(main())
