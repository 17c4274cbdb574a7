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
