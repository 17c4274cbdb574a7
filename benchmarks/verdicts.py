#!/usr/bin/env python3
"""Calibrate `harness compare` and `harness nightly` on real runs of this host (issue 22).

Real runs, not simulated series: small SRCNN models are built in code (a base, and the same model
with +10 %, +25 % and +60 % MACs by widening the first layer; every file keeps the base's name, so
the keys match as they do when a user rebuilds a model), and measured through the local target
exactly as `harness run --repeat 3` does. Each cycle measures A (the base), then B+10 %, B+25 %,
B+60 % and B with one thread instead of two, each a run of its own. Then:

  compare, one run per side : repeat 0 of run A_i against repeat 0 of A_i+1 (A/A) or of B_i (A/B);
  compare, --repeat 3       : all three repeats a side;
  nightly                   : a sequence of `harness nightly` nights on its own database: good nights
                              of A, then nights of B+60 % (confirmed within two nights, never `ok`).

Printed: false verdicts and detections with their counts, and the host's load during them (the
1-minute load average and the other processes' CPU share from /proc/stat, harness.orchestration.hostload).
Goals (issue 22): A/A false verdicts <= 5 % of keys and no --fail-on-slower exit in A/A pairs; +25 %
found in >= 90 % of pairs with --repeat 3; +60 % nightly confirmed within two nights and never ok.

The default (8 cycles, 6 nights) took 16 minutes at load 14 on 2 cores; --quick (3 cycles, 4 nights) about 8.

    python benchmarks/verdicts.py [--quick] [--cycles 8] [--db FILE] [--no-nightly | --only-nightly]
    python benchmarks/verdicts.py --analyse FILE --no-nightly   # the runs kept by an earlier --db FILE
    python benchmarks/verdicts.py --analyse FILE --no-nightly --remeasure-pairs 0 --rules
        # also every pair judged by the verdict rule before 73da6e9 on the same rows, and the keys that moved
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from collections.abc import Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# MACs per output pixel of srcnn(n1, f2=1, n2=32, channels=1): 81 n1 + 32 n1 + 25 x 32.
BASE_N1 = 64
SIDES = {"A": BASE_N1, "mac10": 71, "mac25": 82, "mac60": 107}
SIZES = (64, 96)  # two keys a run: about 33 M and 74 M MACs at the base width
BENCH = {"min_runs": 50, "min_s": 0.5, "warmup_s": 0.2, "cooldown_s": 0.2}


def macs_per_pixel(n1: int) -> int:
    return 81 * n1 + 32 * n1 + 25 * 32


def build(folder: Path, n1: int) -> list[str]:
    import tensorflow as tf
    import tf_keras as keras

    from converters.zoo import srcnn

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for size in SIZES:
        p = folder / f"srcnn_{size}px.tflite"
        if not p.exists():
            keras.utils.set_random_seed(0)
            p.write_bytes(tf.lite.TFLiteConverter.from_keras_model(srcnn(size=size, n1=n1)).convert())
        out.append(str(p))
    return out


def load_now() -> dict[str, float]:
    """1-minute load average and the share of CPU time used by anyone, over the last half second."""
    from harness.orchestration.hostload import cpu_times, busy_share

    t0 = cpu_times()
    time.sleep(0.5)
    return {"load1": os.getloadavg()[0], "busy_share": busy_share(t0, cpu_times())}


def collect(db_path: Path, work: Path, cycles: int, repeat: int) -> None:
    from harness.orchestration import orchestrate
    from harness.planning.config import parse_devices
    from harness.planning.plan import make_plan
    from harness.store.db import ResultsDB

    devices = parse_devices({"devices": [{"name": "local", "kind": "local"}]})
    models = {side: build(work / side, n1) for side, n1 in SIDES.items()}
    log = db_path.with_suffix(".runs.json")
    runs: list[dict[str, Any]] = json.loads(log.read_text()) if log.exists() else []
    for cycle in range(cycles):
        for side in ("A", "mac10", "mac25", "mac60", "threads1"):
            paths = models["A" if side == "threads1" else side]
            threads = 1 if side == "threads1" else 2
            plan = make_plan(devices, models=paths, variants=["fp32"], repeat=repeat, peak_probe=False,
                             overrides={**BENCH, "threads": threads})
            before = load_now()
            summary = orchestrate.run(plan, db_path, cache_dir=work / "cache")
            after = load_now()
            runs.append({"run_id": summary.run_id, "side": side, "cycle": cycle, "load_before": before,
                         "load_after": after, "t": time.time()})
            log.write_text(json.dumps(runs, indent=1))
            print(f"cycle {cycle} {side:<9} run {summary.run_id} load {before['load1']:.2f}->{after['load1']:.2f}",
                  flush=True)
    ResultsDB(db_path).close()


def _load_of(runs: list[dict[str, Any]]) -> str:
    loads = [r[k]["load1"] for r in runs for k in ("load_before", "load_after")]
    busy = [r[k]["busy_share"] for r in runs for k in ("load_before", "load_after") if r[k].get("busy_share")]
    text = f"load1 {min(loads):.1f}-{max(loads):.1f} (median {sorted(loads)[len(loads) // 2]:.1f})"
    return text + (f", CPUs busy {100 * min(busy):.0f}-{100 * max(busy):.0f} %" if busy else "")


def pairs_of(runs: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    """A/A: consecutive A runs; A/B: each cycle's A against that cycle's B runs."""
    a = sorted((r for r in runs if r["side"] == "A"), key=lambda r: r["t"])
    out: dict[str, list[tuple[str, str]]] = {"A/A": [(x["run_id"], y["run_id"]) for x, y in zip(a, a[1:])]}
    for side in ("mac10", "mac25", "mac60", "threads1"):
        out[side] = [(x["run_id"], y["run_id"]) for x in a for y in runs
                     if y["side"] == side and y["cycle"] == x["cycle"]]
    return out


def _stored(db_path: Path) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
    """The cycles' runs (the .runs.json beside the database) and each run's rows."""
    from harness.store.db import ResultsDB

    runs = json.loads(db_path.with_suffix(".runs.json").read_text())
    db = ResultsDB(db_path)
    try:
        return runs, {r["run_id"]: db.measurements(r["run_id"]) for r in runs}
    finally:
        db.close()


def analyse(db_path: Path) -> dict[str, Any]:
    """Every pair through compare_runs, one run a side and three; printed as counts and rates."""
    from harness.statistics.compare import compare_runs

    runs, rows = _stored(db_path)
    busy_rows = sum(1 for rs in rows.values() for m in rs if m.validity and "host busy" in m.validity.flags())
    n_rows = sum(len(rs) for rs in rows.values())
    print(f"{len(runs)} runs, {n_rows} rows ({busy_rows} flagged host busy); host {_load_of(runs)}")
    results: dict[str, Any] = {}
    aa_changes: dict[str, list[float]] = {}
    def unbusy(rs: list[Any]) -> list[Any]:
        """The rows as if `host busy` were not a flag (bench.host_busy_pct 100): what the other checks say."""
        import dataclasses

        return [dataclasses.replace(m, validity=dataclasses.replace(m.validity, host_quiet=None))
                if m.validity is not None else m for m in rs]

    for mode in ("1 run", "--repeat 3", "1 run, busy ignored", "--repeat 3, busy ignored"):
        print(f"\ncompare, {mode.replace(',', ' per side,') if ',' in mode else mode + ' per side'}")
        print(f"{'pairs':<10}{'keys':>5}{'slower':>8}{'faster':>8}{'unchanged':>10}{'inconcl.':>9}"
              f"{'exit 1':>8}  rate")
        for kind, pairs in pairs_of(runs).items():
            counts = {"slower": 0, "faster": 0, "unchanged": 0, "inconclusive": 0}
            exits = 0
            for ra, rb in pairs:
                a, b = rows[ra], rows[rb]
                if mode.endswith("busy ignored"):
                    a, b = unbusy(a), unbusy(b)
                if mode.startswith("1 run"):
                    a = [m for m in a if m.repeat_index == 0]
                    b = [m for m in b if m.repeat_index == 0]
                items = compare_runs(a, b)
                for c in items:
                    counts[c.verdict if c.verdict in counts else "inconclusive"] += 1
                    if kind == "A/A" and "," not in mode and c.latency is not None and c.latency.change is not None:
                        aa_changes.setdefault(mode, []).append(c.latency.change)
                exits += any(c.verdict == "slower" for c in items)
            keys = sum(counts.values())
            if kind == "A/A":
                wrong = counts["slower"] + counts["faster"]
                rate = (f"false verdicts {wrong}/{keys} = {wrong / max(keys, 1):.0%}; "
                        f"--fail-on-slower exit {exits}/{len(pairs)}")
            else:
                rate = (f"found {counts['slower']}/{keys} = {counts['slower'] / max(keys, 1):.0%}; "
                        f"wrong way {counts['faster']}")
            results[f"{mode}:{kind}"] = {"counts": counts, "exits": exits, "pairs": len(pairs)}
            print(f"{kind:<10}{keys:>5}{counts['slower']:>8}{counts['faster']:>8}{counts['unchanged']:>10}"
                  f"{counts['inconclusive']:>9}{exits:>8}  {rate}")
    import numpy as np

    for mode, ch in aa_changes.items():
        if ch:
            q = np.quantile(np.abs(ch), [0.5, 0.9, 0.95, 1.0])
            print(f"A/A |change of median|, {mode}: median {q[0]:.1%}, p90 {q[1]:.1%}, p95 {q[2]:.1%}, "
                  f"max {q[3]:.1%} over {len(ch)} keys")
    return results


def _old_verdict(change: float | None, low: float | None, high: float | None, threshold: float) -> str:
    """harness.statistics.compare._verdict as it was before commit 73da6e9 (tree f276a14)."""
    if change is None:
        return "unknown"
    if low is None or high is None:
        return "slower" if change > threshold else "faster" if change < -threshold else "unchanged"
    if low > 0 and change > threshold:
        return "slower"
    if high < 0 and change < -threshold:
        return "faster"
    return "unchanged"


@contextlib.contextmanager
def old_verdict_rule() -> Iterator[None]:
    """Judge with the verdict rule before 73da6e9 (a change beyond the threshold whose interval holds zero
    was `unchanged`), so both rules see the very same rows and only the rule differs."""
    from unittest import mock

    from harness.statistics import compare

    with mock.patch.object(compare, "_verdict", _old_verdict):
        yield


def rule_change(db_path: Path) -> dict[str, Any]:
    """Every pair judged by the old and the new verdict rule on the same rows: counts per rule, and how
    many keys moved (old -> new)."""
    from harness.statistics.compare import compare_runs

    runs, rows = _stored(db_path)
    print(f"\nold rule (before 73da6e9) against the new one, the same rows ({db_path.name}, host {_load_of(runs)})")
    print(f"{'mode':<12}{'pairs':<10}{'keys':>5}  {'old: slow/fast/unch/inc':<24}{'new: slow/fast/unch/inc':<24}"
          "moved (old -> new)")
    out: dict[str, Any] = {}
    for mode in ("1 run", "--repeat 3"):
        for kind, pairs in pairs_of(runs).items():
            verdicts: dict[str, list[str]] = {"old": [], "new": []}
            for ra, rb in pairs:
                a, b = rows[ra], rows[rb]
                if mode == "1 run":
                    a = [m for m in a if m.repeat_index == 0]
                    b = [m for m in b if m.repeat_index == 0]
                verdicts["new"] += [c.verdict for c in compare_runs(a, b)]
                with old_verdict_rule():
                    verdicts["old"] += [c.verdict for c in compare_runs(a, b)]
            cells = {}
            for rule, vs in verdicts.items():
                cells[rule] = "/".join(str(sum(v == w for v in vs)) for w in ("slower", "faster", "unchanged"))
                cells[rule] += f"/{sum(v not in ('slower', 'faster', 'unchanged') for v in vs)}"
            moved: dict[str, int] = {}
            for o, n in zip(verdicts["old"], verdicts["new"]):
                if o != n:
                    moved[f"{o}->{n}"] = moved.get(f"{o}->{n}", 0) + 1
            print(f"{mode:<12}{kind:<10}{len(verdicts['new']):>5}  {cells['old']:<24}{cells['new']:<24}"
                  + (", ".join(f"{k} {v}" for k, v in moved.items()) or "none"))
            out[f"{mode}:{kind}"] = {"old": verdicts["old"], "new": verdicts["new"]}
    return out


def remeasure(db_path: Path, per_kind: int, rounds: int = 5) -> dict[str, Any]:
    """`harness compare A B --remeasure`: the first `per_kind` pairs of each kind measured again side by
    side (A B A B rounds) and judged on the paired rounds."""
    from harness.orchestration.interleave import remeasure_runs

    runs = json.loads(db_path.with_suffix(".runs.json").read_text())
    print(f"\ncompare --remeasure {rounds} (the pair's two model files measured again side by side)")
    print(f"{'pairs':<10}{'keys':>5}{'slower':>8}{'faster':>8}{'unchanged':>10}{'inconcl.':>9}{'exit 1':>8}"
          "  rate, load")
    results: dict[str, Any] = {}
    for kind, pairs in pairs_of(runs).items():
        counts = {"slower": 0, "faster": 0, "unchanged": 0, "inconclusive": 0}
        exits = 0
        loads = []
        changes = []
        for ra, rb in pairs[:per_kind]:
            loads.append(load_now()["load1"])
            items, _, _ = remeasure_runs(db_path, ra, rb, rounds=rounds, threshold=0.02)
            for c in items:
                counts[c.verdict if c.verdict in counts else "inconclusive"] += 1
                if c.latency is not None and c.latency.change is not None:
                    changes.append(c.latency.change)
            exits += any(c.verdict == "slower" for c in items)
        keys = sum(counts.values())
        what = "false verdicts" if kind == "A/A" else "found"
        n = counts["slower"] + counts["faster"] if kind == "A/A" else counts["slower"]
        med = f"; median change {sorted(changes)[len(changes) // 2]:+.1%}" if changes else ""
        print(f"{kind:<10}{keys:>5}{counts['slower']:>8}{counts['faster']:>8}{counts['unchanged']:>10}"
              f"{counts['inconclusive']:>9}{exits:>8}  {what} {n}/{keys}{med}; load1 "
              f"{min(loads, default=0):.1f}-{max(loads, default=0):.1f}", flush=True)
        results[f"--remeasure:{kind}"] = {"counts": counts, "exits": exits, "pairs": min(per_kind, len(pairs))}
    return results


def nightly_sequence(work: Path, sides: list[str], overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """`harness nightly` night after night on its own database, the model files swapped as `sides` say."""
    from harness.orchestration.nightly import run_nightly
    from harness.planning.config import parse_devices
    from harness.planning.plan import make_plan
    from harness.store.db import ResultsDB

    devices = parse_devices({"devices": [{"name": "local", "kind": "local"}]})
    db_path = work / f"nightly{len(list(work.glob('nightly*.db')))}.db"
    print(f"  (runs kept in {db_path})")
    out = []
    for i, side in enumerate(sides):
        paths = build(work / side, SIDES[side])
        plan = make_plan(devices, models=paths, variants=["fp32"], repeat=3, peak_probe=False,
                         overrides={**BENCH, **(overrides or {})})
        before = load_now()
        res = run_nightly(plan, db_path, out_dir=work / "reports", cache_dir=work / "cache", log=lambda _: None)
        after = load_now()
        db = ResultsDB(db_path)
        try:
            rows = db.measurements(res.run_id)
        finally:
            db.close()
        busy = sum(1 for m in rows if m.validity and m.validity.host_quiet is False)
        changes = ", ".join(f"{model_label_short(k[1])} {c.pairwise.change:+.0%} {c.pairwise.verdict}"
                            for k, c in res.checks.items() if c.pairwise is not None and c.pairwise.change is not None)
        again = ", ".join(f"{model_label_short(k[1])} {c.change:+.0%} {c.verdict}" for k, c in res.remeasured.items()
                          if c.change is not None)
        print(f"night {i + 1} {side:<6} {res.label or '-':<22} suspected {len(res.suspected)} confirmed "
              f"{len(res.confirmed)}; {busy}/{len(rows)} rows host busy; load1 {before['load1']:.1f}-"
              f"{after['load1']:.1f}; vs baseline: {changes or '-'}" + (f"; interleaved: {again}" if again else ""),
              flush=True)
        out.append({"side": side, "label": res.label, "suspected": len(res.suspected),
                    "confirmed": len(res.confirmed), "keys": len(res.checks)})
    return out


def model_label_short(model: str) -> str:
    return Path(model).stem.replace("srcnn_", "")


def goals(results: dict[str, Any], nights: list[dict[str, Any]]) -> None:
    """The issue's goals, each met or not on what was measured here."""
    def rate(key: str, verdict: str) -> tuple[int, int]:
        r = results.get(key)
        return (0, 0) if r is None else (r["counts"][verdict], sum(r["counts"].values()))

    print("\ngoals (issue 22)")
    for mode in ("1 run", "--repeat 3"):
        r = results.get(f"{mode}:A/A")
        if r:
            wrong = r["counts"]["slower"] + r["counts"]["faster"]
            keys = sum(r["counts"].values())
            print(f"  A/A false verdicts <= 5 % of keys ({mode}): {wrong}/{keys} "
                  f"-> {'met' if wrong <= 0.05 * keys else 'NOT met'}; no --fail-on-slower exit: "
                  f"{r['exits']}/{r['pairs']} -> {'met' if r['exits'] == 0 else 'NOT met'}")
    found, keys = rate("--repeat 3:mac25", "slower")
    if keys:
        print(f"  +25 % found in >= 90 % with --repeat 3: {found}/{keys} -> "
              f"{'met' if found >= 0.9 * keys else 'NOT met'}")
    r = results.get("--remeasure:A/A")
    if r:
        wrong = r["counts"]["slower"] + r["counts"]["faster"]
        keys = sum(r["counts"].values())
        print(f"  A/A false verdicts <= 5 % of keys (--remeasure): {wrong}/{keys} -> "
              f"{'met' if wrong <= 0.05 * keys else 'NOT met'}; --fail-on-slower exits {r['exits']}/{r['pairs']}")
    found, keys = rate("--remeasure:mac25", "slower")
    if keys:
        print(f"  +25 % found in >= 90 % with --remeasure: {found}/{keys} -> "
              f"{'met' if found >= 0.9 * keys else 'NOT met'}")
    found, keys = rate("--repeat 3, busy ignored:mac25", "slower")
    wrong = sum(rate(f"{m}, busy ignored:A/A", v)[0] for m in ("1 run", "--repeat 3") for v in ("slower", "faster"))
    if keys:
        print(f"  (diagnostic, `host busy` not a flag: +25 % found {found}/{keys} with --repeat 3; "
              f"A/A false verdicts {wrong} over both modes)")
    busy_wrong = sum(rate(f"{m}:{k}", v)[0] for m in ("1 run", "--repeat 3")
                     for k, v in (("A/A", "slower"), ("A/A", "faster"), ("mac10", "faster"), ("mac25", "faster"),
                                  ("mac60", "faster")))
    print(f"  on a busy host, inconclusive rather than a wrong verdict: {busy_wrong} wrong verdicts -> "
          f"{'met' if not busy_wrong else 'NOT met'}")
    wrong = sum(rate(f"{m}:{k}", "faster")[0] for m in ("1 run", "--repeat 3") for k in ("mac10", "mac25", "mac60"))
    print(f"  a heavier model never called faster: {wrong} wrong-way verdicts -> {'met' if not wrong else 'NOT met'}")
    slow = [n for n in nights if n["side"] == "mac60"]
    if slow:
        ok = sum(1 for n in slow if n["label"] == "nightly:ok")
        confirmed = any(n["confirmed"] for n in slow[:2])
        print(f"  +60 % nightly confirmed within two nights: {'met' if confirmed else 'NOT met'}; "
              f"never labelled ok: {ok} ok of {len(slow)} -> {'met' if not ok else 'NOT met'}")
    aa = [n for n in nights[1:] if n["side"] == "A"]
    if aa:
        print(f"  A/A nights confirmed as regressions: {sum(n['confirmed'] > 0 for n in aa)}/{len(aa)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 cycles and 4 nights (about 8 minutes on 2 cores)")
    ap.add_argument("--cycles", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", help="keep the runs in this database (default: a temporary one)")
    ap.add_argument("--analyse", metavar="FILE", help="analyse the runs already in FILE; measure nothing")
    ap.add_argument("--no-nightly", action="store_true", help="skip the sequence of nightly runs")
    ap.add_argument("--remeasure-pairs", type=int, default=3,
                    help="pairs of each kind judged again with `compare --remeasure` (0: none)")
    ap.add_argument("--only-nightly", action="store_true", help="only the sequence of nightly runs")
    ap.add_argument("--rules", action="store_true",
                    help="also judge every pair by the verdict rule before 73da6e9 on the same rows")
    args = ap.parse_args()
    cycles = 3 if args.quick else args.cycles
    with tempfile.TemporaryDirectory() as tmp:
        # with --db, the nightly series' databases are kept beside it (nightly0.db, ...)
        work = Path(args.db).resolve().parent / (Path(args.db).stem + "-work") if args.db else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results: dict[str, Any] = {}
        if args.analyse:
            results = analyse(Path(args.analyse))
            if args.rules:
                rule_change(Path(args.analyse))
        elif not args.only_nightly:
            db_path = Path(args.db) if args.db else work / "verdicts.db"
            collect(db_path, work, cycles, args.repeat)
            results = analyse(db_path)
            if args.rules:
                rule_change(db_path)
        if args.remeasure_pairs and not args.only_nightly:
            results.update(remeasure(Path(args.analyse or db_path), args.remeasure_pairs))
        nights: list[dict[str, Any]] = []
        if not args.no_nightly:
            print("\nnightly, night after night (3 repeats a night; suspects re-measured beside the baseline's "
                  "artifact, A B A B)")
            sides = ["A", "A", "mac60", "mac60"] if args.quick else ["A", "A", "A", "A", "mac60", "mac60"]
            nights = nightly_sequence(work, sides)
            print("\nnightly again with the row checks off (bench host_busy_pct 100, spread_threshold and "
                  "cv_threshold 1e6; diagnostic: what the interleaved re-measurement decides on its own)")
            diag = nightly_sequence(work, sides, {"host_busy_pct": 100.0, "spread_threshold": 1e6,
                                                  "cv_threshold": 1e6})
            slow = [n for n in diag if n["side"] == "mac60"]
            print(f"  (diagnostic) +60 % confirmed within two nights: {any(n['confirmed'] for n in slow[:2])}; "
                  f"A/A nights confirmed: {sum(n['confirmed'] > 0 for n in diag[1:] if n['side'] == 'A')}")
        goals(results, nights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
