"""`harness nightly`: run the farm's plan, compare with the last good night, confirm, report.

A latency that looks slower than the last good night is only *suspected*: its jobs are measured again
at once (the way FAI-PEP confirms a regression before it reports one), and it is *confirmed* only
when the re-run is slower too. The night is labelled `nightly:ok` or `nightly:regression` in the
database (confirmation runs `nightly:confirm`), so the next night knows which one to compare with.
The command exits non-zero only for a confirmed regression: a device that was offline is in the
report, not in the exit code.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from harness.statistics.compare import DEFAULT_THRESHOLD, KeyComparison, compare_measurements, compare_runs, model_label
from harness.store.db import ResultsDB
from harness.store.results import Measurement

GOOD, BAD, CONFIRM = "nightly:ok", "nightly:regression", "nightly:confirm"
Key = tuple[str, str, str]


@dataclass
class NightlyResult:
    run_id: str
    baseline_id: str | None
    comparison: list[KeyComparison] = field(default_factory=list)
    suspected: list[Key] = field(default_factory=list)
    confirmed: list[Key] = field(default_factory=list)
    confirm_run_ids: list[str] = field(default_factory=list)
    errors: int = 0
    reports: list[Path] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.confirmed else 0


def confirm(baseline: Sequence[Measurement], rerun: Sequence[Measurement], suspected: Sequence[Key], *,
            threshold: float = DEFAULT_THRESHOLD) -> list[Key]:
    """The suspects whose re-run is still slower than the baseline: a pure decision."""
    base = {m.key: m for m in baseline if m.status == "ok"}
    again = {m.key: m for m in rerun if m.status == "ok"}
    out = []
    for key in suspected:
        if key in base and key in again:
            if compare_measurements(base[key], again[key], threshold=threshold).verdict == "slower":
                out.append(key)
    return out


def _subplan(plan: Any, keys: Sequence[Key], device_name: str) -> Any:
    """The same plan narrowed to one device and the models and variants of its suspects."""
    from harness.planning.plan import Plan
    from harness.statistics.compare import model_label

    devices = plan.devices.model_copy(update={"devices": [d for d in plan.devices.devices if d.name == device_name]})
    # Rows name a model as the user did (a file by its name): map the suspects back to the plan's own entries.
    by_label = {model_label(m): m for m in plan.models}
    models = tuple(dict.fromkeys(by_label.get(k[1], k[1]) for k in keys if k[0] == device_name))
    variants = tuple(dict.fromkeys(k[2] for k in keys if k[0] == device_name))
    return Plan(models, variants, devices, dict(plan.bench_overrides), plan.image_dir)


def run_nightly(plan: Any, db_path: str | Path, *, out_dir: str | Path, threshold: float = DEFAULT_THRESHOLD,
                events: Callable[[str, dict[str, Any]], None] | None = None, cache_dir: Path | None = None,
                log: Callable[[str], None] = print, targets: Any = None) -> NightlyResult:
    """Run, compare, re-run suspects, label the night and write its HTML and Markdown reports."""
    from harness.orchestration import orchestrate
    from harness.reporting.report import render_html, render_markdown

    db = ResultsDB(db_path)
    try:
        baseline_id = db.latest_run_with_label(GOOD)
    finally:
        db.close()
    summary = orchestrate.run(plan, db_path, events=events, cache_dir=cache_dir, targets=targets)
    result = NightlyResult(summary.run_id, baseline_id, errors=summary.errors)
    db = ResultsDB(db_path)
    try:
        rows = db.measurements(summary.run_id)
        base_rows = db.measurements(baseline_id) if baseline_id else []
        notes: list[str] = []
        if baseline_id is None:
            notes.append("First night: nothing to compare with; this run becomes the baseline.")
        else:
            result.comparison = compare_runs(base_rows, rows, threshold=threshold)
            result.suspected = [(c.device, c.model, c.variant) for c in result.comparison if c.verdict == "slower"]
        if result.suspected:
            log(f"nightly: {len(result.suspected)} suspected regression(s); measuring them again")
            rerun_rows: list[Measurement] = []
            for device in dict.fromkeys(k[0] for k in result.suspected):
                again = orchestrate.run(_subplan(plan, result.suspected, device), db_path, events=events,
                                        cache_dir=cache_dir, targets=targets)
                db.set_run_label(again.run_id, CONFIRM)
                result.confirm_run_ids.append(again.run_id)
                rerun_rows += db.measurements(again.run_id)
            result.confirmed = confirm(base_rows, rerun_rows, result.suspected, threshold=threshold)
            cleared = [k for k in result.suspected if k not in result.confirmed]
            for k in result.confirmed:
                notes.append(f"Confirmed regression: {k[0]} {model_label(k[1])}/{k[2]} is slower again on re-run "
                             f"({', '.join(result.confirm_run_ids)}).")
            for k in cleared:
                notes.append(f"Suspected, not confirmed: {k[0]} {model_label(k[1])}/{k[2]} was not slower on re-run.")
        if summary.errors:
            notes.append(f"{summary.errors} job(s) failed this night; see Errors.")
        label = BAD if result.confirmed else GOOD
        if summary.measured == 0:
            label = None  # a night where nothing ran is no baseline for the next one
            notes.append("Nothing was measured this night; it will not serve as a baseline.")
        db.set_run_label(summary.run_id, label)
        run = db.get_run(summary.run_id)
    finally:
        db.close()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    comparison = result.comparison if baseline_id else None
    stamp = time.strftime("%Y%m%d")
    html_path = out / f"nightly-{stamp}-{summary.run_id}.html"
    md_path = html_path.with_suffix(".md")
    html_path.write_text(render_html(run, rows, comparison=comparison, baseline_id=baseline_id, notes=notes))
    md_path.write_text(render_markdown(run, rows, comparison=comparison, baseline_id=baseline_id, notes=notes))
    result.reports = [html_path, md_path]
    for n in notes:
        log(f"nightly: {n}")
    log(f"nightly: run {summary.run_id} labelled {label or '(none)'}; report {html_path}")
    return result
