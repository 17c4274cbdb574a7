"""ONNX Runtime as a second host runtime (devices/runtime/ort.py): one module plus its registry entry.

A real ONNX model (built with onnx.helper) timed by ONNX Runtime in a child process through the local platform,
as `runtime: onnxruntime` in devices.yaml would; the result read as the runner's typed RunnerResult."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (it is in the host extra: "
                    "pip install -e '.[host]')")

from devices.job import JobSpec  # noqa: E402
from devices.local_target import LocalTarget  # noqa: E402
from devices.runtimes import delegate_problem, runtime_for  # noqa: E402
from harness.planning.config import BenchSettings, parse_devices  # noqa: E402
from harness.orchestration.orchestrate import _companions_needed  # noqa: E402

BENCH = BenchSettings(min_runs=7, min_s=0.0, warmup_runs=1, warmup_s=0.0, max_s=30.0, sample_interval_s=0.05)


def _onnx(path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(32, dtype=np.float32).reshape(8, 4) / 32.0, name="w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y0"]), helper.make_node("Relu", ["y0"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def _target(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return LocalTarget(SimpleNamespace(name="here-ort", python=None, ignore_sensors=(), runtime="onnxruntime"))


def test_onnxruntime_times_the_onnx_export_in_a_child(tmp_path, monkeypatch):
    target = _target(tmp_path, monkeypatch)
    assert type(target.runtime).__name__ == "OnnxRuntimeHost"  # chosen by the registry, not by an if
    onnx = _onnx(tmp_path / "tiny.onnx")
    tflite = tmp_path / "tiny.tflite"
    tflite.write_bytes(b"not read: the ONNX export is what this runtime runs")
    target.prepare()
    raw = target.benchmark(JobSpec(model_path=tflite, bench=BENCH, input_shapes={"x": [3, 8]},
                                   companions={"onnx": onnx}, companion_origins={"onnx": {"made": "test"}}))
    res = raw.result
    assert res.ok, res.error
    assert res.runtime == "onnxruntime" and res.runtime_version
    assert res.delegate == "onnxruntime-CPUExecutionProvider" and res.delegate_requested == "xnnpack"
    assert len(res.latencies_us) >= 7 and all(x > 0 for x in res.latencies_us)
    assert res.init_us and res.first_inference_us and res.duration_s is not None
    assert res.inputs[0]["shape"] == [3, 8]  # input_shapes fills the dynamic batch
    assert res.timed_window_unix_s is not None and raw.clock_offset_s == 0.0  # this host's own clock
    assert "peak_rss_mb" in res.memory_mb
    assert raw.extra["onnx"]["made"] == "test"


def test_onnxruntime_without_an_onnx_export_says_so(tmp_path, monkeypatch):
    target = _target(tmp_path, monkeypatch)
    tflite = tmp_path / "m.tflite"
    tflite.write_bytes(b"x")
    res = target.benchmark(JobSpec(model_path=tflite, bench=BENCH)).result
    assert not res.ok and "runtime onnxruntime needs an ONNX export of m.tflite" in (res.error or "")


def test_onnxruntime_is_registered_with_what_it_supports():
    dev = parse_devices({"devices": [{"name": "ort", "kind": "local", "runtime": "onnxruntime"}]}).devices[0]
    assert _companions_needed(dev) == ("onnx",)  # the conversion phase exports the ONNX for it
    assert runtime_for("local", "onnxruntime") is not None and runtime_for("local") == runtime_for("local", "litert")
    assert delegate_problem("local", "onnxruntime", "gpu", None) == (
        "bench.delegate gpu: runtime onnxruntime runs ONNX Runtime's CPU execution provider")
    with pytest.raises(Exception, match="runtime onnxruntime runs ONNX Runtime's CPU execution provider"):
        parse_devices({"devices": [{"name": "ort", "kind": "local", "runtime": "onnxruntime",
                                    "bench": {"delegate": "nnapi"}}]})
