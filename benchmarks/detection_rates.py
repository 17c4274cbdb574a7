"""Calibrate the nightly checks on simulated nights: A/A false alarms, a 10 % step, a 1 %/night drift.

Each series starts with PREFIX good nights at one level, then runs NIGHTS nights through exactly the
decision `harness nightly` makes (harness.orchestration.nightly: check_keys, a re-run of suspects,
confirm, night_label; only good nights join the baseline and the history). A night's level is its
true level times a log-normal run-to-run factor (sd SIGMA); a re-run draws a fresh factor.

  A/A    : the level never moves; a false alarm is a series with any confirmed regression.
  step   : +10 % from the first tested night on; caught when confirmed on that night or the next.
  drift  : +1 % per night for the 10 nights; caught when confirmed by the tenth.

Goals (issue 10): A/A false alarms <= 1 % of series, step caught >= 95 %, drift caught.
    python benchmarks/detection_rates.py [--series 500] [--sigma 0.01,0.02]
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.orchestration.nightly import GOOD, check_keys, confirm, night_label  # noqa: E402
from harness.store.results import Measurement, Validity  # noqa: E402

PREFIX, NIGHTS = 10, 10
VALID = Validity(True, True, True, True, True)


def night(rng: np.random.Generator, level: float, sigma: float, tag: str) -> list[Measurement]:
    p50 = 5000.0 * level * math.exp(rng.normal(0.0, sigma))
    return [Measurement(run_id=tag, device="pi", model="m", variant="int8", status="ok", p50_us=p50,
                        validity=VALID)]


def simulate(levels: list[float], sigma: float, rng: np.random.Generator) -> list[bool]:
    """Which of the tested nights ended with a confirmed regression."""
    good = [night(rng, 1.0, sigma, f"p{i}") for i in range(PREFIX)]
    confirmed_on = []
    for i, level in enumerate(levels):
        rows = night(rng, level, sigma, f"n{i}")
        checks = check_keys(good, [rows])
        suspects = [k for k, c in checks.items() if c.suspected]
        confirmed = confirm(good, rows, night(rng, level, sigma, f"r{i}"), suspects) if suspects else []
        label = night_label(suspected=bool(suspects), confirmed=bool(confirmed), interrupted=False, measured=1)
        if label == GOOD:
            good.append(rows)
        confirmed_on.append(bool(confirmed))
    return confirmed_on


def rates(series: int, sigma: float, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    aa = sum(any(simulate([1.0] * NIGHTS, sigma, rng)) for _ in range(series))
    step = sum(any(simulate([1.10] * NIGHTS, sigma, rng)[:2]) for _ in range(series))
    drift = sum(any(simulate([1.01 ** (i + 1) for i in range(NIGHTS)], sigma, rng)) for _ in range(series))
    return {"aa": aa / series, "step": step / series, "drift": drift / series}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=500, help="simulated series per scenario (default 500)")
    ap.add_argument("--sigma", default="0.01,0.02", help="run-to-run sd of a night's median, comma-separated")
    args = ap.parse_args()
    print(f"{args.series} series per scenario, {PREFIX} good nights then {NIGHTS} tested nights")
    print(f"{'run-to-run sd':>14} {'A/A false alarms':>17} {'10% step caught':>16} {'1%/night drift caught':>22}"
          f" {'seconds':>8}")
    ok = True
    for sigma in (float(s) for s in args.sigma.split(",")):
        t0 = time.perf_counter()
        r = rates(args.series, sigma)
        ok &= r["aa"] <= 0.01 and r["step"] >= 0.95 and r["drift"] >= 0.95
        print(f"{sigma:>14.1%} {r['aa']:>17.1%} {r['step']:>16.1%} {r['drift']:>22.1%}"
              f" {time.perf_counter() - t0:>8.1f}")
    print("goals (A/A <= 1 %, step >= 95 %, drift >= 95 %):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
