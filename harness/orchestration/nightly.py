"""`harness nightly`: run the farm's plan, check it against the last good nights, confirm, report.

Two checks run every night for every key, both pure (harness.statistics.regression.check_night):
a pairwise check against the last few *good* nights, pooled as runs so that their spread is the
run-to-run variance (harness.statistics.compare), and a step detection over the good nights' medians
followed by tonight's (asv-style, harness.statistics.regression), which sees a slow drift that no
single pair does. Either makes a key *suspected*; its jobs are measured again at once (the way
FAI-PEP confirms a regression before it reports one), and it is *confirmed* only when the checks
still say so with the re-run added. Rows flagged by their validity checks never make a regression.

Labels: only a night with nothing suspected, nothing interrupted and something measured is
`nightly:ok` and may serve as a baseline; a night whose suspects were cleared is `nightly:cleared`,
a confirmed one `nightly:regression`, an interrupted one `nightly:interrupted`; `--accept` marks an
intended change `nightly:accepted`, and the history starts again there. The command exits non-zero
only for a confirmed regression: a device that was offline is in the report, not in the exit code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Sequence

from harness.statistics.compare import DEFAULT_THRESHOLD, KeyComparison, compare_runs, model_label
from harness.statistics.regression import (BASELINE_WINDOW, HISTORY_NIGHTS, NightCheck, check_night, confirm_night,
                                           usable)
from harness.store.db import ResultsDB
from harness.store.results import Measurement

GOOD, BAD, CONFIRM = "nightly:ok", "nightly:regression", "nightly:confirm"
CLEARED, INTERRUPTED, ACCEPTED = "nightly:cleared", "nightly:interrupted", "nightly:accepted"
BASELINE_LABELS = (GOOD, ACCEPTED)
Key = tuple[str, str, str]


@dataclass
class NightlyResult:
    run_id: str
    baseline_id: str | None
    comparison: list[KeyComparison] = field(default_factory=list)
    suspected: list[Key] = field(default_factory=list)
    confirmed: list[Key] = field(default_factory=list)
    confirm_run_ids: list[str] = field(default_factory=list)
    checks: dict[Key, NightCheck] = field(default_factory=dict)
    errors: int = 0
    label: str | None = None
    reports: list[Path] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.confirmed else 0


def night_label(*, suspected: bool, confirmed: bool, interrupted: bool, measured: int) -> str | None:
    """Only a complete, unsuspected night may become a baseline."""
    if interrupted:
        return INTERRUPTED
    if confirmed:
        return BAD
    if measured == 0:
        return None
    return CLEARED if suspected else GOOD


def check_keys(good_nights: Sequence[Sequence[Measurement]], new_nights: Sequence[Sequence[Measurement]], *,
               threshold: float = DEFAULT_THRESHOLD) -> dict[Key, NightCheck]:
    """Every key measured in `new_nights` checked against the good nights (oldest first): pure."""
    keys = list(dict.fromkeys(m.key for night in new_nights for m in night if m.status == "ok"))
    return {k: check_night([[m for m in n if m.key == k] for n in good_nights],
                           [[m for m in n if m.key == k] for n in new_nights], threshold=threshold)
            for k in keys}


def confirm(good_nights: Sequence[Sequence[Measurement]], tonight: Sequence[Measurement],
            rerun: Sequence[Measurement], suspected: Sequence[Key], *,
            threshold: float = DEFAULT_THRESHOLD) -> list[Key]:
    """The suspects that the re-run confirms (harness.statistics.regression.confirm_night): pure."""
    def mine(rows: Sequence[Measurement], k: Key) -> list[Measurement]:
        return [m for m in rows if m.key == k]

    return [k for k in suspected
            if confirm_night([mine(n, k) for n in good_nights], mine(tonight, k), mine(rerun, k), threshold=threshold)]


def good_history(db: ResultsDB) -> list[str]:
    """Run ids of the good nights, oldest first, from the latest accepted one on."""
    runs = [r for r in db.runs() if r.label in BASELINE_LABELS]
    accepted = [i for i, r in enumerate(runs) if r.label == ACCEPTED]
    if accepted:
        runs = runs[accepted[-1]:]
    return [r.run_id for r in runs[-HISTORY_NIGHTS:]]


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
    """Run, check, re-run suspects, label the night and write its HTML and Markdown reports."""
    from harness.orchestration import orchestrate
    from harness.reporting.report import render_html, render_markdown

    db = ResultsDB(db_path)
    try:
        good_ids = good_history(db)
        good_nights = [db.measurements(rid) for rid in good_ids]
    finally:
        db.close()
    baseline_id = good_ids[-1] if good_ids else None
    summary = orchestrate.run(plan, db_path, events=events, cache_dir=cache_dir, targets=targets)
    result = NightlyResult(summary.run_id, baseline_id, errors=summary.errors)
    interrupted = summary.interrupted
    db = ResultsDB(db_path)
    try:
        rows = db.measurements(summary.run_id)
        notes: list[str] = []
        if not good_ids:
            notes.append("First night: nothing to compare with; a complete night becomes the baseline.")
        else:
            result.checks = check_keys(good_nights, [rows], threshold=threshold)
            # The table shows the same pairwise check: each key against its last good nights, pooled.
            base_rows = [m for night in good_nights for m in night if usable(m)]
            window = {k: {m.run_id for m in base_rows if m.key == k} for k in {m.key for m in base_rows}}
            for k, ids in window.items():
                window[k] = set([rid for rid in good_ids if rid in ids][-BASELINE_WINDOW:])
            base_rows = [m for m in base_rows if m.run_id in window[m.key]]
            result.comparison = compare_runs(base_rows, rows, threshold=threshold)
            result.suspected = [k for k, c in result.checks.items() if c.suspected]
        if result.suspected and not interrupted:
            log(f"nightly: {len(result.suspected)} suspected regression(s); measuring them again")
            rerun_rows: list[Measurement] = []
            for device in dict.fromkeys(k[0] for k in result.suspected):
                again = orchestrate.run(_subplan(plan, result.suspected, device), db_path, events=events,
                                        cache_dir=cache_dir, targets=targets)
                db.set_run_label(again.run_id, CONFIRM)
                result.confirm_run_ids.append(again.run_id)
                rerun_rows += db.measurements(again.run_id)
                interrupted = interrupted or again.interrupted
            if not interrupted:
                result.confirmed = confirm(good_nights, rows, rerun_rows, result.suspected, threshold=threshold)
            cleared = [k for k in result.suspected if k not in result.confirmed]
            for k in result.confirmed:
                notes.append(f"Confirmed regression: {k[0]} {model_label(k[1])}/{k[2]} is slower again on re-run "
                             f"({result.checks[k].why()}; re-run {', '.join(result.confirm_run_ids)}).")
            for k in cleared:
                notes.append(f"Suspected, not confirmed: {k[0]} {model_label(k[1])}/{k[2]} "
                             f"({result.checks[k].why()}) was not slower on re-run.")
        for k, c in result.checks.items():
            if c.pairwise is not None and c.pairwise.verdict == "inconclusive":
                notes.append(f"Inconclusive: {k[0]} {model_label(k[1])}/{k[2]}: {c.pairwise.reason}.")
        if summary.errors:
            notes.append(f"{summary.errors} job(s) failed this night; see Errors.")
        label = night_label(suspected=bool(result.suspected), confirmed=bool(result.confirmed),
                            interrupted=interrupted, measured=summary.measured)
        if label == INTERRUPTED:
            notes.append("The night was interrupted; it will not serve as a baseline.")
        elif label is None:
            notes.append("Nothing was measured this night; it will not serve as a baseline.")
        elif label == CLEARED:
            notes.append("Suspects were cleared, but this night will not serve as a baseline.")
        result.label = label
        db.set_run_label(summary.run_id, label)
        run = db.get_run(summary.run_id)
    finally:
        db.close()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    comparison = result.comparison if baseline_id else None
    html_path = out / f"nightly-{summary.run_id}.html"  # the run id starts with the date and time
    md_path = html_path.with_suffix(".md")
    html_path.write_text(render_html(run, rows, comparison=comparison, baseline_id=baseline_id, notes=notes))
    md_path.write_text(render_markdown(run, rows, comparison=comparison, baseline_id=baseline_id, notes=notes))
    result.reports = [html_path, md_path]
    for n in notes:
        log(f"nightly: {n}")
    log(f"nightly: run {summary.run_id} labelled {label or '(none)'}; report {html_path}")
    return result
