#!/usr/bin/env python3
"""Run-to-run spread of `harness run --repeat 5` medians on this host, and how many rows each
stability rule flags (CV > 10 % against robust spread > 10 %), side by side in one run.

Two srcnn models (about 1 ms and about 10 ms on 2 cores) are measured through the local target
exactly as `harness run --repeat N` does: whole rounds, interleaved (A B A B ...). For each model
the N medians, their (max - min)/median and 1.4826 MAD/median are printed. Goal: within 3 %.

Usage: python benchmarks/repeat_spread.py [--repeat 5] [--threads 1] [--min-seconds 1.0]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MODELS = {"srcnn_96px": {"size": 96, "f2": 1}, "srcnn_192px": {"size": 192, "f2": 5}}


def build(kwargs: dict, path: Path) -> None:
    import tensorflow as tf
    import tf_keras as keras

    from converters.zoo import srcnn

    keras.utils.set_random_seed(0)
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(srcnn(**kwargs)).convert())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-seconds", type=float, default=1.0)
    args = ap.parse_args()

    from harness.orchestration import orchestrate
    from harness.planning.config import parse_devices
    from harness.planning.plan import make_plan
    from harness.statistics.latency import repeat_spreads
    from harness.store.db import ResultsDB

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, kwargs in MODELS.items():
            p = Path(tmp) / f"{name}.tflite"
            build(kwargs, p)
            paths.append(str(p))
        devices = parse_devices({"devices": [{"name": "local", "kind": "local"}]})
        plan = make_plan(devices, models=paths, variants=["fp32"], repeat=args.repeat, peak_probe=False,
                         overrides={"threads": args.threads, "min_runs": 100, "min_s": args.min_seconds,
                                    "warmup_s": 0.3, "cooldown_s": 0.5})
        db_path = Path(tmp) / "r.db"
        summary = orchestrate.run(plan, db_path, cache_dir=Path(tmp) / "cache")
        db = ResultsDB(db_path)
        rows = db.measurements(summary.run_id)
        db.close()
    ok = [m for m in rows if m.status == "ok"]
    print(f"harness run --repeat {args.repeat}: {len(ok)}/{len(rows)} rows ok, {args.threads} thread(s), "
          f"min {args.min_seconds:g} s per repeat")
    print(f"{'model':<14}{'medians (ms)':<44}{'(max-min)/median':>18}{'MAD/median':>12}")
    worst = 0.0
    for (_, model, _), s in repeat_spreads(ok).items():
        meds = " ".join(f"{x / 1000:.3f}" for x in s.medians_us)
        print(f"{Path(model).stem:<14}{meds:<44}{s.spread:>17.1%}{s.mad_spread:>12.1%}")
        worst = max(worst, s.spread)
    by_cv = sum(1 for m in ok if m.cv is not None and m.cv > 0.10)
    by_robust = sum(1 for m in ok if m.validity and m.validity.stable is False)
    print(f"rows flagged unstable: by CV > 10 %: {by_cv}/{len(ok)}; by robust spread > 10 %: {by_robust}/{len(ok)}")
    print(f"worst run-to-run spread {worst:.1%} (goal <= 3 %): {'met' if worst <= 0.03 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
