"""`harness history`: one device and model across past runs, with steps found in each series.

The series is one value per run (the median latency unless another metric is asked for), oldest
first; the step detection is `harness.statistics.regression`, the same asv-style fit the nightly job trusts.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from harness.statistics.compare import accuracy_of, model_label
from harness.store.db import ResultsDB
from errors import UserError, clean, quote
from harness.statistics.regression import Step, detect_regressions
from harness.store.results import Measurement

# metric name -> (how to read it from a measurement, unit, higher is better, smallest relative step)
# Timings are noisy, so only 5 % counts; accuracy is deterministic, so half a percent does.
METRICS: dict[str, tuple[Callable[[Measurement], float | None], str, bool, float]] = {
    "p50": (lambda m: m.p50_us / 1000 if m.p50_us else None, "ms", False, 0.05),
    "p90": (lambda m: m.p90_us / 1000 if m.p90_us else None, "ms", False, 0.05),
    "p95": (lambda m: m.p95_us / 1000 if m.p95_us else None, "ms", False, 0.05),
    "p99": (lambda m: m.p99_us / 1000 if m.p99_us else None, "ms", False, 0.05),
    "peak_rss": (lambda m: m.peak_rss_mb, "MB", False, 0.05),
    "peak_rss_delta": (lambda m: m.peak_rss_delta_mb, "MB", False, 0.05),
    "peak_footprint": (lambda m: m.peak_footprint_mb, "MB", False, 0.05),
    "board_ram": (lambda m: m.board_ram_used_peak_mb, "MB", False, 0.05),
    "energy": (lambda m: m.energy_per_inference_mj, "mJ", False, 0.05),
    "accuracy": (lambda m: (accuracy_of(m) or (None, None))[1], "", True, 0.005),
}


@dataclass(frozen=True)
class Point:
    run_id: str
    created_at: float
    git_revision: str | None
    value: float
    label: str | None = None  # the run's verdict as nightly labelled it (nightly:ok, nightly:regression, ...)


@dataclass
class VariantHistory:
    variant: str
    points: list[Point]
    steps: list[Step] = field(default_factory=list)
    skipped: int = 0  # runs where this key failed or lacked the metric
    # Runs whose row is fine but did not measure this metric (a tool that printed no p99): said, never
    # filled from a neighbouring percentile.
    not_measured: list[Point] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"variant": self.variant, "points": [asdict(p) for p in self.points],
                "steps": [asdict(s) | {"run_id": self.points[s.index].run_id} for s in self.steps],
                "skipped": self.skipped,
                "not_measured": [{k: v for k, v in asdict(p).items() if k != "value"} for p in self.not_measured]}


def _same_file(stored: str, given: str) -> bool:
    """Two spellings of one path (relative, absolute, with ~), compared without touching the file."""
    import os

    try:
        return os.path.normpath(os.path.abspath(os.path.expanduser(stored))) == \
            os.path.normpath(os.path.abspath(os.path.expanduser(given)))
    except (ValueError, OSError):
        return False


def resolve_model(db: ResultsDB, device: str, model: str) -> tuple[str, list[Measurement]]:
    """The stored model name for `model` (a zoo name, a file path or just the file's name)."""
    rows = db.measurements(device=device)
    if not rows:
        devices = sorted({m.device for m in db.measurements()})
        raise UserError(f"{clean(str(db.path))}: no results for device {quote(device, 60)}"
                        + (f" (devices: {', '.join(devices)})" if devices else " (the database is empty)"))
    names = list(dict.fromkeys(m.model for m in rows))
    match = ([n for n in names if n == model] or [n for n in names if model_label(n) == model]
             or [n for n in names if _same_file(n, model)]  # ./m.keras, /abs/m.keras, ~/m.keras: one file
             or [n for n in names if "/" in model and model_label(n) == model_label(model)])
    if not match:
        raise UserError(f"{clean(str(db.path))}: device {quote(device, 60)} "
                        f"has no results for model {quote(model, 60)} "
                        f"(models: {', '.join(model_label(n) for n in names)})")
    if len(match) > 1:
        raise UserError(f"--model {quote(model, 60)}: matches several stored models "
                        f"({clean(', '.join(match), 300)}); give the path as it was run")
    return match[0], [m for m in rows if m.model == match[0]]


def collect(db: ResultsDB, device: str, model: str, *, metric: str = "p50", variant: str | None = None,
            threshold: float | None = None, min_size: int = 2) -> tuple[str, list[VariantHistory]]:
    """Every variant's series (or one variant's) with its steps; runs are ordered by start time."""
    if metric not in METRICS:
        raise UserError(f"--metric: unknown metric {quote(metric, 60)} (known: {', '.join(METRICS)})")
    read, _, higher_better, default_threshold = METRICS[metric]
    threshold = default_threshold if threshold is None else threshold
    name, rows = resolve_model(db, device, model)
    runs = {r.run_id: r for r in db.runs()}
    variants = list(dict.fromkeys(m.variant for m in rows))
    if variant is not None:
        if variant not in variants:
            raise UserError(f"--variant: {clean(device, 60)}/{clean(model_label(name), 60)} "
                            f"has no variant {quote(variant, 60)} "
                            f"(variants: {', '.join(variants)})")
        variants = [variant]
    out = []
    for v in variants:
        mine = sorted((m for m in rows if m.variant == v), key=lambda m: runs[m.run_id].created_at)
        by_run: dict[str, list[Measurement]] = {}
        for m in mine:  # `run --repeat N` stores N rows per run: one point per run, their median
            by_run.setdefault(m.run_id, []).append(m)
        points, skipped, unmeasured = [], 0, []
        for run_id, group in by_run.items():
            r = runs[run_id]
            ok = [m for m in group if m.status == "ok"]
            values = sorted(float(x) for x in (read(m) for m in ok) if x is not None)
            if not values:
                skipped += 1
                if ok:
                    unmeasured.append(Point(run_id, r.created_at, r.git_revision, float("nan"), r.label))
                continue
            mid = len(values) // 2
            value = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
            points.append(Point(run_id, r.created_at, r.git_revision, value, r.label))
        steps = detect_regressions([p.value for p in points], threshold=threshold, min_size=min_size,
                                   higher_is_better=higher_better) if len(points) >= 3 else []
        out.append(VariantHistory(v, points, steps, skipped, unmeasured))
    return name, out


def render_text(device: str, model: str, metric: str, histories: list[VariantHistory]) -> str:
    """A plain table per variant with the detected steps marked on the run where they start."""
    unit = METRICS[metric][1]
    lines = []
    for h in histories:
        lines.append(f"{device} · {model_label(model)} · {h.variant} · {metric}{' ' + unit if unit else ''}"
                     f" · {len(h.points)} runs" + (f" ({h.skipped} without a value)" if h.skipped else ""))
        at = {s.index: s for s in h.steps}
        rows = [(p.created_at, i, p) for i, p in enumerate(h.points)] + [(p.created_at, -1, p) for p in h.not_measured]
        for _, i, p in sorted(rows, key=lambda r: r[0]):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(p.created_at))
            if i < 0:
                lines.append(f"  {when}  {p.run_id:<24} {p.git_revision or '-':<12} {'not measured':>10}")
                continue
            s = at.get(i)
            mark = ""
            if s is not None:
                mark = f"  {'▲' if s.change > 0 else '▼'} {s.kind} {s.change:+.1%}" + step_note(s, len(h.points))
            if p.label:
                mark += f"  [{p.label}]"
            lines.append(f"  {when}  {p.run_id:<24} {p.git_revision or '-':<12} {p.value:>10.4f}{mark}")
        if len(h.points) < 3:
            lines.append("  (fewer than 3 runs: no step detection yet)")
        elif not h.steps:
            lines.append("  no step found")
        lines.append("")
    return "\n".join(lines)


def step_note(s: Step, n_points: int) -> str:
    """What an unconfirmed step rests on, said of the run it is marked on."""
    if s.confirmed:
        return ""
    if s.index == n_points - 1:
        return " (suspected: newest run only)"
    return " (suspected: the new level holds on too few runs)"


HISTORY_HEADERS = ["variant", "time", "run", "git", "value", "step"]


def history_rows(histories: list[VariantHistory]) -> list[list[str]]:
    """One row per run and variant, the step marked where it starts (for Markdown and CSV)."""
    rows = []
    for h in histories:
        at = {s.index: s for s in h.steps}
        for i, p in enumerate(h.points):
            s = at.get(i)
            step = "" if s is None else f"{s.kind} {s.change:+.1%}" + step_note(s, len(h.points))
            step = (step + f" [{p.label}]").strip() if p.label else step
            rows.append([h.variant, time.strftime("%Y-%m-%d %H:%M", time.localtime(p.created_at)), p.run_id,
                         p.git_revision or "-", f"{p.value:.4f}", step])
    return rows


def render_json(device: str, model: str, metric: str, histories: list[VariantHistory]) -> str:
    return json.dumps({"device": device, "model": model, "metric": metric,
                       "variants": [h.to_dict() for h in histories]}, indent=1)
