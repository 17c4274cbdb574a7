"""`harness nightly`: run the farm's plan, check it against the last good nights, confirm, report.

Two checks run every night for every key, both pure (harness.statistics.regression.check_night):
a pairwise check against the last few *good* nights, pooled as runs so that their spread is the
run-to-run variance (harness.statistics.compare), and a step detection over the good nights' medians
followed by tonight's (asv-style, harness.statistics.regression), which sees a slow drift that no
single pair does. Either makes a key *suspected*, and so does a change beyond the host's noise whatever
the interval says (flagged rows must not hide a +200 % night). A suspect is measured again at once (the
way FAI-PEP confirms a regression before it reports one): beside the baseline's own artifact, whole rounds
interleaved (A B A B), and *confirmed* or cleared by that paired comparison; where the baseline's artifact
is gone, its jobs alone (as many runs as the night), confirmed only when the checks still say so with the
re-run added, cleared only when the re-run is conclusively not slower, otherwise undecided (never `ok`). Every job is
measured NIGHTLY_REPEAT times a night by default.

Labels: only a night with nothing suspected, nothing interrupted, something measured, every key compared
and every key with a usable (unflagged) row is `nightly:ok` and may serve as a baseline; one that could not
be compared is `nightly:uncomparable`; a night whose suspects were cleared is `nightly:cleared`,
a confirmed one `nightly:regression`, an interrupted one `nightly:interrupted`; `--accept` marks an
intended change `nightly:accepted`, and the history starts again there. The command exits non-zero
only for a confirmed regression: a device that was offline is in the report, not in the exit code.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Callable, Sequence

from harness.orchestration.interleave import artifact_of, measure_side_by_side
from harness.statistics.compare import DEFAULT_THRESHOLD, KeyComparison, compare_runs, model_label
from harness.statistics.regression import (BASELINE_WINDOW, HISTORY_NIGHTS, INTERLEAVED_ROUNDS, NightCheck,
                                           check_night, confirm_night, interleaved_verdict,
                                           rerun_decision, usable)
from harness.store.db import ResultsDB
from harness.store.results import Measurement

if TYPE_CHECKING:
    from harness.orchestration.orchestrate import EventSink, Targets
    from harness.planning.plan import Plan
    from harness.statistics.compare import LatencyChange

GOOD, BAD, CONFIRM = "nightly:ok", "nightly:regression", "nightly:confirm"
CLEARED, INTERRUPTED, ACCEPTED = "nightly:cleared", "nightly:interrupted", "nightly:accepted"
# Some key could not be compared (flagged rows, no usable baseline, a re-measurement that decided nothing):
# never `ok`, never a baseline.
UNCOMPARABLE = "nightly:uncomparable"
# Nightly measures every job this many times (interleaved) unless told otherwise: one run a night cannot
# tell a slowdown from the host's run-to-run noise (harness.statistics.compare.SINGLE_RUN_NOISE).
NIGHTLY_REPEAT = 3
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
    remeasured: dict[Key, LatencyChange] = field(default_factory=dict)  # the interleaved re-measurement's LatencyChange
    errors: int = 0
    label: str | None = None
    reports: list[Path] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.confirmed else 0


def night_label(*, suspected: bool, confirmed: bool, interrupted: bool, measured: int,
                uncomparable: bool = False) -> str | None:
    """Only a complete, unsuspected night whose every key was compared may become a baseline."""
    if interrupted:
        return INTERRUPTED
    if confirmed:
        return BAD
    if measured == 0:
        return None
    if uncomparable:
        return UNCOMPARABLE
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


def decide(good_nights: Sequence[Sequence[Measurement]], tonight: Sequence[Measurement],
           rerun: Sequence[Measurement], key: Key, *, threshold: float = DEFAULT_THRESHOLD) -> str:
    """One suspect's re-run alone: confirmed | cleared | undecided (harness.statistics.regression.rerun_decision)."""
    def mine(rows: Sequence[Measurement]) -> list[Measurement]:
        return [m for m in rows if m.key == key]

    return rerun_decision([mine(n) for n in good_nights], mine(tonight), mine(rerun), threshold=threshold)


def good_history(db: ResultsDB) -> list[str]:
    """Run ids of the good nights, oldest first, from the latest accepted one on."""
    runs = [r for r in db.runs() if r.label in BASELINE_LABELS]
    accepted = [i for i, r in enumerate(runs) if r.label == ACCEPTED]
    if accepted:
        runs = runs[accepted[-1]:]
    return [r.run_id for r in runs[-HISTORY_NIGHTS:]]


def good_nights_in(db_path: str | Path) -> tuple[list[str], list[list[Measurement]]]:
    """The good nights' run ids (good_history) and each one's rows, read from the results file."""
    db = ResultsDB(db_path)
    try:
        good_ids = good_history(db)
        return good_ids, [db.measurements(rid) for rid in good_ids]
    finally:
        db.close()


def _subplan(plan: Plan, keys: Sequence[Key], device_name: str) -> Plan:
    """The same plan narrowed to one device and the models and variants of its suspects."""
    from harness.statistics.compare import model_label

    devices = plan.devices.model_copy(update={"devices": [d for d in plan.devices.devices if d.name == device_name]})
    # Rows name a model as the user did (a file by its name): map the suspects back to the plan's own entries.
    by_label = {model_label(m): m for m in plan.models}
    models = tuple(dict.fromkeys(by_label.get(k[1], k[1]) for k in keys if k[0] == device_name))
    variants = tuple(dict.fromkeys(k[2] for k in keys if k[0] == device_name))
    # Everything else as tonight's plan: the re-run is measured as many times as the night (`repeat`; a
    # re-run of one run against three was too wide to confirm a 4x slowdown, and was called "cleared"),
    # with the same shapes and task; on this very device, not its pool.
    return dataclasses.replace(plan, models=models, variants=variants, devices=devices, pools=())


def baseline_rows(good_ids: Sequence[str], good_nights: Sequence[Sequence[Measurement]]) -> list[Measurement]:
    """Each key's rows from its last BASELINE_WINDOW good nights with a usable row; a key whose every
    baseline row is flagged keeps its newest night's rows, so the table says `inconclusive` and why,
    never `only in B` for a key that both runs hold."""
    by_key: dict[Key, list[tuple[str, list[Measurement]]]] = {}
    for rid, night in zip(good_ids, good_nights):
        for k in dict.fromkeys(m.key for m in night):
            by_key.setdefault(k, []).append((rid, [m for m in night if m.key == k]))
    out: list[Measurement] = []
    for nights in by_key.values():
        good = [[m for m in rows if usable(m)] for _, rows in nights]
        good = [g for g in good if g]
        if good:
            out += [m for g in good[-BASELINE_WINDOW:] for m in g]
        else:
            out += [m for m in nights[-1][1] if m.status == "ok"] or nights[-1][1]
    return out


def _artifact(nights: Sequence[Sequence[Measurement]], key: Key) -> Path | None:
    """The newest .tflite a key's usable rows were measured from, if it is still on disk."""
    return artifact_of([m for night in nights for m in night], key)


def _remeasure(plan: Plan, db: ResultsDB, db_path: str | Path, result: NightlyResult,
               good_nights: Sequence[Sequence[Measurement]], rows: Sequence[Measurement], *, threshold: float,
               events: EventSink | None, cache_dir: Path | None,
               targets: Targets | None) -> tuple[dict[Key, str], bool]:
    """Each suspect measured again beside the baseline's artifact, whole rounds interleaved (A B A B A B),
    where both files are on disk; otherwise its jobs alone again, as many runs as the night (rerun_decision).
    Returns key -> confirmed | cleared | undecided, and whether a re-measurement was interrupted."""
    from harness.orchestration import orchestrate

    decided: dict[Key, str] = {}
    interrupted = False
    for device in dict.fromkeys(k[0] for k in result.suspected):
        keys = [k for k in result.suspected if k[0] == device]
        pairs = [(k, _artifact(good_nights, k), _artifact([rows], k)) for k in keys]
        side_by_side = [(k, a, b) for k, a, b in pairs if a is not None and b is not None]
        alone = [k for k, a, b in pairs if a is None or b is None]
        if side_by_side:
            got = measure_side_by_side(plan, device, side_by_side, db_path, rounds=INTERLEAVED_ROUNDS,
                                       label=CONFIRM, sides=("baseline", "tonight"), events=events,
                                       cache_dir=cache_dir, targets=targets)
            result.confirm_run_ids.append(got.run_id)
            interrupted = interrupted or got.interrupted
            for k, _, _ in side_by_side:
                base, new = got.rows[k]
                if not base or not new:
                    decided[k] = "undecided"
                    continue
                verdict = interleaved_verdict(base, new, threshold=threshold)
                result.remeasured[k] = verdict
                decided[k] = {"slower": "confirmed", "unchanged": "cleared", "faster": "cleared"}.get(
                    verdict.verdict, "undecided")
        if alone:
            again = orchestrate.run(_subplan(plan, alone, device), db_path, events=events, cache_dir=cache_dir,
                                    targets=targets)
            db.set_run_label(again.run_id, CONFIRM)
            result.confirm_run_ids.append(again.run_id)
            interrupted = interrupted or again.interrupted
            if not again.interrupted:
                rerun = db.measurements(again.run_id)
                decided.update({k: decide(good_nights, rows, rerun, k, threshold=threshold) for k in alone})
    if interrupted:
        decided = {k: "undecided" for k in decided}
    return decided, interrupted


def run_nightly(plan: Plan, db_path: str | Path, *, out_dir: str | Path, threshold: float = DEFAULT_THRESHOLD,
                events: EventSink | None = None, cache_dir: Path | None = None,
                log: Callable[[str], None] = print, targets: Targets | None = None) -> NightlyResult:
    """Run, check, re-run suspects, label the night and write its HTML and Markdown reports."""
    from harness.orchestration import orchestrate
    from harness.reporting.report import render_html, render_markdown

    good_ids, good_nights = good_nights_in(db_path)
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
            result.comparison = compare_runs(baseline_rows(good_ids, good_nights), rows, threshold=threshold)
            result.suspected = [k for k, c in result.checks.items() if c.suspected]
        undecided: list[Key] = []
        if result.suspected and not interrupted:
            log(f"nightly: {len(result.suspected)} suspected regression(s); measuring them again")
            decided, interrupted = _remeasure(plan, db, db_path, result, good_nights, rows, threshold=threshold,
                                              events=events, cache_dir=cache_dir, targets=targets)
            result.confirmed = [k for k in result.suspected if decided.get(k) == "confirmed"]
            undecided = [k for k in result.suspected if decided.get(k) not in ("confirmed", "cleared")]
            for k in result.suspected:
                name = f"{k[0]} {model_label(k[1])}/{k[2]}"
                how = result.remeasured.get(k)
                again = ("re-measured interleaved with the baseline's artifact (A B A B): "
                         f"{how.change:+.1%}, {how.verdict}" if how is not None and how.change is not None
                         else f"re-run {', '.join(result.confirm_run_ids)}")
                if decided.get(k) == "confirmed":
                    notes.append(f"Confirmed regression: {name} ({result.checks[k].why()}; {again}).")
                elif decided.get(k) == "cleared":
                    notes.append(f"Suspected, not confirmed: {name} ({result.checks[k].why()}) was not slower "
                                 f"when {again}.")
                else:
                    why = f"; {how.reason}" if how is not None and how.reason else ""
                    notes.append(f"Suspected, undecided: {name} ({result.checks[k].why()}); {again}{why}.")
        uncomparable = bool(undecided)
        for k, c in result.checks.items():
            if c.uncomparable:
                uncomparable = True
                why = str(c.pairwise.reason) if c.pairwise is not None else "no usable baseline row"
                notes.append(f"Inconclusive: {k[0]} {model_label(k[1])}/{k[2]}: {why}.")
        # A key with no usable row tonight (every run flagged: busy host, unstable) cannot serve as anyone's
        # baseline, the first night's included: a flagged baseline would make every later night uncomparable.
        for k in dict.fromkeys(m.key for m in rows if m.status == "ok"):
            if not any(usable(m) for m in rows if m.key == k):
                uncomparable = True
                if not good_ids:
                    flags = sorted({f for m in rows if m.key == k and m.validity for f in m.validity.flags()})
                    notes.append(f"No usable row: {k[0]} {model_label(k[1])}/{k[2]} (flagged {'/'.join(flags)}).")
        if summary.errors:
            notes.append(f"{summary.errors} job(s) failed this night; see Errors.")
        label = night_label(suspected=bool(result.suspected), confirmed=bool(result.confirmed),
                            interrupted=interrupted, measured=summary.measured, uncomparable=uncomparable)
        if label == INTERRUPTED:
            notes.append("The night was interrupted; it will not serve as a baseline.")
        elif label is None:
            notes.append("Nothing was measured this night; it will not serve as a baseline.")
        elif label == CLEARED:
            notes.append("Suspects were cleared, but this night will not serve as a baseline.")
        elif label == UNCOMPARABLE:
            notes.append("Some key could not be compared; this night is not `ok` and will not serve as a baseline.")
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
