"""Two builds measured side by side: whole rounds interleaved (A B A B ...) on one device.

Two runs measured minutes apart do not share the host's level: on this shared 2-core VM the same build's
median moved by up to ~8 % between runs seconds apart with nothing else running (benchmarks/verdicts.py,
quiet host), more under load. Rounds measured side by side share it, so the paired ratio of a round
(B's p50 over A's) cancels it. `harness nightly` uses this to confirm or clear a suspect against the
baseline's artifact, and `harness compare --remeasure` to answer where two stored runs cannot.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.statistics.compare import KeyComparison, model_label
from harness.store.db import ResultsDB
from harness.store.results import Measurement

if TYPE_CHECKING:
    from harness.orchestration.orchestrate import EventSink, Targets
    from harness.planning.plan import Plan

Key = tuple[str, str, str]  # device, model, variant


@dataclass(frozen=True)
class SideBySide:
    """One interleaved re-measurement: its run, and each key's rows on the A and B sides."""

    run_id: str
    interrupted: bool
    rows: dict[Key, tuple[list[Measurement], list[Measurement]]]


def artifact_of(rows: Sequence[Measurement], key: Key) -> Path | None:
    """The .tflite a key's measured rows ran, if it is still on disk (newest row first)."""
    for m in reversed(list(rows)):
        p = m.extra.get("artifact_path") if m.key == key and m.status == "ok" else None
        if isinstance(p, str) and p.endswith(".tflite") and Path(p).is_file():
            return Path(p)
    return None


def measure_side_by_side(plan: Plan, device: str, pairs: Sequence[tuple[Key, Path, Path]], db_path: str | Path, *,
                         rounds: int, label: str, sides: tuple[str, str] = ("A", "B"),
                         events: EventSink | None = None,
                         cache_dir: Path | None = None, targets: Targets | None = None) -> SideBySide:
    """Each pair's two files measured `rounds` times on `device`, every round holding both (A B A B):
    the plan's bench settings for that device, the files run as they are (no conversion). The rows are
    stored as a run of their own, labelled `label`; each file is named after its side (`sides`)."""
    from harness.orchestration import orchestrate
    from harness.planning.plan import Plan

    with tempfile.TemporaryDirectory(prefix="harness-side-by-side-") as tmp:
        names: dict[str, tuple[Key, str]] = {}
        models = []
        for i, (k, a, b) in enumerate(pairs):
            for side, src in zip(sides, (a, b)):
                dst = Path(tmp) / f"{i}-{side}-{Path(model_label(k[1])).stem}-{k[2]}.tflite"
                shutil.copyfile(src, dst)
                names[dst.name] = (k, side)
                models.append(str(dst))
        devices = plan.devices.model_copy(update={"devices": [d for d in plan.devices.devices if d.name == device]})
        sub = Plan(tuple(models), ("fp32",), devices, dict(plan.bench_overrides), None, False, rounds)
        again = orchestrate.run(sub, db_path, events=events, cache_dir=cache_dir, targets=targets)
    db = ResultsDB(db_path)
    try:
        db.set_run_label(again.run_id, label)
        got = db.measurements(again.run_id)
    finally:
        db.close()
    rows: dict[Key, tuple[list[Measurement], list[Measurement]]] = {k: ([], []) for k, _, _ in pairs}
    for m in got:
        hit = names.get(m.model)
        if hit is not None and m.status == "ok":
            rows[hit[0]][0 if hit[1] == sides[0] else 1].append(m)
    return SideBySide(again.run_id, again.interrupted, rows)


def settings_differ(plan: Plan, stored_b: dict[str, Any]) -> str:
    """The bench settings in which two runs' plans differ, `threads 2 vs 1`; empty when they agree."""
    from harness.planning.plan import Plan

    try:
        other = Plan.from_dict(stored_b)
    except Exception:  # an older or foreign plan: nothing to say about it
        return ""
    out = []
    for dev in plan.devices.devices:
        twin = next((d for d in other.devices.devices if d.name == dev.name), None)
        if twin is None:
            continue
        a, b = plan.bench_for(dev).model_dump(), other.bench_for(twin).model_dump()
        out += [f"{k} {a[k]} vs {b.get(k)}" for k in sorted(a) if a[k] != b.get(k)]
    return ", ".join(dict.fromkeys(out))[:300]


def remeasure_runs(db_path: str | Path, run_a: str, run_b: str, *, rounds: int, threshold: float,
                   keys: Sequence[Key] | None = None, events: EventSink | None = None,
                   cache_dir: Path | None = None,
                   targets: Targets | None = None) -> tuple[list[KeyComparison], list[str], str]:
    """`harness compare A B --remeasure`: every key both runs measured, its two artifacts measured again
    side by side on the device that measured them, with run A's plan (devices and bench settings).
    Returns the comparisons (paired rounds), notes on what could not be re-measured, and the new run id."""
    from harness.planning.plan import Plan
    from harness.statistics.regression import interleaved_verdict

    db = ResultsDB(db_path)
    try:
        plan = Plan.from_dict(db.get_run(run_a).plan)
        plan_b = db.get_run(run_b).plan
        rows_a, rows_b = db.measurements(run_a), db.measurements(run_b)
    finally:
        db.close()
    common = [k for k in dict.fromkeys(m.key for m in rows_b) if any(m.key == k for m in rows_a)]
    if keys is not None:
        common = [k for k in common if k in keys]
    notes: list[str] = []
    differ = settings_differ(plan, plan_b)
    if differ:  # e.g. `--threads 1` on one side: the same file under two settings
        notes.append(f"the runs' settings differ ({differ}): both files are measured with run {run_a}'s, so this "
                     "judges the model files only, not the change of settings")
    known = {d.name for d in plan.devices.devices}
    by_device: dict[str, list[tuple[Key, Path, Path]]] = {}
    for k in common:
        a, b = artifact_of(rows_a, k), artifact_of(rows_b, k)
        if k[0] not in known:
            notes.append(f"{k[0]} {model_label(k[1])}/{k[2]}: device not in run {run_a}'s plan; not re-measured")
        elif a is None or b is None:
            notes.append(f"{k[0]} {model_label(k[1])}/{k[2]}: the model file of run {run_a if a is None else run_b} "
                         "is no longer on disk; not re-measured")
        else:
            by_device.setdefault(k[0], []).append((k, a, b))
    out: list[KeyComparison] = []
    run_ids = []
    for device, pairs in by_device.items():
        got = measure_side_by_side(plan, device, pairs, db_path, rounds=rounds, label="compare:remeasure",
                                   events=events, cache_dir=cache_dir, targets=targets)
        run_ids.append(got.run_id)
        if got.interrupted:
            notes.append(f"{device}: the re-measurement was interrupted; its keys are undecided")
        for k, _, _ in pairs:
            base, new = got.rows[k]
            lat = interleaved_verdict(base, new, threshold=threshold)
            if got.interrupted and lat.verdict in ("slower", "faster", "unchanged"):
                from dataclasses import replace

                lat = replace(lat, verdict="inconclusive", reason="re-measurement interrupted")
            out.append(KeyComparison(*k, status="compared", latency=lat))
    return out, notes, ", ".join(run_ids)
