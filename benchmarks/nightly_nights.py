#!/usr/bin/env python3
"""Real nights of `harness nightly` on this host: A/A nights, then A/B nights, labelled under the rules.

Calibrates the nightly's suspect re-run alone (harness.statistics.regression.rerun_decision) and the
"beyond the threshold but the interval holds zero: inconclusive" verdict (harness.statistics.compare)
on real nights, not simulated series. One small real model (SRCNN built in code, 33 and 74 M MACs:
two keys a night) is measured by `harness nightly` with its default 3 repeats a night, night after
night on its own database. Each night's artifact cache is wiped before the next (a runner whose
workspace is cleaned every night), so the baseline's artifact is gone and a suspect is re-run alone:
the path the rule change is about. The A/B nights replace the model file *in place* by a heavier one
(+60 % MACs in the first layer, same file name: the way a user rebuilds a model), or keep the file and
run it on 1 thread instead of 2 (`--ab threads1`).

For every night the same rows are judged twice: by the rules on the branch (the label the nightly gave,
and each suspect's confirmed | cleared | undecided), and by the rules before commit 73da6e9 (`_verdict`
without its `inconclusive` branch; a suspect confirmed by confirm_night on the re-run's first repeat only,
since the old re-run measured once, and cleared otherwise). The old rule is judged on the good-night
history the new rules built, so only the rule differs.

    python benchmarks/nightly_nights.py [--aa 5] [--ab mac60,mac60] [--row-checks-off] [--keep DIR]
    python benchmarks/nightly_nights.py --keep DIR --aa 0 --ab mac60   # more nights on DIR's database

Printed: one line per night, with the host's load (1-minute average) before and after it.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.verdicts import BENCH, SIDES, build, load_now, old_verdict_rule  # noqa: E402

AB_SIDES = ("mac10", "mac25", "mac60", "threads1")


def _short(model: str) -> str:
    return Path(model).stem.replace("srcnn_", "")


def old_judgement(good_nights: list[list[Any]], rows: list[Any], rerun: list[Any],
                  good_ids: list[str]) -> dict[str, Any]:
    """The rules before 73da6e9 on the same rows: checks with the old `_verdict`; a suspect re-run once
    (its first repeat), confirmed by confirm_night or else cleared."""
    from harness.orchestration.nightly import check_keys, confirm, night_label
    from harness.statistics.regression import usable

    with old_verdict_rule():
        checks = check_keys(good_nights, [rows]) if good_ids else {}
        suspected = [k for k, c in checks.items() if c.suspected]
        once = [m for m in rerun if m.repeat_index == 0]
        hit = confirm(good_nights, rows, once, suspected) if once else []
    uncomparable = any(c.uncomparable for c in checks.values()) or any(
        not any(usable(m) for m in rows if m.key == k) for k in {m.key for m in rows if m.status == "ok"})
    decided = {k: ("confirmed" if k in hit else "cleared") for k in suspected}
    label = night_label(suspected=bool(suspected), confirmed=bool(hit), interrupted=False, measured=len(rows),
                        uncomparable=uncomparable)
    return {"checks": checks, "decided": decided, "label": label}


def new_decisions(good_nights: list[list[Any]], rows: list[Any], rerun: list[Any],
                  suspected: list[Any]) -> dict[Any, str]:
    """What the nightly decided for each suspect re-run alone (pure and seeded: the same as the run's)."""
    from harness.orchestration.nightly import decide

    return {k: decide(good_nights, rows, rerun, k) for k in suspected}


def one_night(i: int, side: str, model_dir: Path, work: Path, db_path: Path,
              bench: dict[str, Any]) -> dict[str, Any]:
    from harness.orchestration.nightly import good_nights_in, run_nightly
    from harness.planning.config import parse_devices
    from harness.planning.plan import make_plan
    from harness.store.db import ResultsDB

    # the model files always sit at the same paths; an A/B night writes the heavier model over them
    n1 = SIDES["A" if side in ("A", "threads1") else side]
    for p in model_dir.glob("*.tflite"):
        p.unlink()
    built = build(work / f"build-{n1}", n1)
    paths = []
    for src in built:
        dst = model_dir / Path(src).name
        shutil.copyfile(src, dst)
        paths.append(str(dst))
    devices = parse_devices({"devices": [{"name": "local", "kind": "local"}]})
    threads = 1 if side == "threads1" else 2
    plan = make_plan(devices, models=paths, variants=["fp32"], repeat=3, peak_probe=False,
                     overrides={**BENCH, **bench, "threads": threads})
    good_ids, good_nights = good_nights_in(db_path)
    cache = work / f"cache-night{i}"
    before = load_now()
    t0 = time.time()
    res = run_nightly(plan, db_path, out_dir=work / "reports", cache_dir=cache, log=lambda _: None)
    wall = time.time() - t0
    after = load_now()
    shutil.rmtree(cache, ignore_errors=True)  # the workspace is wiped: tomorrow's suspects are re-run alone
    db = ResultsDB(db_path)
    try:
        rows = db.measurements(res.run_id)
        rerun = [m for r in res.confirm_run_ids for m in db.measurements(r)]
    finally:
        db.close()
    new = new_decisions(good_nights, rows, rerun, res.suspected) if rerun else {}
    old = old_judgement(good_nights, rows, rerun, good_ids)
    busy = sum(1 for m in rows if m.validity is not None and m.validity.host_quiet is False)
    keys = []
    for k, c in res.checks.items():
        lat = c.pairwise
        oc = old["checks"].get(k)
        ch = "-" if lat is None or lat.change is None else f"{lat.change:+.0%}"
        keys.append(f"{_short(k[1])} {ch} {lat.verdict if lat else '-'}"
                    + (f" (old {oc.pairwise.verdict})" if oc is not None and oc.pairwise is not None
                       and lat is not None and oc.pairwise.verdict != lat.verdict else "")
                    + (f" suspect: {new.get(k, 'interleaved' if k in res.remeasured else '?')}"
                       f"/old {old['decided'].get(k, '-')}" if k in res.suspected else ""))
    again = ""
    if rerun:
        again_checks = [(k, m) for k in res.suspected for m in [[x for x in rerun if x.key == k]] if m]
        parts = []
        for k, ms in again_checks:
            from harness.statistics.regression import check_night
            c = check_night([[m for m in n if m.key == k] for n in good_nights], [ms]).pairwise
            if c is not None and c.change is not None:
                parts.append(f"{_short(k[1])} {c.change:+.0%} [{c.ci_low:+.0%}, {c.ci_high:+.0%}] {c.verdict}"
                             if c.ci_low is not None and c.ci_high is not None else f"{_short(k[1])} {c.change:+.0%}")
        again = "; re-run alone (3 runs): " + ", ".join(parts) if parts else ""
    line = (f"night {i + 1:>2} {side:<8} new {str(res.label or '-').replace('nightly:', ''):<13} "
            f"old {str(old['label'] or '-').replace('nightly:', ''):<13} {busy}/{len(rows)} busy  "
            f"load {before['load1']:.1f}->{after['load1']:.1f}  {wall:.0f} s  | " + "; ".join(keys) + again)
    print(line, flush=True)
    return {"side": side, "label": res.label, "old_label": old["label"], "confirmed": len(res.confirmed),
            "old_confirmed": sum(v == "confirmed" for v in old["decided"].values()), "suspected": len(res.suspected),
            "load": (before["load1"], after["load1"]), "compared": bool(good_ids)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--aa", type=int, default=5, help="A nights first (the first has nothing to compare with)")
    ap.add_argument("--ab", default="mac60,mac60",
                    help=f"the A/B nights after them, comma-separated from {', '.join(AB_SIDES)}")
    ap.add_argument("--host-busy-pct", type=float,
                    help="the devices file's bench.host_busy_pct (default 25: on a shared host every row is "
                         "flagged `host busy` and no night is compared; 100 turns that flag off)")
    ap.add_argument("--row-checks-off", action="store_true",
                    help="diagnostic: host_busy_pct 100, spread_threshold and cv_threshold 1e6 (no row flagged), "
                         "so every night is compared and the decision rules alone are tested on real numbers")
    ap.add_argument("--keep", help="keep the database and reports in this folder (default: a temporary one)")
    args = ap.parse_args()
    ab = [s.strip() for s in args.ab.split(",") if s.strip()]
    bad = [s for s in ab if s not in AB_SIDES]
    resume = bool(args.keep) and (Path(args.keep) / "nightly.db").is_file()
    if bad or (args.aa < 2 and not resume):
        print(f"--ab {bad[0][:40]!r}: not one of {', '.join(AB_SIDES)}" if bad
              else "--aa: at least 2 nights (fewer only to go on with a --keep folder's nights)", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        work = Path(args.keep).resolve() if args.keep else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        model_dir = work / "models"
        model_dir.mkdir(exist_ok=True)
        db_path = work / "nightly.db"
        print(f"harness nightly, 3 repeats a night, artifacts wiped between nights (suspects re-run alone); "
              f"runs kept in {db_path}" if args.keep else "")
        print("new: the rules on this branch; old: before 73da6e9 (same rows, same good-night history)")
        bench: dict[str, Any] = {} if args.host_busy_pct is None else {"host_busy_pct": args.host_busy_pct}
        if args.row_checks_off:
            bench = {"host_busy_pct": 100.0, "spread_threshold": 1e6, "cv_threshold": 1e6}
        print(f"bench overrides {bench or 'none'}")
        first = 0
        if resume:  # go on with the nights already in the folder's database (their own lines were printed then)
            from harness.store.db import ResultsDB

            db = ResultsDB(db_path)
            try:
                first = sum(1 for r in db.runs() if r.label != "nightly:confirm")
            finally:
                db.close()
            print(f"going on after the {first} nights already in {db_path}")
        nights = [one_night(first + i, side, model_dir, work, db_path, bench)
                  for i, side in enumerate(["A"] * args.aa + ab)]
    aa = [n for n in nights if n["side"] == "A" and n["compared"]]
    abn = [n for n in nights if n["side"] != "A"]
    loads = [x for n in nights for x in n["load"]]
    print(f"\nload1 {min(loads):.1f}-{max(loads):.1f} over {len(nights)} nights")
    for rule, lab, conf in (("new", "label", "confirmed"), ("old", "old_label", "old_confirmed")):
        count = {}
        for n in aa:
            count[n[lab]] = count.get(n[lab], 0) + 1
        print(f"{rule}: A/A nights {len(aa)}: " + ", ".join(f"{k.replace('nightly:', '')} {v}"
                                                           for k, v in sorted(count.items()))
              + f"; confirmed {sum(n[conf] > 0 for n in aa)} (must be 0); A/B nights confirmed "
              f"{sum(n[conf] > 0 for n in abn)}/{len(abn)}, labelled ok {sum(n[lab] == 'nightly:ok' for n in abn)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
