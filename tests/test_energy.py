"""Energy over the timed window only (trapezoid, idle baseline, few-sample flag) and clocks that fell."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from devices.target import RawRun
from devices.runner_result import RunnerResult
from harness.orchestration.measure import to_measurement
from harness.planning.config import BenchSettings
from harness.statistics.energy import MIN_WINDOW_SAMPLES, integrate_window, window_energy
from harness.statistics.throttle import clock_fell

_ART = SimpleNamespace(model="m", variant="fp32", metrics={})
T0 = 1_700_000_000.0  # host wall clock of the job's start


def test_trapezoid_over_the_window_only():
    # 5000 mW while the model loads (t < 10), 1000 mW in the timed window [10, 20], 5000 mW after.
    samples = [(t * 0.5, 5000.0 if t * 0.5 < 10 or t * 0.5 > 20 else 1000.0) for t in range(0, 61)]
    e = window_energy(samples, 10.0, 20.0)
    assert e.energy_mj == pytest.approx(1000.0 * 10.0) and e.avg_power_mw == pytest.approx(1000.0)
    assert e.samples_in_window == 21 and not e.few_samples


def test_window_edges_are_interpolated_between_samples():
    # A ramp 0 -> 1000 mW over [0, 10]; the integral over [2.5, 7.5] is 500 mW x 5 s.
    assert integrate_window([(0.0, 0.0), (10.0, 1000.0)], 2.5, 7.5) == pytest.approx(2500.0)


def test_idle_baseline_is_subtracted_and_few_samples_flagged():
    samples = [(10.0 + i, 3000.0) for i in range(3)]
    e = window_energy(samples, 10.0, 12.0, idle_samples=[(0.0, 1000.0), (1.0, 1200.0), (2.0, 9000.0)])
    assert e.idle_power_mw == 1200.0  # the median: one spike at rest does not move it
    assert e.energy_mj == pytest.approx((3000.0 - 1200.0) * 2.0)
    assert e.samples_in_window == 3 < MIN_WINDOW_SAMPLES and e.few_samples


def test_no_sample_near_the_window_is_no_energy():
    assert window_energy([(0.0, 1.0), (1.0, 1.0)], 50.0, 60.0) is None


def test_measurement_energy_uses_the_runner_window_on_the_host_clock():
    """The board's clock runs 100 s behind the host; its window is moved by the measured offset."""
    lat = [1000.0] * 1000  # 1000 inferences of 1 ms: a 1 s window
    board_window = [T0 + 5.0 - 100.0, T0 + 6.0 - 100.0]
    power = [(T0 + i * 0.1, 4000.0 if not 5.0 <= i * 0.1 <= 6.0 else 2000.0, "hwmon:ina219") for i in range(100)]
    raw = RawRun(RunnerResult.from_json({"latencies_us": lat, "duration_s": 1.0, "timed_window_unix_s": board_window}),
                 power_samples=power, clock_offset_s=100.0)
    m = to_measurement("r", "pi", _ART, BenchSettings(), raw, T0)
    assert m.energy_per_inference_mj == pytest.approx(2000.0 * 1.0 / 1000, rel=0.05)
    assert m.avg_power_mw == pytest.approx(2000.0, rel=0.05) and m.energy_source == "hwmon:ina219"
    assert m.power_samples_in_window >= 9 and "energy_few_samples" not in m.extra
    assert m.extra["power_window"]["timed_loop_s"] == [5.0, 6.0]
    assert m.power_samples[0].t_s == 0.0 and len(m.power_samples) == 100  # every raw sample kept


def test_a_window_with_few_power_samples_is_flagged_on_the_row():
    lat = [1000.0] * 1000
    power = [(T0 + i * 0.5, 2000.0, "battery") for i in range(10)]  # 2 samples per second
    raw = RawRun(RunnerResult.from_json({"latencies_us": lat, "duration_s": 1.0, "timed_window_unix_s": [T0 + 2.0, T0 + 3.0]}),
                 power_samples=power, clock_offset_s=0.0)
    m = to_measurement("r", "phone", _ART, BenchSettings(), raw, T0)
    assert m.power_samples_in_window == 3 and m.energy_per_inference_mj == pytest.approx(2.0)
    assert any("3 power samples" in n for n in m.validity.notes) and "energy_few_samples" in m.extra


def test_measurement_without_a_known_window_has_no_energy():
    raw = RawRun(RunnerResult.from_json({"latencies_us": [1000.0] * 60, "duration_s": 1.0, "timed_window_unix_s": [1.0, 2.0]}),
                 power_samples=[(T0, 1000.0, "battery"), (T0 + 1, 1000.0, "battery")], clock_offset_s=None)
    m = to_measurement("r", "phone", _ART, BenchSettings(), raw, T0)
    assert m.energy_per_inference_mj is None and "timed window unknown" in m.extra["energy_invalid"]


def test_clock_fell_during_the_window():
    before = [{"cpu0": {"cur": 600, "max": 1800}}]
    steady = [{"cpu0": {"cur": 1800, "max": 1800}}, {"cpu0": {"cur": 1750, "max": 1800}}]
    assert clock_fell(before, steady) == (False, None)  # a governor raising the clock from idle is no fall
    fell, why = clock_fell(before, steady + [{"cpu0": {"cur": 1200, "max": 1800}}])
    assert fell and "1800 to 1200 MHz" in why
    capped, why = clock_fell(before, [{"cpu0": {"cur": 1500, "max": 1500}}])
    assert capped and "cap fell from 1800 to 1500" in why
    assert clock_fell(before, []) == (None, None)


def test_a_row_is_flagged_when_the_runner_saw_the_clock_fall():
    rows = [[0.0, "before", {"cpu0": {"cur": 1500, "max": 1500}}], [0.5, "run", {"cpu0": {"cur": 1500, "max": 1500}}],
            [1.0, "run", {"cpu0": {"cur": 700, "max": 1500}}]]
    raw = RawRun(RunnerResult.from_json({"latencies_us": [1000.0] * 60, "duration_s": 1.0, "cpu_freq": rows}))
    m = to_measurement("r", "pi", _ART, BenchSettings(), raw, T0)
    assert m.cpu_clock_fell is True and not m.validity.no_throttling
    assert any("1500 to 700 MHz" in n for n in m.validity.notes)
    steady = RawRun(RunnerResult.from_json({"latencies_us": [1000.0] * 60, "duration_s": 1.0, "cpu_freq": rows[:2]}))
    assert to_measurement("r", "pi", _ART, BenchSettings(), steady, T0).cpu_clock_fell is False


def test_tegrastats_clocks_inside_the_window_flag_a_jetson_row():
    freq = [(T0 + 0.5, 1479.0), (T0 + 2.0, 1479.0), (T0 + 3.0, 921.0), (T0 + 9.0, 300.0)]
    raw = RawRun(RunnerResult.from_json({"latencies_us": [1000.0] * 60, "duration_s": 3.0,
                         "timed_window_unix_s": [T0 + 1.0, T0 + 4.0]}), clock_offset_s=0.0, freq_samples=freq)
    assert to_measurement("r", "nano", _ART, BenchSettings(), raw, T0).cpu_clock_fell is True
    calm = RawRun(RunnerResult.from_json({"latencies_us": [1000.0] * 60, "duration_s": 3.0,
                          "timed_window_unix_s": [T0 + 1.0, T0 + 2.5]}), clock_offset_s=0.0, freq_samples=freq)
    assert to_measurement("r", "nano", _ART, BenchSettings(), calm, T0).cpu_clock_fell is False  # 300 is after it


def test_board_ram_is_its_own_column():
    raw = RawRun(RunnerResult.from_json({"latencies_us": [1000.0] * 60, "duration_s": 1.0, "peak_rss_mb": 80.0}),
                 memory={"board_ram_used_peak_mb": 2411.0})
    m = to_measurement("r", "nano", _ART, BenchSettings(), raw, T0)
    assert m.board_ram_used_peak_mb == 2411.0 and m.peak_rss_mb == 80.0 and m.end_rss_mb is None
