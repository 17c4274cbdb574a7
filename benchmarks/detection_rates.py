"""Calibrate the nightly checks on simulated nights: A/A false alarms, a 10 % step, a 1 %/night drift.

Each series starts with PREFIX good nights at one level, then runs NIGHTS nights through exactly the
decision `harness nightly` makes (harness.orchestration.nightly: check_keys, a re-run of suspects,
confirm, night_label; only good nights join the baseline and the history). A night's level is its
true level times a log-normal run-to-run factor (sd SIGMA); a re-run draws a fresh factor.

  A/A    : the level never moves; a false alarm is a series with any confirmed regression.
  step   : +10 % from the first tested night on; caught when confirmed on that night or the next.
  drift  : +1 % per night for the 10 nights; caught when confirmed by the tenth.

Goals (issue 10): A/A false alarms <= 1 % of series, step caught >= 95 %, drift caught.
An A/A night that is not `ok` (uncomparable, cleared) never joins the baseline: its share is the cost of
a rule that declines to decide.
    python benchmarks/detection_rates.py [--series 500] [--sigma 0.01,0.02] [--rules new|old|both]
"""
from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.orchestration.nightly import GOOD, check_keys, confirm, decide, night_label  # noqa: E402
from harness.store.results import Measurement, Validity  # noqa: E402

PREFIX, NIGHTS = 10, 10
VALID = Validity(True, True, True, True, True)


def night(rng: np.random.Generator, level: float, sigma: float, tag: str) -> list[Measurement]:
    p50 = 5000.0 * level * math.exp(rng.normal(0.0, sigma))
    return [Measurement(run_id=tag, device="pi", model="m", variant="int8", status="ok", p50_us=p50,
                        validity=VALID)]


def simulate(levels: list[float], sigma: float, rng: np.random.Generator, labels: list[str | None] | None = None,
             *, rule: str = "new") -> list[bool]:
    """Which of the tested nights ended with a confirmed regression; each night's label is appended to
    `labels`. rule "new": a suspect's re-run confirmed, cleared or undecided (rerun_decision), an undecided
    suspect or an inconclusive key keeps the night from the baseline; "old": the rules before 73da6e9
    (`_verdict` without its inconclusive branch; a re-run that does not confirm clears)."""
    from benchmarks.verdicts import old_verdict_rule

    good = [night(rng, 1.0, sigma, f"p{i}") for i in range(PREFIX)]
    confirmed_on = []
    for i, level in enumerate(levels):
        rows = night(rng, level, sigma, f"n{i}")
        with old_verdict_rule() if rule == "old" else contextlib.nullcontext():
            checks = check_keys(good, [rows])
            suspects = [k for k, c in checks.items() if c.suspected]
            rerun = night(rng, level, sigma, f"r{i}") if suspects else []
            if rule == "old":
                hit = confirm(good, rows, rerun, suspects) if suspects else []
                decided = {k: "confirmed" if k in hit else "cleared" for k in suspects}
            else:
                decided = {k: decide(good, rows, rerun, k) for k in suspects}
        confirmed = [k for k, v in decided.items() if v == "confirmed"]
        uncomparable = any(c.uncomparable for c in checks.values()) or "undecided" in decided.values()
        label = night_label(suspected=bool(suspects), confirmed=bool(confirmed), interrupted=False, measured=1,
                            uncomparable=uncomparable)
        if labels is not None:
            labels.append(label)
        if label == GOOD:
            good.append(rows)
        confirmed_on.append(bool(confirmed))
    return confirmed_on


def rates(series: int, sigma: float, seed: int = 0, rule: str = "new") -> dict[str, float]:
    rng = np.random.default_rng(seed)
    labels: list[str | None] = []
    aa = sum(any(simulate([1.0] * NIGHTS, sigma, rng, labels, rule=rule)) for _ in range(series))
    step = sum(any(simulate([1.10] * NIGHTS, sigma, rng, rule=rule)[:2]) for _ in range(series))
    drift = sum(any(simulate([1.01 ** (i + 1) for i in range(NIGHTS)], sigma, rng, rule=rule))
                for _ in range(series))
    not_ok = sum(label != GOOD for label in labels)
    return {"aa": aa / series, "step": step / series, "drift": drift / series, "aa_not_ok": not_ok / len(labels)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=500, help="simulated series per scenario (default 500)")
    ap.add_argument("--sigma", default="0.01,0.02", help="run-to-run sd of a night's median, comma-separated")
    ap.add_argument("--rules", default="new", help="new, old (before 73da6e9) or both, on the same seeds")
    args = ap.parse_args()
    if args.rules not in ("new", "old", "both"):
        print(f"--rules {args.rules[:40]!r}: one of new, old, both", file=sys.stderr)
        return 2
    rules = ["old", "new"] if args.rules == "both" else [args.rules]
    print(f"{args.series} series per scenario, {PREFIX} good nights then {NIGHTS} tested nights")
    print(f"{'rule':>5} {'run-to-run sd':>14} {'A/A false alarms':>17} {'A/A nights not ok':>18} "
          f"{'10% step caught':>16} {'1%/night drift caught':>22} {'seconds':>8}")
    ok = True
    for sigma in (float(s) for s in args.sigma.split(",")):
        for rule in rules:
            t0 = time.perf_counter()
            r = rates(args.series, sigma, rule=rule)
            ok &= r["aa"] <= 0.01 and r["step"] >= 0.95 and r["drift"] >= 0.95
            print(f"{rule:>5} {sigma:>14.1%} {r['aa']:>17.1%} {r['aa_not_ok']:>18.1%} {r['step']:>16.1%} "
                  f"{r['drift']:>22.1%} {time.perf_counter() - t0:>8.1f}")
    print("goals (A/A <= 1 %, step >= 95 %, drift >= 95 %):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
