"""`runtime: benchmark_model` on a Raspberry Pi / Jetson over a real sshd: the user's binary is run
on the board with the job's flags and its log (a recorded benchmark_model output, printed to
stderr as the tool does) is parsed by the Android parser, op profile included."""
from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from devices.jetson_target import JetsonTarget
from devices.rpi_target import RaspberryPiTarget
from devices.target import JobSpec
from harness.orchestration.measure import to_measurement
from harness.planning.config import BenchSettings, parse_devices
from tests.fixtures_ssh import FIXTURES
from tests.test_adb_benchmark_model import OP_TABLE

FAST = {"warmup_s": 0.0, "warmup_runs": 1, "min_runs": 20, "min_s": 1.0, "cooldown_s": 0.0}


def _fake_binary(tmp_path, exit_code: int = 0):
    """A stand-in benchmark_model: records its argv, prints the recorded CPU log + op table to stderr."""
    log = tmp_path / "bm.log"
    log.write_text((FIXTURES / "benchmark_model.cpu_profiling.txt").read_text() + OP_TABLE)
    calls = tmp_path / "bm.calls"
    tool = tmp_path / "benchmark_model"
    tool.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {calls}\ncat {log} >&2\nexit {exit_code}\n")
    os.chmod(tool, 0o755)
    return tool, calls


@pytest.mark.parametrize("kind,cls", [("raspberry_pi", RaspberryPiTarget), ("jetson", JetsonTarget)])
def test_benchmark_model_runtime_on_a_linux_board(sshd_board, tmp_path, tiny_tflite, kind, cls):
    tool, calls = _fake_binary(tmp_path)
    cfg = sshd_board.config_for(f"bm-{kind}", kind, runtime="benchmark_model", benchmark_model=str(tool),
                                op_profiling=True)
    bench = BenchSettings(**FAST)
    target = cls(cfg)
    try:
        target.prepare()
        raw = target.benchmark(JobSpec(model_path=tiny_tflite, bench=bench))
    finally:
        target.close()
    argv = calls.read_text().splitlines()
    graph = next(a for a in argv if a.startswith("--graph="))[len("--graph="):]
    assert graph.endswith(tiny_tflite.name) and os.path.exists(graph)  # pushed to the board first
    assert "--enable_op_profiling=true" in argv and f"--num_threads={bench.threads}" in argv
    r = raw.runner
    assert r["runtime"] == "tflite-benchmark_model" and "error" not in r
    assert r["summary"]["mean_us"] == pytest.approx(2.95034e6)
    prof = raw.extra["op_profile"]
    assert [row["node_type"] for row in prof["by_node_type"]] == ["CONV_2D", "SOFTMAX"]
    m = to_measurement("run", cfg.name, SimpleNamespace(model="m", variant="fp32", metrics={}), bench, raw, 0.0)
    assert m.status == "ok" and m.extra["op_profile"]["nodes_executed"] == 2


def test_benchmark_model_runtime_failure_is_one_line(sshd_board, tmp_path, tiny_tflite):
    tool, _ = _fake_binary(tmp_path, exit_code=1)
    (tmp_path / "bm.log").write_text("ERROR: Failed to mmap model /x.tflite\n")
    cfg = sshd_board.config_for("bm-fail", "raspberry_pi", runtime="benchmark_model", benchmark_model=str(tool))
    target = RaspberryPiTarget(cfg)
    try:
        target.prepare()
        raw = target.benchmark(JobSpec(model_path=tiny_tflite, bench=BenchSettings(**FAST)))
    finally:
        target.close()
    assert raw.runner["error"].startswith("benchmark_model exited 1: ")
    assert "Failed to mmap model" in raw.runner["error"]


def test_benchmark_model_runtime_needs_the_binary(sshd_board):
    dev = sshd_board.device("bm-none", "jetson", runtime="benchmark_model")
    with pytest.raises(Exception, match="benchmark_model"):
        parse_devices({"devices": [dev]})
    assert json.dumps(sshd_board.device("x", "raspberry_pi"))  # the plain entry still parses below
    assert parse_devices({"devices": [sshd_board.device("x", "raspberry_pi")]}).devices[0].runtime == "litert"
