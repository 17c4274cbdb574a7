"""Step detection on synthetic series: known steps are found where they are, A/A series stay quiet."""
from __future__ import annotations

import numpy as np
import pytest

from harness.statistics.regression import _l1_costs, detect_regressions, detect_steps

N_AA = 200  # A/A series per noise model


def _noisy(rng: np.random.Generator, n: int, cv: float = 0.02, outliers: float = 0.0) -> np.ndarray:
    y = 1000.0 * (1 + cv * rng.standard_normal(n))
    if outliers:
        hit = rng.random(n) < outliers
        y[hit] *= 1 + rng.uniform(0.1, 0.4, hit.sum())  # a busy machine: some nights much slower
    return y


def test_l1_costs_match_brute_force():
    rng = np.random.default_rng(3)
    y = rng.normal(10, 2, 23)
    cost, med = _l1_costs(y)
    for left in range(len(y)):
        for right in range(left, len(y)):
            seg = y[left:right + 1]
            assert med[left, right] == pytest.approx(np.median(seg))
            assert cost[left, right] == pytest.approx(np.abs(seg - np.median(seg)).sum())


@pytest.mark.parametrize("at,factor", [(10, 1.10), (25, 1.08), (32, 1.20), (20, 0.85)])
def test_a_known_step_is_found_where_it_is(at, factor):
    found = 0
    for seed in range(40):
        y = _noisy(np.random.default_rng(seed), 40)
        y[at:] *= factor
        steps = [s for s in detect_regressions(y) if s.confirmed]
        kind = "regression" if factor > 1 else "improvement"
        if any(abs(s.index - at) <= 1 and s.kind == kind and s.change == pytest.approx(factor - 1, abs=0.03)
               for s in steps):
            found += 1
    assert found >= 38, f"step x{factor} at {at}: found in {found}/40 series"


def test_two_steps_and_their_levels():
    y = _noisy(np.random.default_rng(7), 45)
    y[15:] *= 1.15
    y[30:] /= 1.15
    steps = detect_regressions(y)
    assert [(s.kind, s.confirmed) for s in steps] == [("regression", True), ("improvement", True)]
    assert abs(steps[0].index - 15) <= 1 and abs(steps[1].index - 30) <= 1
    assert steps[0].change == pytest.approx(0.15, abs=0.04)
    assert steps[1].after == pytest.approx(steps[0].before, rel=0.03)


@pytest.mark.parametrize("name,cv,outliers", [("gaussian 2%", 0.02, 0.0), ("gaussian 5%", 0.05, 0.0),
                                               ("2% with 5% slow outlier nights", 0.02, 0.05)])
def test_aa_series_raise_few_false_alarms(name, cv, outliers, record_property):
    confirmed = suspected = 0
    rng = np.random.default_rng(2024)
    for _ in range(N_AA):
        steps = detect_regressions(_noisy(rng, 40, cv, outliers))
        confirmed += any(s.confirmed for s in steps)
        suspected += any(not s.confirmed for s in steps)
    record_property("false_alarms", f"{name}: {confirmed} confirmed, {suspected} suspected of {N_AA}")
    print(f"A/A {name}: {confirmed} confirmed and {suspected} suspected false alarms in {N_AA} series")
    assert confirmed <= 2, f"{name}: {confirmed}/{N_AA} A/A series reported a confirmed step"
    assert suspected <= 12, f"{name}: {suspected}/{N_AA} A/A series had a suspected step"


def test_a_single_slow_night_in_the_middle_is_not_a_step():
    y = _noisy(np.random.default_rng(11), 40)
    y[20] *= 1.5
    assert detect_regressions(y) == []


def test_the_newest_night_alone_is_only_suspected():
    y = _noisy(np.random.default_rng(5), 30)
    y[-1] *= 1.25
    steps = detect_regressions(y)
    assert len(steps) == 1
    assert steps[0].index == 29 and steps[0].kind == "regression" and not steps[0].confirmed


def test_higher_is_better_turns_a_drop_into_a_regression():
    y = 0.9 * (1 + 0.005 * np.random.default_rng(1).standard_normal(30))
    y[18:] -= 0.06
    steps = detect_regressions(y, higher_is_better=True)
    assert steps and steps[0].kind == "regression" and abs(steps[0].index - 18) <= 1


def test_flat_and_short_series():
    assert detect_regressions([5.0] * 20) == []
    assert detect_steps([]) == []
    assert len(detect_steps([1.0, 2.0])) == 1
    with pytest.raises(ValueError, match="NaN"):
        detect_steps([1.0, float("nan"), 1.0])
