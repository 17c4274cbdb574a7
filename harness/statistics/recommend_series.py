"""`recommend --nightly` over a series of nights: recommend only what holds on every night of it.

One night can be lucky: a quiet host, a cool phone. Over the last N nights each variant's figures are taken
at their worst (the highest p50 and p99, cold and sustained; the largest memory and energy; the worst end of
the accuracy change), so a budget met by the series is met on every night of it. A variant missing on a
night, or failed, or flagged invalid there, is not judged ("holds across the series" cannot be said of
it). The reason line says how many nights the choice rests on, the spread of its p50 over them, and on how
many nights taken alone it would have been chosen too (a choice that flips between nights is shown so).
Pure functions of stored rows and budgets, as harness.statistics.recommend.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from harness.planning.budget import Budget
from harness.statistics.recommend import Candidate, Judged, Recommendation, candidates, recommend
from harness.store.results import Measurement

Key = tuple[str, str, str]


def _worst(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return max(vals) if vals else None


def series_candidates(nights: Sequence[tuple[str, Sequence[Measurement]]],
                      inconclusive: Mapping[Key, str] | None = None, resamples: int = 2000) -> list[Candidate]:
    """One candidate per key over the nights (oldest first): the worst figure of each axis across them."""
    per_night: list[tuple[str, dict[Key, Candidate]]] = []
    for run_id, rows in nights:
        per_night.append((run_id, {(c.device, c.model, c.variant): c for c in candidates(rows, None, resamples)}))
    keys: dict[Key, None] = {}
    for _, got in reversed(per_night):  # the latest night's order first, as a single-run recommendation
        keys.update(dict.fromkeys(got))
    out = []
    for key in keys:
        seen = [(run, got[key]) for run, got in per_night if key in got]
        mine = [c for _, c in seen]
        latest = mine[-1]
        missing = [run for run, got in per_night if key not in got]
        bad = [(run, c) for run, c in seen if not c.valid]
        accs = [c.accuracy for c in mine if c.accuracy is not None]
        why_not = (inconclusive or {}).get(key)
        if missing and not why_not:
            why_not = (f"no successful row on night {missing[0]}"
                       + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
                       + f" of the {len(per_night)}: the series cannot be said to hold")
        series = tuple((run, c.p50_used, c.p99_used) for run, c in seen)
        out.append(dataclasses.replace(
            latest,
            p50_ms=_worst([c.p50_ms for c in mine]), p99_ms=_worst([c.p99_ms for c in mine]),
            steady_p50_ms=_worst([c.steady_p50_ms for c in mine]),
            steady_p99_ms=_worst([c.steady_p99_ms for c in mine]),
            memory_mb=_worst([c.memory_mb for c in mine]), energy_mj=_worst([c.energy_mj for c in mine]),
            accuracy=min(accs, key=lambda a: a.worst) if accs else None,
            valid=not bad,
            invalid_why=(f"night {bad[0][0]}: {bad[0][1].invalid_why}" if bad else None),
            inconclusive=why_not, runs=tuple(run for run, _ in seen), series=series))
    return out


def recommend_series(nights: Sequence[tuple[str, Sequence[Measurement]]], budgets: Mapping[str, Budget],
                     inconclusive: Mapping[Key, str] | None = None, resamples: int = 2000) -> list[Recommendation]:
    """recommend() on the series candidates, each choice's reason saying what it rests on."""
    recs = recommend(series_candidates(nights, inconclusive, resamples), budgets)
    alone: list[dict[tuple[str, str], str | None]] = []
    for _, rows in nights:
        alone.append({(r.device, r.model): (r.chosen.variant if r.chosen else None)
                      for r in recommend(candidates(rows, None, resamples), budgets)})
    out = []
    for r in recs:
        judged = tuple(_worst_night(j) if j.status == "rejected" else j for j in r.judged)
        if r.chosen is None:
            out.append(dataclasses.replace(r, judged=judged))
            continue
        p50s = [v for _, v, _ in r.chosen.series if v is not None]
        agree = sum(1 for night in alone if night.get((r.device, r.model)) == r.chosen.variant)
        spread = "p50 not measured" if not p50s else (
            f"p50 {min(p50s):.3g} ms" if f"{min(p50s):.3g}" == f"{max(p50s):.3g}"
            else f"p50 {min(p50s):.3g}-{max(p50s):.3g} ms")
        note = (f"; holds on all {len(nights)} nights ({spread}, the worst judged); "
                f"chosen on {agree} of {len(nights)} nights taken alone")
        reason = r.reason + note
        judged = tuple(dataclasses.replace(j, reason=reason) if j.status == "chosen" else j for j in judged)
        out.append(dataclasses.replace(r, reason=reason, judged=judged))
    return out


def _worst_night(j: Judged) -> Judged:
    """A latency rejection names the night whose figure broke the budget (the series is judged at its worst)."""
    which = j.reason.split(" ", 1)[0]
    if which not in ("p50", "p99") or len(j.candidate.series) < 2:
        return j
    figures = [(run, p50 if which == "p50" else p99) for run, p50, p99 in j.candidate.series]
    measured = [(run, v) for run, v in figures if v is not None]
    if not measured:
        return j
    run = max(measured, key=lambda f: f[1])[0]
    return dataclasses.replace(j, reason=f"{j.reason} (on night {run})")
