"""Pure statistics: percentiles agree with numpy, validity flags trip where they should."""
from __future__ import annotations

import numpy as np
import pytest

from harness.statistics.latency import judge, percentile, summarize


@pytest.mark.parametrize("n", [1, 2, 7, 50, 1001])
def test_percentiles_match_numpy(n):
    rng = np.random.default_rng(n)
    xs = rng.lognormal(3, 0.4, n).tolist()
    s = summarize(xs)
    for q, got in ((50, s.p50_us), (90, s.p90_us), (99, s.p99_us)):
        assert got == pytest.approx(float(np.percentile(xs, q)))
    assert s.mean_us == pytest.approx(float(np.mean(xs)))
    if n > 1:
        assert s.std_us == pytest.approx(float(np.std(xs, ddof=1)))
        assert s.cv == pytest.approx(float(np.std(xs, ddof=1) / np.mean(xs)))


def test_percentile_rejects_bad_input():
    with pytest.raises(ValueError):
        summarize([])
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def _judge(**kw):
    base = dict(runs=60, duration_s=1.2, cv=0.02, min_runs=50, min_s=1.0, cv_threshold=0.1, throttled=False,
                ops_total=10, ops_delegated=10, delegate="xnnpack")
    base.update(kw)
    return judge(**base)


def test_valid_when_all_checks_pass():
    v = _judge()
    assert v.valid and v.flags() == [] and v.notes == ()


@pytest.mark.parametrize(
    "kw, flag",
    [
        ({"runs": 49}, "runs"),
        ({"duration_s": 0.5}, "duration"),
        ({"cv": 0.25}, "cv"),
        ({"throttled": True}, "throttled"),
        ({"ops_delegated": 7}, "delegate"),
    ],
)
def test_each_check_flags(kw, flag):
    v = _judge(**kw)
    assert not v.valid and v.flags() == [flag] and len(v.notes) == 1


def test_no_delegate_is_not_a_partial_delegation():
    assert _judge(delegate="none", ops_delegated=0).valid


# ---- issue 10: percentiles as measured, robust stability, repeat spread --------------------------

from types import SimpleNamespace  # noqa: E402

from devices.target import RawRun  # noqa: E402
from devices.runner_result import RunnerResult  # noqa: E402
from harness.orchestration.measure import to_measurement  # noqa: E402
from harness.planning.config import BenchSettings  # noqa: E402

_ART = SimpleNamespace(model="m", variant="fp32", metrics={})


def _row(runner: dict, bench: BenchSettings | None = None, **raw):
    return to_measurement("r", "d", _ART, bench or BenchSettings(), RawRun(RunnerResult.from_json(runner), **raw), 1000.0)


def test_printed_summary_keeps_each_percentile_under_its_own_name():
    """benchmark_model prints p5/median/p95: p90 and p99 stay empty, never a copy of p95 or the mean."""
    m = _row({"summary": {"count": 60, "mean_us": 1000.0, "std_us": 40.0, "p5_us": 950.0, "p50_us": 990.0,
                          "p95_us": 1080.0, "min_us": 930.0, "max_us": 1200.0}, "duration_s": 1.5})
    assert (m.p5_us, m.p50_us, m.p95_us, m.min_us, m.max_us) == (950.0, 990.0, 1080.0, 930.0, 1200.0)
    assert m.p90_us is None and m.p99_us is None
    from harness.orchestration.measure import summary_from_dict

    bare = summary_from_dict({"count": 1, "mean_us": 500.0})
    assert (bare.p50_us, bare.p90_us, bare.p99_us, bare.min_us, bare.max_us) == (None, None, None, None, None)


def test_samples_give_every_percentile_including_p5_and_p95():
    xs = np.random.default_rng(1).lognormal(7, 0.05, 200).tolist()
    m = _row({"latencies_us": xs, "duration_s": 1.5})
    for q, got in ((5, m.p5_us), (95, m.p95_us), (99, m.p99_us)):
        assert got == pytest.approx(float(np.percentile(xs, q)))


def test_p99_from_fewer_than_100_runs_carries_a_note():
    xs = np.random.default_rng(2).normal(1000, 5, 60).tolist()
    few = _row({"latencies_us": xs, "duration_s": 1.5})
    assert any("p99 from 60 runs" in n for n in few.validity.notes) and few.validity.valid
    many = _row({"latencies_us": xs * 2, "duration_s": 1.5})
    assert not any("p99" in n for n in many.validity.notes)


def test_one_outlier_does_not_make_a_row_unstable_but_cv_is_kept():
    xs = [1000.0 + (i % 5) for i in range(99)] + [60000.0]
    m = _row({"latencies_us": xs, "duration_s": 1.5})
    assert m.cv > 0.5  # CV, kept as a column, is blown up by the one outlier
    assert m.robust_spread < 0.01 and m.validity.stable is True and m.validity.valid
    assert any("CV" in n and "outliers" in n for n in m.validity.notes)


def test_a_wide_spread_is_unstable():
    xs = np.random.default_rng(3).uniform(500, 1500, 200).tolist()
    m = _row({"latencies_us": xs, "duration_s": 1.5})
    assert m.validity.stable is False and not m.validity.valid and "unstable" in m.validity.flags()


def test_repeat_spread_of_medians():
    from harness.statistics.latency import repeat_spread

    s = repeat_spread([100.0, 102.0, 98.0, 101.0, 99.0])
    assert s.median_of_medians_us == 100.0 and s.spread == pytest.approx(0.04)
    assert s.mad_spread == pytest.approx(1.4826 * 1.0 / 100.0)
