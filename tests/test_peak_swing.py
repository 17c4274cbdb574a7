"""The matmul peak probe runs more than once; its swing is shown, and an unsteady probe is no denominator."""
from __future__ import annotations

import dataclasses

from harness.orchestration import orchestrate
from harness.orchestration.orchestrate import peak_swing, with_peak_swing
from harness.planning.config import parse_devices
from harness.planning.plan import make_plan
from tests.fixtures_web import make_measurement


def _with_peak(fraction: float = 0.2):
    m = make_measurement("r", "pi", "m", "fp32", median_us=1000)
    return dataclasses.replace(m, metrics={**m.metrics, "peak_kind": "fp32", "device_peak_gflops": 505.0,
                                           "achieved_gflops": 101.0, "fraction_of_peak": fraction})


def test_an_unsteady_probe_is_reported_and_not_divided_by():
    m = with_peak_swing(_with_peak(), {"fp32": [162.0, 505.0]})
    assert m.metrics["device_peak_rounds_gflops"] == [162.0, 505.0]
    assert m.metrics["device_peak_swing"] > 2
    assert "fraction_of_peak" not in m.metrics and "swung" in m.metrics["fraction_of_peak_note"]


def test_a_steady_probe_keeps_the_fraction_and_shows_its_swing():
    m = with_peak_swing(_with_peak(), {"fp32": [490.0, 505.0]})
    assert m.metrics["fraction_of_peak"] == 0.2 and m.metrics["device_peak_swing"] == round(505 / 490 - 1, 4)
    assert peak_swing([1.0]) is None


def test_a_real_run_probes_twice_and_stores_the_rounds(tmp_path, tiny_tflite, isolated_cache):
    devices = parse_devices({"devices": [{"name": "local", "kind": "local"}]})
    plan = make_plan(devices, models=[str(tiny_tflite)], variants=["fp32"],
                     overrides={"min_runs": 5, "min_s": 0.1, "warmup_s": 0.0, "cooldown_s": 0.0})
    probes = []
    summary = orchestrate.run(plan, tmp_path / "r.db", cache_dir=tmp_path / "art",
                              events=lambda kind, p: probes.append(p) if kind == "probe_finished" else None)
    (m,) = summary.results
    assert len(m.metrics["device_peak_rounds_gflops"]) == 2 and "device_peak_swing" in m.metrics
    assert {p["probe"] for p in probes} == {"fp32", "int8"} and all(len(p["rounds_gflops"]) == 2 for p in probes)
