"""Issue 22: `compare` answers, and is right when it does, on real samples of this shared host.

Each test failed on the compare before issue 22: an A/A pair of real runs made `--fail-on-slower` exit 1;
one unstable row among three vetoed its key; a flagged row of a busy host was not said to be one.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from harness.cli import main
from harness.statistics.compare import SINGLE_RUN_NOISE, SINGLE_RUN_REASON, compare_measurements, compare_runs
from harness.statistics.latency import summarize
from harness.store.results import Measurement, Validity
from tests.fixtures_web import store_run

FIXTURE = Path(__file__).parent / "fixtures" / "aa_pairs_real_host.json"


def _real_pairs() -> list[tuple[list[Measurement], list[Measurement]]]:
    data = json.loads(FIXTURE.read_text())
    return [([Measurement.from_dict(d) for d in p["a"]], [Measurement.from_dict(d) for d in p["b"]])
            for p in data["pairs"]]


def test_real_aa_pairs_never_fail_on_slower(tmp_path, capsys):
    """Real A/A pairs recorded on this host (same files, two runs minutes apart, valid rows): the
    sample-block interval called each of them slower (+3 % to +49 %) and --fail-on-slower exited 1."""
    pairs = _real_pairs()
    for i, (a, b) in enumerate(pairs):
        db = tmp_path / f"aa{i}.db"
        store_run(db, "run-a", [dataclasses.replace(m, run_id="run-a") for m in a], created_at=1_700_000_000)
        store_run(db, "run-b", [dataclasses.replace(m, run_id="run-b") for m in b], created_at=1_700_000_600)
        assert main(["compare", "run-a", "run-b", "--db", str(db), "--fail-on-slower"]) == 0
        out = capsys.readouterr().out
        assert SINGLE_RUN_REASON in out and "--repeat 3" in out
        for c in compare_runs(a, b):
            assert c.verdict == "inconclusive" and c.latency.reason.startswith(SINGLE_RUN_REASON)
            assert abs(c.latency.change) <= SINGLE_RUN_NOISE


def _ar1(seed: int, median: float, n: int = 200, sd: float = 0.03) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return median * np.exp(rng.normal(0.0, sd, n))


def _row(run: str, rep: int, median: float, *, seed: int, stable: bool = True,
         host_quiet: bool | None = None) -> Measurement:
    x = _ar1(seed, median)
    s = summarize([float(v) for v in x])
    return Measurement(run_id=run, device="host", model="m", variant="fp32", status="ok", repeat_index=rep,
                       latencies_us=tuple(float(v) for v in x), p50_us=s.p50_us, cv=s.cv,
                       validity=Validity(True, True, True, True, True, stable=stable, host_quiet=host_quiet))


def test_one_unstable_row_among_three_does_not_veto_the_key():
    a = [_row("a", i, 1000 * (1 + 0.01 * i), seed=i) for i in range(3)]
    b = [_row("b", i, 1300 * (1 + 0.01 * i), seed=10 + i, stable=(i != 1)) for i in range(3)]
    (c,) = compare_runs(a, b)
    assert c.verdict == "slower" and c.latency.basis == "repeats"
    assert (c.latency.repeats_a, c.latency.repeats_b) == (3, 2)
    assert c.latency.left_out == ("B run 2: unstable",)
    assert "used 3/3 A and 2/3 B runs" in c.latency.reason
    # the same with no slowdown: unchanged, not inconclusive
    same = [_row("b", i, 1000 * (1 + 0.01 * i), seed=20 + i, stable=(i != 1)) for i in range(3)]
    assert compare_runs(a, same)[0].verdict == "unchanged"
    # most of a side's runs flagged: the key is inconclusive, and says why
    worse = [dataclasses.replace(m, validity=Validity(True, True, True, True, True, stable=False)) for m in b[:2]]
    (c,) = compare_runs(a, worse + b[2:])
    assert c.verdict == "inconclusive" and "B flagged unstable" in c.latency.reason


def test_a_busy_host_row_is_flagged_with_its_figure_and_left_out():
    from harness.orchestration.hostload import HostNoise, with_host_noise

    row = _row("b", 1, 1300, seed=3)
    busy = with_host_noise(row, HostNoise(others_cpu_pct=71.5, steal_pct=0.0, run_queue=9))
    assert busy.host_others_cpu_pct == 71.5 and busy.host_run_queue == 9
    assert not busy.validity.valid and "host busy" in busy.validity.flags()
    assert any("other processes used 72 % of the CPUs" in n for n in busy.validity.notes)
    quiet = with_host_noise(row, HostNoise(others_cpu_pct=3.0, steal_pct=0.0, run_queue=2))
    assert quiet.validity.valid and quiet.validity.host_quiet is True
    a = [_row("a", i, 1000, seed=i) for i in range(3)]
    b = [_row("b", 0, 1300, seed=5), busy, _row("b", 2, 1300, seed=6)]
    (c,) = compare_runs(a, b)
    assert c.verdict == "slower" and c.latency.left_out == ("B run 2: host busy",)
    # one run a side, B on a busy host: inconclusive whatever the change
    assert compare_measurements(a[0], busy).verdict == "inconclusive"


def test_one_run_per_side_answers_only_beyond_the_host_noise():
    a = _row("a", 0, 1000, seed=1)
    small = compare_measurements(a, _row("b", 0, 1200, seed=2))
    assert small.verdict == "inconclusive" and small.reason.startswith(SINGLE_RUN_REASON)
    big = compare_measurements(a, _row("b", 0, 1000 * (1 + 2 * SINGLE_RUN_NOISE), seed=2))
    assert big.verdict == "slower" and big.reason is None


def test_the_report_carries_the_same_warnings_as_the_command():
    from harness.reporting.report import render_html, render_markdown
    from harness.store.results import RunInfo

    a, b = _real_pairs()[0]
    items = compare_runs(a, b)
    run = RunInfo("run-b", 1_700_000_600, "host", None, {}, {}, status="finished")
    for text in (render_markdown(run, b, comparison=items, baseline_id="run-a"),
                 render_html(run, b, comparison=items, baseline_id="run-a")):
        assert SINGLE_RUN_REASON in text and "--repeat 3" in text


def test_an_interval_holding_zero_is_unchanged_only_within_the_threshold():
    """Stop 36's rule (compare._verdict): a change beyond the threshold whose interval holds zero is
    inconclusive; within the threshold it stays unchanged, so A/A pairs of this host are not all turned
    inconclusive (benchmarks/verdicts.py --rules: no real A/A key moved). Three runs a side, one run of A
    30 % off the others, medians fixed: the t interval holds zero in the first two cases."""
    from harness.statistics.compare import compare_repeats

    a = [1000.0, 1010.0, 1300.0]
    within = compare_repeats(a, [1050.0, 1060.0, 1365.0], threshold=0.10)  # +5 %, interval about -25..+47 %
    assert within.ci_low < 0 < within.ci_high and within.verdict == "unchanged"
    beyond = compare_repeats(a, [1200.0, 1212.0, 1560.0], threshold=0.10)  # +20 %, interval about -14..+68 %
    assert beyond.ci_low < 0 < beyond.ci_high and beyond.verdict == "inconclusive"  # was `unchanged`
    slower = compare_repeats(a, [1500.0, 1510.0, 1520.0], threshold=0.10)
    assert slower.ci_low > 0 and slower.verdict == "slower"
