"""`compare` on real-shaped data: autocorrelated samples, run-to-run variance, repeats, validity flags.

Each test here failed on the sample-bootstrap compare (independent samples, subsampling above 1000,
a Mann-Whitney p-value beside, flags ignored).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from harness.statistics.compare import (COMPARISON_HEADERS, LatencyChange, compare_measurements, compare_runs,
                                        compare_samples, comparison_rows)
from harness.statistics.latency import summarize
from harness.store.results import Measurement, Validity
from tests.fixtures_web import make_measurement


def _ar1(seed: int, median: float, n: int, rho: float, sd: float, offset: float = 0.0) -> np.ndarray:
    """Log-latency as an AR(1) series: consecutive inferences share state (caches, clocks, heat)."""
    rng = np.random.default_rng(seed)
    e = rng.normal(0.0, sd * np.sqrt(1 - rho * rho), n)
    x = np.empty(n)
    x[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        x[i] = rho * x[i - 1] + e[i]
    return median * np.exp(x + offset)


def _row(run_id: str, samples: np.ndarray, *, valid: bool = True, variant: str = "fp32") -> Measurement:
    s = summarize([float(x) for x in samples])
    return Measurement(run_id=run_id, device="host", model="m", variant=variant, status="ok",
                       latencies_us=tuple(float(x) for x in samples), p50_us=s.p50_us, p90_us=s.p90_us,
                       p99_us=s.p99_us, mean_us=s.mean_us, cv=s.cv,
                       validity=Validity(True, True, valid, True, True))


def test_shown_medians_are_the_stored_p50_even_for_long_runs():
    a = make_measurement("a", "host", "m", "fp32", median_us=1000, n=5000, seed=1, cv=0.2)
    b = make_measurement("b", "host", "m", "fp32", median_us=1000, n=4000, seed=2, cv=0.2)
    c = compare_measurements(a, b)
    assert c.median_a_us == a.p50_us and c.median_b_us == b.p50_us
    assert (c.n_a, c.n_b) == (5000, 4000)


def test_autocorrelated_aa_pairs_are_rarely_called_faster_or_slower():
    """Strongly autocorrelated runs (rho 0.95): their medians wander by a few percent. Treating the
    samples as independent (block 1, the old bootstrap) gives a narrow interval and a verdict for 24 of
    60 A/A pairs; blocks of consecutive samples widen it. One run cannot show the run-to-run variance,
    so single-run intervals stay somewhat optimistic: `--repeat` is the real answer (next test)."""
    pairs = [(_ar1(i, 1000, 400, 0.95, 0.05), _ar1(1000 + i, 1000, 400, 0.95, 0.05)) for i in range(60)]
    blocks = sum(compare_samples(a, b).verdict in ("faster", "slower") for a, b in pairs)
    independent = sum(compare_samples(a, b, block=1).verdict in ("faster", "slower") for a, b in pairs)
    print(f"autocorrelated A/A: blocks {blocks}/60, independent samples {independent}/60 claimed a change")
    assert blocks <= 10 and 2 * blocks <= independent


def test_run_to_run_variance_is_measured_with_repeats():
    """Each run sits at its own level (sd 4 %): A/A with 5 repeats a side stays unchanged, and a 15 %
    slowdown is still found."""
    rng = np.random.default_rng(7)

    def runs(tag: str, k: int, factor: float) -> list[Measurement]:
        return [_row(f"{tag}{i}", _ar1(int(rng.integers(1 << 30)), 1000 * factor, 200, 0.3, 0.03,
                                       offset=float(rng.normal(0, 0.04)))) for i in range(k)]

    aa = [compare_runs(runs("a", 5, 1.0), runs("b", 5, 1.0))[0].latency for _ in range(30)]
    assert all(c.basis == "repeats" and (c.repeats_a, c.repeats_b) == (5, 5) for c in aa)
    false_alarms = sum(c.verdict in ("faster", "slower") for c in aa)
    print(f"A/A with 5 repeats and 4 % run-to-run sd: {false_alarms}/30 claimed a change")
    assert false_alarms <= 1
    found = [compare_runs(runs("a", 5, 1.0), runs("b", 5, 1.15))[0].latency.verdict for _ in range(10)]
    assert found.count("slower") >= 9


def test_repeats_use_every_row_of_a_key():
    rows_a = [_row("a", _ar1(i, 1000, 100, 0.0, 0.02)) for i in range(3)]
    rows_b = [_row("b", _ar1(10 + i, 1300, 100, 0.0, 0.02)) for i in range(3)]
    (c,) = compare_runs(rows_a, rows_b)
    assert c.latency.basis == "repeats" and c.latency.n_a == 300 and c.verdict == "slower"
    assert c.latency.median_a_us == float(np.median([m.p50_us for m in rows_a]))
    # a failed repeat is left out; the others still count
    failed = Measurement(run_id="b", device="host", model="m", variant="fp32", status="error", error="x")
    (c,) = compare_runs(rows_a, rows_b + [failed])
    assert c.latency.repeats_b == 3 and c.verdict == "slower"


def test_flagged_rows_are_inconclusive_never_faster_or_slower():
    a = _row("a", _ar1(1, 1000, 300, 0.0, 0.02), valid=False)
    b = _row("b", _ar1(2, 1800, 300, 0.0, 0.02))  # +80 %: beyond one run's noise on a shared host (issue 22)
    (c,) = compare_runs([a], [b])
    assert c.verdict == "inconclusive" and c.latency.change > 0.7
    assert "A flagged cv" in c.latency.reason
    (cells,) = comparison_rows([c])
    assert cells[3] == "inconclusive" and "A flagged cv" in " ".join(cells)
    ok = dataclasses.replace(a, validity=Validity(True, True, True, True, True))
    assert compare_runs([ok], [b])[0].verdict == "slower"


def test_no_mann_whitney_p_value_is_shown():
    assert "MWU p" not in COMPARISON_HEADERS and "basis" in COMPARISON_HEADERS
    assert "p_value" not in {f.name for f in dataclasses.fields(LatencyChange)}


def test_aa_on_this_host_three_runs_a_side_is_never_faster_or_slower(tmp_path, tiny_tflite, isolated_cache):
    """Six real runs of one build on this (shared, noisy) host, three a side: run-to-run variance is
    measured, so the verdict is unchanged (or inconclusive when rows are flagged), never a change."""
    from harness.orchestration import orchestrate
    from harness.planning.config import parse_devices
    from harness.planning.plan import make_plan

    devices = parse_devices({"devices": [{"name": "local", "kind": "local"}]})
    plan = make_plan(devices, models=[str(tiny_tflite)], variants=["fp32"], peak_probe=False,
                     overrides={"min_runs": 50, "min_s": 0.3, "warmup_s": 0.1, "cooldown_s": 0.0})
    runs = [orchestrate.run(plan, tmp_path / "r.db", cache_dir=tmp_path / "art").results for _ in range(6)]
    a = [m for r in runs[0::2] for m in r]
    b = [m for r in runs[1::2] for m in r]
    (c,) = compare_runs(a, b)
    single = compare_runs(runs[0], runs[1])[0]
    print(f"A/A on this host: 3 runs a side {c.verdict} {c.latency.change:+.1%} "
          f"[{c.latency.ci_low:+.1%}, {c.latency.ci_high:+.1%}]; one run a side {single.verdict} "
          f"{single.latency.change:+.1%}")
    assert c.latency.basis == "repeats" and c.verdict in ("unchanged", "inconclusive")
