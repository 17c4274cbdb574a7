"""The matmul peak probe runs more than once; its swing is shown, and an unsteady probe is no denominator."""
from __future__ import annotations


from harness.orchestration import orchestrate
from harness.orchestration.measure import peak_swing, peak_swing_metrics
from harness.planning.config import parse_devices
from harness.planning.plan import make_plan
from tests.fixtures_web import make_measurement


def _with_peak(fraction: float = 0.2):
    m = make_measurement("r", "pi", "m", "fp32", median_us=1000)
    return {**m.metrics, "peak_kind": "fp32", "device_peak_gflops": 505.0, "achieved_gflops": 101.0,
            "fraction_of_peak": fraction}


def test_an_unsteady_probe_is_reported_and_not_divided_by():
    metrics = peak_swing_metrics(_with_peak(), {"fp32": [162.0, 505.0]})
    assert metrics["device_peak_rounds_gflops"] == [162.0, 505.0]
    assert metrics["device_peak_swing"] > 2
    assert "fraction_of_peak" not in metrics and "swung" in metrics["fraction_of_peak_note"]


def test_a_steady_probe_keeps_the_fraction_and_shows_its_swing():
    metrics = peak_swing_metrics(_with_peak(), {"fp32": [490.0, 505.0]})
    assert metrics["fraction_of_peak"] == 0.2 and metrics["device_peak_swing"] == round(505 / 490 - 1, 4)
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


def test_share_of_peak_is_never_over_100_percent(tmp_path):
    """Issue 22: 'share of peak' printed 193-260 % when the matmul probe ran on a busy host. A probe
    below the model's own achieved rate is no peak: no share, a note saying why, and the table says so."""
    import time

    from devices.target import RawRun
    from devices.runner_result import RunnerResult
    from harness.orchestration.measure import to_measurement
    from harness.planning.config import BenchSettings
    from harness.reporting.tables import compute_text

    class Art:
        def __init__(self, path):
            self.model, self.variant, self.path = path.name, "fp32", path
            self.metrics = {"size_bytes": 10, "macs": 50_000_000}

    model = tmp_path / "m.tflite"
    model.write_bytes(b"x")
    lat = [1000.0 + (i % 7) for i in range(60)]  # 1 ms for 50 M MACs: 100 GFLOP/s achieved
    raw = RawRun(RunnerResult.from_json({"latencies_us": lat, "duration_s": 1.0, "runtime": "tflite", "threads": 2}))
    bench = BenchSettings(min_runs=50, min_s=0.0, cooldown_s=0.0)
    busy = to_measurement("r", "host", Art(model), bench, raw, time.time(), peak_gflops={"fp32": 52.0})
    assert busy.metrics["achieved_gflops"] > 52.0
    assert "fraction_of_peak" not in busy.metrics and "ran below" in busy.metrics["fraction_of_peak_note"]
    assert compute_text(busy.metrics).endswith("(peak probe unreliable)")
    fine = to_measurement("r", "host", Art(model), bench, raw, time.time(), peak_gflops={"fp32": 400.0})
    assert 0 < fine.metrics["fraction_of_peak"] <= 1.0 and "of fp32" in compute_text(fine.metrics)
    # a row stored before this check, with a share over 100 %, is not printed as one
    assert "%" not in compute_text({"achieved_gflops": 130.0, "fraction_of_peak": 2.6, "peak_kind": "fp32"})
