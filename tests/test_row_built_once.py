"""The Measurement is built once with everything it says in hand (harness/orchestration/measure.py RowContext):
the peak probe's rounds, the host's noise, the device's own scores and who drove the device."""
from __future__ import annotations

from types import SimpleNamespace

from devices.job import RawRun
from devices.runner_result import RunnerResult
from harness.orchestration.hostload import HostNoise
from harness.orchestration.measure import RowContext, RowOrigin, error_measurement, to_measurement
from harness.planning.config import BenchSettings

ART = SimpleNamespace(model="m.tflite", variant="fp32", metrics={"macs": 5_000_000, "accuracy": 0.9,
                                                                  "accuracy_note": "host", "per_example": [1, 0]})
RAW = RawRun(RunnerResult(runtime="litert", threads=2, delegate="xnnpack", duration_s=0.06,
                          latencies_us=tuple(1000.0 + (i % 5) for i in range(60))))
BENCH = BenchSettings(min_runs=50, min_s=0.0)


def test_every_part_of_the_row_is_there_when_it_is_built():
    ctx = RowContext(peak_gflops={"fp32": 100.0}, peak_rounds={"fp32": [20.0, 100.0]},
                     noise=HostNoise(others_cpu_pct=60.0, steal_pct=0.0, run_queue=7), busy_pct=25.0,
                     scores={"accuracy": 0.8, "accuracy_source": "device"},
                     origin=RowOrigin(host="agent-1", device_facts={"soc": "x"}))
    m = to_measurement("r", "pi", ART, BENCH, RAW, 0.0, context=ctx)
    assert m.host == "agent-1" and m.extra["device_facts"] == {"soc": "x"}
    assert m.metrics["device_peak_rounds_gflops"] == [20.0, 100.0] and m.metrics["device_peak_swing"] == 4.0
    assert "fraction_of_peak" not in m.metrics and "swung" in m.metrics["fraction_of_peak_note"]
    assert m.metrics["accuracy"] == 0.8 and m.metrics["accuracy_source"] == "device"
    assert "accuracy_note" not in m.metrics and "per_example" not in m.metrics  # the host's, not the device's
    assert m.host_others_cpu_pct == 60.0 and m.host_run_queue == 7 and m.validity is not None
    assert m.validity.host_quiet is False and any("host busy" in n for n in m.validity.notes)


def test_a_quiet_row_without_context_is_as_before():
    m = to_measurement("r", "pi", ART, BENCH, RAW, 0.0)
    assert m.host is None and m.host_others_cpu_pct is None and "device_facts" not in m.extra
    assert m.metrics["accuracy"] == 0.9 and "device_peak_rounds_gflops" not in m.metrics


def test_error_rows_name_their_host_and_a_jobs_own_facts_win():
    origin = RowOrigin(host="agent-2", device_facts={"soc": "join"})
    e = error_measurement("r", "pi", "m.tflite", "fp32", "device offline", origin=origin)
    assert e.host == "agent-2" and e.extra["device_facts"] == {"soc": "join"}
    failed = RawRun(RunnerResult.failed("killed"))
    e = to_measurement("r", "pi", ART, BENCH, failed, 0.0, context=RowContext(origin=origin))
    assert e.status == "error" and e.host == "agent-2"
    own = RawRun(RAW.result, extra={"device_facts": {"soc": "job"}})
    assert to_measurement("r", "pi", ART, BENCH, own, 0.0,
                          context=RowContext(origin=origin)).extra["device_facts"] == {"soc": "job"}
