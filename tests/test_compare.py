"""Run comparison: intervals from raw samples, verdicts, and the `harness compare` command."""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.cli import main
from harness.statistics.compare import compare_measurements, compare_runs, compare_samples
from harness.store.results import Measurement
from tests.fixtures_web import make_measurement, store_run, synthetic_rows


def _lat(seed: int, median: float, n: int = 300, cv: float = 0.04) -> np.ndarray:
    return median * np.random.default_rng(seed).lognormal(0.0, cv, n)


def test_a_planted_slowdown_has_an_interval_around_it():
    c = compare_samples(_lat(1, 1000), _lat(2, 1100))
    assert c.verdict == "slower" and c.basis == "blocks"
    assert c.ci_low < 0.10 < c.ci_high
    assert c.change == pytest.approx(0.10, abs=0.02)
    faster = compare_samples(_lat(3, 1000), _lat(4, 800))
    assert faster.verdict == "faster" and faster.ci_high < 0


def test_aa_pairs_are_unchanged():
    """Same distribution on both sides: count how often a change is claimed (false alarms)."""
    verdicts = [compare_samples(_lat(10 + i, 1000), _lat(100 + i, 1000)).verdict for i in range(40)]
    false_alarms = sum(v != "unchanged" for v in verdicts)
    print(f"A/A run pairs: {false_alarms}/40 claimed a change")
    assert false_alarms <= 1


def test_a_tiny_but_significant_shift_is_below_the_threshold():
    c = compare_samples(_lat(5, 1000, n=1500, cv=0.01), _lat(6, 1008, n=1500, cv=0.01))
    assert c.ci_low > 0  # the shift is real...
    assert c.verdict == "unchanged"  # ...and smaller than 2 %, so not worth a report


def test_same_inputs_same_answer():
    a, b = _lat(7, 1000), _lat(8, 1030)
    assert compare_samples(a, b) == compare_samples(a, b)


def test_summary_only_measurements_compare_p50s():
    a = Measurement(run_id="a", device="phone", model="m", variant="fp32", status="ok", p50_us=1000.0)
    b = Measurement(run_id="b", device="phone", model="m", variant="fp32", status="ok", p50_us=1800.0)
    c = compare_measurements(a, b)
    assert (c.verdict, c.basis, c.ci_low) == ("slower", "p50 only", None)
    # issue 22: +20 % with one run a side is within what two runs of one build differ by on a shared host
    b2 = Measurement(run_id="b", device="phone", model="m", variant="fp32", status="ok", p50_us=1200.0)
    assert compare_measurements(a, b2).verdict == "inconclusive"


def test_compare_runs_names_missing_and_failed_keys():
    a = synthetic_rows("a", n=60)[:3]
    b = synthetic_rows("b", n=60, seed=1)[1:4]
    b[0] = Measurement(run_id="b", device=b[0].device, model=b[0].model, variant=b[0].variant, status="error",
                       error="device offline")
    by_key = {(c.device, c.model, c.variant): c for c in compare_runs(a, b)}
    assert by_key[a[0].key].status == "only in A"
    assert by_key[b[2].key].status == "only in B"
    assert by_key[b[0].key].status == "error in B"
    assert by_key[a[2].key].status == "compared" and by_key[a[2].key].accuracy_name == "accuracy"


@pytest.fixture
def two_runs(tmp_path):
    db = tmp_path / "results.db"
    slow = {("rpi5", "srcnn", "int8"): 1.8}  # beyond the one-run noise of a shared host (issue 22)
    store_run(db, "night-1", synthetic_rows("night-1", seed=1, n=120), created_at=1_700_000_000)
    store_run(db, "night-2", synthetic_rows("night-2", seed=2, n=120, slow=slow), created_at=1_700_086_400)
    return db


def test_compare_command_marks_the_slower_key(two_runs, capsys):
    assert main(["compare", "night-1", "night-2", "--db", str(two_runs), "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    verdicts = {(i["device"], i["model"], i["variant"]): i["verdict"] for i in items}
    assert verdicts.pop(("rpi5", "srcnn", "int8")) == "slower"
    # one run a side: the rest cannot be told from run-to-run noise (issue 22), so no "unchanged" either
    assert set(verdicts.values()) == {"inconclusive"}
    assert main(["compare", "night-1", "night-2", "--db", str(two_runs), "--fail-on-slower"]) == 1
    out = capsys.readouterr().out
    assert "slower" in out and "11 inconclusive" in out and "inconclusive: one run per side" in out


def test_compare_unknown_run_is_one_clear_line(two_runs, capsys):
    assert main(["compare", "night-1", "nope", "--db", str(two_runs)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no run with id 'nope'" in err


def test_compare_memory_energy_accuracy_beside(tmp_path):
    a = make_measurement("a", "jetson", "m", "int8", median_us=5000, power_mw=3000, accuracy=0.90, seed=1)
    b = make_measurement("b", "jetson", "m", "int8", median_us=5000, power_mw=3600, accuracy=0.88, seed=2,
                         size_bytes=800_000)
    (c,) = compare_runs([a], [b])
    assert c.energy_b_mj > c.energy_a_mj
    assert (c.accuracy_a, c.accuracy_b) == (0.90, 0.88)
    assert c.rss_b_mb > c.rss_a_mb
