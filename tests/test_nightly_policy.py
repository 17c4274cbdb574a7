"""The nightly decision: baseline = good nights only, step detection beside the pairwise check,
interrupted nights never good, flagged rows never a regression, calibrated on simulated series."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import yaml

from harness.cli import main
from harness.orchestration.nightly import (ACCEPTED, BAD, CLEARED, GOOD, INTERRUPTED, check_keys, good_history,
                                           night_label)
from harness.statistics.regression import check_night, confirm_night
from harness.store.db import ResultsDB
from harness.store.results import Measurement, RunInfo, Validity

REPO = Path(__file__).resolve().parent.parent


def _rates_module():
    spec = importlib.util.spec_from_file_location("detection_rates", REPO / "benchmarks" / "detection_rates.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["detection_rates"] = mod
    spec.loader.exec_module(mod)
    return mod


def _night(p50: float, tag: str, *, valid: bool = True) -> list[Measurement]:
    return [Measurement(run_id=tag, device="pi", model="m", variant="int8", status="ok", p50_us=p50,
                        validity=Validity(True, True, valid, True, True))]


def test_calibrated_on_simulated_series():
    """The same decision as `harness nightly`, on simulated nights with a 1 % run-to-run sd
    (benchmarks/detection_rates.py prints the full table)."""
    sim = _rates_module()
    rng = np.random.default_rng(1)
    aa = sum(any(sim.simulate([1.0] * 10, 0.01, rng)) for _ in range(100))
    step = sum(any(sim.simulate([1.10] * 10, 0.01, rng)[:2]) for _ in range(30))
    drift = sum(any(sim.simulate([1.01 ** (i + 1) for i in range(10)], 0.01, rng)) for _ in range(20))
    print(f"A/A series with a false alarm {aa}/100, 10 % step caught {step}/30, 1 %/night drift caught {drift}/20")
    assert aa <= 1 and step >= 29 and drift >= 19


def test_a_slow_drift_is_found_by_the_history_not_the_last_pair():
    """+1 %/night: no night is 2 % slower than the one before, yet the drift is confirmed."""
    good = [_night(5000 * (1 + 0.002 * ((i * 7) % 5 - 2)), f"g{i}") for i in range(10)]
    flagged_on = None
    for n in range(1, 11):
        tonight = _night(5000 * 1.01 ** n, f"n{n}")
        c = check_keys(good, [tonight])[("pi", "m", "int8")]
        if c.suspected and confirm_night([g for g in good], tonight, _night(5000 * 1.01 ** n * 1.001, f"r{n}")):
            flagged_on = n
            break
        good.append(tonight)  # unsuspected nights join the history, as run_nightly labels them
    assert flagged_on is not None and flagged_on <= 10


def test_flagged_rows_never_make_a_regression_but_a_flagged_slow_night_is_suspected():
    """Issue 22: a flagged night 80 % slower (beyond the host's one-run noise) used to be neither suspected
    nor kept from the baseline; it is now suspected and uncomparable, while flagged rows confirm nothing."""
    good = [_night(5000 * (1 + 0.003 * (i % 3)), f"g{i}") for i in range(6)]
    slow_but_unstable = _night(9000, "t", valid=False)
    c = check_night(good, [slow_but_unstable])
    assert c.pairwise.verdict == "inconclusive" and c.suspected and c.uncomparable
    assert not confirm_night(good, slow_but_unstable, _night(9000, "r", valid=False))
    # with repeats the host's noise is smaller (REPEATS_NOISE): +20 % over three flagged runs is suspected
    three = [m for i in range(3) for m in _night(6000 + i, "t", valid=False)]
    assert check_night(good, [three]).suspected
    # a flagged night within the noise: not suspected, but still not comparable (never `ok`)
    c = check_night(good, [_night(5100, "t", valid=False)])
    assert not c.suspected and c.uncomparable
    # ... while a valid 40 % slower night is suspected and confirmed
    assert check_night(good, [_night(7000, "t")]).suspected
    assert confirm_night(good, _night(7000, "t"), _night(7000, "r"))


def test_only_complete_unsuspected_nights_are_good():
    assert night_label(suspected=False, confirmed=False, interrupted=False, measured=3) == GOOD
    assert night_label(suspected=True, confirmed=False, interrupted=False, measured=3) == CLEARED
    assert night_label(suspected=True, confirmed=True, interrupted=False, measured=3) == BAD
    assert night_label(suspected=False, confirmed=False, interrupted=True, measured=3) == INTERRUPTED
    assert night_label(suspected=False, confirmed=False, interrupted=False, measured=0) is None


def test_good_history_skips_cleared_and_starts_at_the_last_accepted(tmp_path):
    db = ResultsDB(tmp_path / "n.db")
    try:
        labels = [GOOD, CLEARED, GOOD, BAD, ACCEPTED, INTERRUPTED, GOOD, CLEARED]
        for i, label in enumerate(labels):
            db.add_run(RunInfo(f"r{i}", 1_700_000_000 + i, "farm", None, {}, {}, status="finished", label=label))
        assert good_history(db) == ["r4", "r6"]
        db.set_run_label("r4", GOOD)
        assert good_history(db) == ["r0", "r2", "r4", "r6"]
    finally:
        db.close()


def test_a_second_nightly_on_an_unchanged_build_confirms_nothing(tmp_path, tiny_tflite, isolated_cache):
    """A/A on this host, with the default validity checks: the second night may be noisy or flagged,
    it is never a confirmed regression."""
    farm = tmp_path / "farm.yaml"
    farm.write_text(yaml.safe_dump({"defaults": {"min_runs": 30, "min_s": 0.3, "warmup_s": 0.1, "cooldown_s": 0.0},
                                    "devices": [{"name": "local", "kind": "local"}]}))
    db = tmp_path / "n.db"
    argv = ["nightly", "--devices", str(farm), "--models", str(tiny_tflite), "--variants", "fp32", "--db", str(db),
            "--out-dir", str(tmp_path / "reports"), "--cache-dir", str(tmp_path / "art")]
    assert main(argv) == 0
    assert main(argv) == 0
    d = ResultsDB(db)
    try:
        labels = [r.label for r in d.runs()]
        rows = d.measurements()
    finally:
        d.close()
    assert BAD not in labels
    # By default a night runs the matmul probe once per device, as `run` does: its rows carry the peak.
    ok = [m for m in rows if m.status == "ok"]
    assert ok and all(m.metrics.get("device_peak_gflops", 0) > 0 for m in ok)


def test_a_faster_night_whose_interval_is_only_too_wide_is_compared():
    """Real nights of this host (benchmarks/nightly_nights.py, load 27-36): the one good night's three runs
    spread 4x, and every later A/A night was -27 % to -83 % against it with the interval holding zero:
    inconclusive, so `uncomparable`, so never a baseline, and that night stayed the only baseline for good.
    A night faster than its baseline with usable rows hides no regression: it is compared (may become `ok`).
    A slower one with the same wide interval, or a faster one whose rows are flagged, is still not."""
    spread = [m for i, p50 in enumerate((2000.0, 3300.0, 8200.0)) for m in _night(p50, f"g{i}")]
    faster = [m for i in range(3) for m in _night(1400.0 + 10 * i, "t")]
    c = check_night([spread], [faster])
    assert c.pairwise.verdict == "inconclusive" and c.pairwise.ci_low < 0 < c.pairwise.ci_high
    assert not c.uncomparable and not c.suspected
    slower = [m for i in range(3) for m in _night(4800.0 + 10 * i, "t")]
    c = check_night([spread], [slower])
    assert c.pairwise.verdict == "inconclusive" and c.uncomparable and c.suspected
    flagged = [m for i in range(3) for m in _night(1400.0 + 10 * i, "t", valid=False)]
    assert check_night([spread], [flagged]).uncomparable
