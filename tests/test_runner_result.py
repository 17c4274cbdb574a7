"""devices.runner_result.RunnerResult against the golden files, as the Swift and JVM types are checked.

A key the runner writes that the type does not name, or a type that changed, fails here; the round trip
gives back the golden JSON key for key, as `swift test` and the JVM ContractsTest ask of their types.
"""
from __future__ import annotations

import json
import typing
from dataclasses import fields
from pathlib import Path

import pytest

from devices.probes.benchmark_model import runner_result as bm_runner_result
from devices.runner_result import RunnerResult
from devices.target import RawRun

C = Path(__file__).resolve().parent.parent / "contracts" / "results"


def _golden(name: str) -> dict:
    return json.loads((C / name).read_text())


@pytest.mark.parametrize("name", ["ok.json", "error.json"])
def test_every_golden_key_is_a_named_field_and_the_round_trip_is_exact(name):
    golden = _golden(name)
    res = RunnerResult.from_json(golden)
    assert dict(res.other) == {}, f"keys the runner writes that RunnerResult does not name: {sorted(res.other)}"
    assert json.loads(json.dumps(res.to_json())) == golden
    assert list(res.to_json()) == list(golden)


def test_field_values_have_the_declared_types():
    res = RunnerResult.from_json(_golden("ok.json"))
    hints = typing.get_type_hints(RunnerResult)
    for f in fields(RunnerResult):
        value = getattr(res, f.name)
        if value is None:
            continue
        origin = typing.get_origin(hints[f.name])
        allowed = [typing.get_origin(a) or a for a in typing.get_args(hints[f.name])] if origin in (
            typing.Union, getattr(__import__("types"), "UnionType", typing.Union)) else [origin or hints[f.name]]
        allowed = [a for a in allowed if a is not type(None)]
        if any(a is typing.Any for a in allowed):
            continue
        import collections.abc as cabc
        assert any(isinstance(value, cabc.Mapping if a in (cabc.Mapping, dict) else a) for a in allowed), (f.name, value)
    assert res.ok and res.error is None
    assert len(res.latencies_us) == 20 and all(isinstance(x, float) for x in res.latencies_us)
    assert res.delegate_asked == "xnnpack" and res.delegate == "xnnpack"
    assert res.memory_mb == {"peak_rss_mb": 49.266, "peak_rss_delta_mb": 10.188, "end_rss_mb": 49.266}


def test_the_error_result_is_not_ok_and_says_why():
    res = RunnerResult.from_json(_golden("error.json"))
    assert not res.ok and res.error.startswith("ValueError") and res.latencies_us == ()
    assert not RunnerResult.from_json({"error": None}).ok, "no latency at all is not a result"
    assert RunnerResult.failed("trtexec fp16: no engine").to_json() == {"error": "trtexec fp16: no engine"}


def test_unknown_keys_are_kept_and_written_back():
    """TF-TRT's own facts (conversion_us, precision) ride along untouched."""
    d = {**_golden("ok.json"), "conversion_us": 1234.5, "precision": "fp16"}
    res = RunnerResult.from_json(d)
    assert res.other == {"conversion_us": 1234.5, "precision": "fp16"}
    assert res.to_json() == d


def test_benchmark_model_fills_what_it_measures_and_leaves_the_rest_empty():
    parsed = {"summary": {"count": 50, "mean_us": 2000.0, "p50_us": 1990.0}, "init_us": 5000.0,
              "first_inference_us": 3000.0, "overall_peak_memory_mb": 12.5, "end_vmrss_mb": 11.0,
              "delegates_applied": [], "threads": 4}
    res, _ = bm_runner_result(parsed, "xnnpack", 4, "tflite-benchmark_model", "2.16")
    assert RunnerResult.from_json(RawRun(res).runner) == res  # its JSON reads back as the same record
    assert res.ok and res.latencies_us == () and res.summary["p50_us"] == 1990.0
    assert res.peak_footprint_mb == 12.5 and res.peak_rss_mb is None and res.duration_s == 0.1
    assert res.memory_mb == {"peak_footprint_mb": 12.5, "end_rss_mb": 11.0}
    assert res.temperatures == () and res.timed_window_unix_s is None


def test_readings_are_typed_tuples():
    d = {"latencies_us": [1, 2], "temperatures": [[0, "before", {"cpu": 40.0}], [1.5, "after", {"cpu": 45}]],
         "cpu_freq": [[0.0, "before", {"cpu0": {"cur": 1800}}]], "timed_window_unix_s": [10, 12]}
    res = RunnerResult.from_json(d)
    assert res.latencies_us == (1.0, 2.0)
    assert res.temperatures[1] == (1.5, "after", {"cpu": 45})
    assert res.timed_window_unix_s == (10.0, 12.0)
    assert res.to_json()["temperatures"] == [[0.0, "before", {"cpu": 40.0}], [1.5, "after", {"cpu": 45}]]


def test_a_null_list_reads_empty_and_writes_back_null():
    res = RunnerResult.from_json({"error": "killed", "latencies_us": None, "temperatures": None})
    assert res.latencies_us == () and res.temperatures == () and not res.ok
    assert res.to_json() == {"error": "killed", "latencies_us": None, "temperatures": None}


def test_a_value_of_the_wrong_json_type_is_not_taken_as_the_field_and_is_written_back():
    """from_json narrows each field once: a string where a number belongs is no figure, yet the JSON survives."""
    d = {"delegate": "xnnpack", "threads": "4", "init_us": "fast", "latencies_us": [1.0, "x"], "summary": [1, 2],
         "interrupted": 1, "timed_window_unix_s": [1.0]}
    res = RunnerResult.from_json(d)
    assert res.delegate == "xnnpack"
    assert (res.threads, res.init_us, res.latencies_us, res.summary, res.interrupted, res.timed_window_unix_s) == (
        None, None, (), None, None, None)
    assert res.other == {k: v for k, v in d.items() if k != "delegate"}
    assert res.to_json() == d and list(res.to_json()) == list(d)


def test_printed_is_the_summary_s_numbers():
    res = RunnerResult(summary={"count": 3, "mean_us": 2.5, "mean_of": "GPU time per inference",
                                "derived": ["count"], "all_same": True})
    assert res.printed == {"count": 3, "mean_us": 2.5}
    assert RunnerResult().printed == {}


def test_the_sustained_summary_reads_the_typed_result():
    from harness.statistics.sustained import from_runner

    res = RunnerResult.from_json({
        "latencies_us": [1000.0, 1000.0, 1500.0, 1500.0], "windows": [[1.0, 2], [2.0, 4]], "timed_start_s": 0,
        "cpu_freq": [[0.5, "run", {"cpu0": {"cur": 1800, "max": 1800}}], [1.5, "run", {"cpu0": {"cur": 1200}}]],
        "temperatures": [[1.0, "run", {"cpu": 50.0}]], "interrupted": False})
    s = from_runner(res)
    assert s is not None and s.cold_p50_us == 1000.0 and s.interrupted is False and s.temp_reached_c == 50.0
    assert s.first_throttle_s == 1.5 and "1800 to 1200" in (s.throttle_cause or "")
    assert from_runner(RunnerResult()) is None  # not a sustained run


def test_from_json_reads_every_field_the_type_names():
    """A field added to RunnerResult but not to from_json would land in `other`: caught here."""
    names = {f.name: f.default for f in fields(RunnerResult) if f.name not in ("other", "keys")}
    res = RunnerResult.from_json(dict.fromkeys(names))
    # a null is the empty value of a None field; where the empty value is () the null is kept as written
    assert set(res.other) == {n for n, default in names.items() if default is not None}
