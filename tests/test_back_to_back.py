"""benchmark_model's sustained windows, one function for phones and boards (devices/runtime/benchmark_model.py
`back_to_back`): the clock origin, the clocks' reader and the per-window zone reading are its parameters."""
from __future__ import annotations

import time

import pytest

from devices.runner_result import RunnerResult
from devices.runtime.benchmark_model import back_to_back
from devices.transport import TransportError
from harness.planning.config import BenchSettings
from harness.statistics.sustained import from_runner

BENCH = BenchSettings(sustained_s=0.6, sustained_window_s=0.1, timeout_s=30.0)


def _window(p50: float, fail_at: int | None = None, raise_at: int | None = None):
    """A stand-in for one benchmark_model run: 10 inferences of `p50` us, printed as statistics only."""
    seen: list[BenchSettings] = []

    def run_one(bench: BenchSettings) -> tuple[RunnerResult, dict[str, object]]:
        seen.append(bench)
        if raise_at is not None and len(seen) == raise_at:
            raise TransportError("link lost")
        if fail_at is not None and len(seen) == fail_at:
            return RunnerResult.failed("benchmark_model exited 1: boom"), {"command": "bm"}
        time.sleep(bench.min_s)
        return RunnerResult(runtime="tflite-benchmark_model", threads=2, delegate="xnnpack",
                            summary={"count": 10, "mean_us": p50, "p50_us": p50, "min_us": p50 - 1,
                                     "max_us": p50 + 1}), {"command": "bm"}
    return run_one, seen


def test_a_board_reads_zones_and_clocks_before_and_after_each_window_on_its_own_clock():
    run_one, seen = _window(100.0)
    zones = iter(range(40, 80))
    res, extra = back_to_back(run_one, BENCH, origin=None, read_clocks=lambda: {"cpu0": {"cur": 1800, "max": 1800}},
                              read_temps=lambda: {"cpu": float(next(zones))}, where=" on the board")
    n = len(res.windows)
    assert n >= 3 and [w[1] for w in res.windows] == [10 * (i + 1) for i in range(n)]
    assert res.summary == {"count": 10 * n, "mean_us": 100.0, "min_us": 99.0, "max_us": 101.0}
    assert res.temperatures[0][1] == "before" and len(res.temperatures) == n + 1
    assert res.cpu_freq[0][1] == "before" and res.cpu_freq[0][0] < res.windows[0][0]
    assert res.window_p50_us == (100.0,) * n and res.interrupted is False
    assert res.duration_s == pytest.approx(10 * n * 100.0 / 1e6)
    lo, hi = res.timed_window_unix_s or (0.0, 0.0)
    assert 0.5 < hi - lo < 5.0
    # each window is one short run of the tool: no warm-up, no sustained loop of its own, room to finish
    assert all(b.sustained_s is None and b.warmup_runs == 0 and b.min_s == 0.1 and b.timeout_s == 60.1
               for b in seen)
    assert extra["sustained_method"].startswith(f"{n} back-to-back benchmark_model runs of 0.1 s on the board")
    assert from_runner(res) is not None  # the host's sustained summary reads it


def test_a_phone_keeps_its_job_clock_and_leaves_the_zones_to_its_sampler():
    run_one, _ = _window(200.0)
    origin = time.monotonic() - 5.0  # the phone's job began 5 s ago (its sampler's t = 0)
    res, _ = back_to_back(run_one, BENCH, origin=origin, read_clocks=lambda: {"cpu0": {"cur": 2400}},
                          read_temps=None)
    assert res.temperatures == () and all(row[1] == "run" for row in res.cpu_freq)
    assert res.timed_start_s is not None and res.timed_start_s >= 5.0 and res.windows[0][0] > 5.0
    assert res.cpu_freq[0][2] == {"cpu0": {"cur": 2400}}


def test_a_failure_after_the_first_window_keeps_the_windows_and_says_why():
    run_one, _ = _window(100.0, fail_at=3)
    res, extra = back_to_back(run_one, BENCH, origin=None, read_clocks=dict, read_temps=None)
    assert len(res.windows) == 2 and res.interrupted is True and res.error is None
    assert extra["sustained_interrupted"] == "window 3: benchmark_model exited 1: boom"
    run_one, _ = _window(100.0, raise_at=2)
    res, extra = back_to_back(run_one, BENCH, origin=None, read_clocks=dict, read_temps=None)
    assert len(res.windows) == 1 and extra["sustained_interrupted"] == "window 2: link lost"


def test_a_first_window_that_fails_is_the_result_and_a_lost_link_is_raised():
    run_one, _ = _window(100.0, fail_at=1)
    res, _ = back_to_back(run_one, BENCH, origin=None, read_clocks=dict, read_temps=None)
    assert res.error == "benchmark_model exited 1: boom" and res.windows == ()
    run_one, _ = _window(100.0, raise_at=1)
    with pytest.raises(TransportError):
        back_to_back(run_one, BENCH, origin=None, read_clocks=dict, read_temps=None)


def test_a_lost_reading_costs_its_point_not_the_windows():
    def flaky() -> dict[str, float]:
        raise TransportError("ssh: zone unreadable")

    run_one, _ = _window(100.0)
    res, _ = back_to_back(run_one, BENCH, origin=None, read_clocks=lambda: {"cpu0": {"cur": 1}}, read_temps=flaky)
    assert res.windows and res.temperatures == () and len(res.cpu_freq) == len(res.windows) + 1
