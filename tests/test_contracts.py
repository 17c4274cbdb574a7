"""The golden contract files in contracts/ still describe what the Python side produces.

Swift (ios_app/) and JVM (android_app/) tests load the same files; if the runner's JSON, the timed loop or
the live stream changes, these tests fail until the files (and then the apps) are regenerated to match.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.timed_loop_cases import CASES, SUSTAINED_CASES, run_case, run_sustained_case

REPO = Path(__file__).resolve().parent.parent
C = REPO / "contracts"


def _types(d: dict) -> dict[str, str]:
    return {k: type(v).__name__ for k, v in d.items() if v is not None}


def test_schema_version_is_the_runners_and_the_databases():
    from harness.store.results import SCHEMA_VERSION
    from rpi import runner

    for name in ("ok.json", "error.json"):
        assert json.loads((C / "results" / name).read_text())["schema_version"] == runner.SCHEMA_VERSION
    assert runner.SCHEMA_VERSION == SCHEMA_VERSION


def test_the_runner_accepts_the_golden_job_and_writes_the_golden_result_shape(tiny_tflite):
    job = json.loads((C / "jobs" / "basic.json").read_text())
    from rpi.runner import DEFAULT_JOB

    assert set(job) - {"model_path"} == set(DEFAULT_JOB), "jobs/basic.json lists every job field the runner knows"
    out = subprocess.run([sys.executable, str(REPO / "rpi" / "runner.py"), "--job", "-"],
                         input=json.dumps({**job, "model_path": str(tiny_tflite)}), capture_output=True, text=True,
                         timeout=120, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    golden = json.loads((C / "results" / "ok.json").read_text())
    assert got["error"] is None
    # host_* are optional (rpi/runner.py: present only when the timed window spanned a /proc/stat clock tick,
    # so a tiny model on a fast host leaves them out); the apps' result types do not carry them.
    optional = {"host_others_cpu_pct": float, "host_steal_pct": float, "host_run_queue": int}
    assert set(got) - set(optional) == set(golden), f"runner keys changed: {sorted((set(got) - set(optional)) ^ set(golden))}"
    assert not set(golden) & set(optional), "optional keys stay out of the golden result"
    for k, t in optional.items():
        assert k not in got or isinstance(got[k], t), (k, got[k])
    gt, ht = _types(golden), _types(got)
    assert {k: gt[k] for k in gt if k in ht} == {k: ht[k] for k in gt if k in ht}
    assert len(golden["latencies_us"]) == job["max_runs"] == len(got["latencies_us"])


def test_the_runner_error_shape(tmp_path):
    job = json.loads((C / "jobs" / "basic.json").read_text())
    out = subprocess.run([sys.executable, str(REPO / "rpi" / "runner.py"), "--job", "-"],
                         input=json.dumps({**job, "model_path": str(tmp_path / "missing.tflite")}),
                         capture_output=True, text=True, timeout=120)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    golden = json.loads((C / "results" / "error.json").read_text())
    assert set(got) == set(golden) and isinstance(got["error"], str) and got["error"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_timed_loop_vectors_match_the_runner(case):
    golden = {c["name"]: c for c in json.loads((C / "timed_loop" / "cases.json").read_text())}
    assert golden[case["name"]]["job"] == case["job"]
    assert run_case(case) == golden[case["name"]]["expected"]


@pytest.mark.parametrize("case", SUSTAINED_CASES, ids=[c["name"] for c in SUSTAINED_CASES])
def test_sustained_loop_vectors_match_the_runner(case):
    """contracts/timed_loop/sustained.json: the windows the Swift and JVM loops must cut at the same invokes."""
    golden = {c["name"]: c for c in json.loads((C / "timed_loop" / "sustained.json").read_text())}
    assert golden[case["name"]]["job"] == case["job"]
    got = run_sustained_case(case)
    assert got == golden[case["name"]]["expected"]
    assert got["windows"][-1][1] == got["runs"] and got["interrupted"] is False


def test_the_live_stream_framing_matches_the_server(tmp_path):
    """Publish the recorded events through the real server and read its bytes back: same framing."""
    import urllib.request

    from harness.live.server import LiveServer

    records = [block for block in (C / "events" / "run.sse").read_text().split("\n\n") if block.startswith("id:")]
    assert records, "events/run.sse holds id/event/data records"
    parsed = []
    for block in records:
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        parsed.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    server = LiveServer(tmp_path / "r.db", host="127.0.0.1", port=0, watch_db=False).start()
    try:
        for _, kind, data in parsed:
            server.hub.publish(kind, data)
        req = urllib.request.Request(f"{server.url.split('?')[0].rstrip('/')}/api/events",
                                     headers={"Last-Event-ID": "0"})
        raw = b""
        with urllib.request.urlopen(req, timeout=10) as resp:
            while raw.count(b"\n\nid:") < len(parsed) - 1 or not raw.endswith(b"\n\n") or b"event: run_finished" not in raw:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                raw += chunk
    finally:
        server.stop()
    text = raw.decode()
    assert text.startswith("retry: ")
    for i, (_, kind, data) in enumerate(parsed, start=1):
        assert f"id: {i}\nevent: {kind}\ndata: {json.dumps(data, default=str)}\n\n" in text


# -- the companion apps' own blocks: "ios" (Swift IosExtras) and "android" (Java AndroidReadings) -----------
# Pinned here as the host's side of the contract; `swift test` and the JVM tests round-trip the same files.
IOS_BLOCK_KEYS = {"compute_units", "thermal_state_before", "thermal_states_during", "thermal_state_after",
                  "battery_level_before", "battery_level_after", "battery_state_before", "battery_state_after",
                  "memory_metric", "phys_footprint_mb", "outputs_path", "outputs_shape", "device", "os_version",
                  "delegate_error", "eval_error", "compute_plan"}
COMPUTE_PLAN_KEYS = {"available", "reason", "ops_total", "ops_by_device", "ops_unplaced", "fell_back_count",
                     "fell_back_to_cpu"}
ANDROID_BLOCK_KEYS = {"delegate_requested", "delegate_applied", "delegate_error", "nodes_by_delegate", "tflite_log",
                      "battery_before", "battery_after", "thermal_status_before", "thermal_status_after",
                      "thermal_headroom_before", "thermal_headroom_after", "pss_mb", "sdk_int", "device_model",
                      "run_token", "latency_timer", "outputs_path", "outputs_shape", "eval_error"}


@pytest.mark.parametrize(("name", "block", "keys"), [("ios_ok.json", "ios", IOS_BLOCK_KEYS),
                                                     ("android_ok.json", "android", ANDROID_BLOCK_KEYS)])
def test_the_app_results_are_the_runners_keys_plus_one_pinned_block(name, block, keys):
    app = json.loads((C / "results" / name).read_text())
    ok = json.loads((C / "results" / "ok.json").read_text())
    assert set(app) - {block} == set(ok), f"{name}: runner keys differ from ok.json"
    assert set(app[block]) == keys, f"{name}: {block} keys changed: {sorted(set(app[block]) ^ keys)}"
    if block == "ios":
        assert set(app["ios"]["compute_plan"]) == COMPUTE_PLAN_KEYS
        assert set(app["ios"]["compute_plan"]["ops_by_device"]) == {"cpu", "gpu", "neural_engine"}


def test_the_test_fakes_write_every_key_of_the_golden_blocks():
    """The host's tests run against tests/ios_fake.py and tests/adb_sim_app.py: their blocks are the apps'."""
    import inspect

    from tests import adb_sim_app, ios_fake

    assert "android_ok.json" in inspect.getsource(adb_sim_app) and "ios_ok.json" in inspect.getsource(ios_fake)


def test_the_host_reads_the_ios_outputs_named_in_the_golden_block(tmp_path):
    import numpy as np

    from devices.ios_target import thermal_states
    from devices.runtime.app_files import app_outputs
    from devices.runtime.companion_app import read_app_result
    from tests.ios_fake import FakeIosAdapter

    text = (C / "results" / "ios_ok.json").read_text()
    result, block = read_app_result(text, "ios")
    assert block is not None
    adapter = FakeIosAdapter("00008110-000A", "dev.harness.companion", root=tmp_path, mode="ok")
    out = adapter.documents / str(block["outputs_path"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(np.arange(4, dtype="<f4").tobytes())
    got = app_outputs(adapter, block, result)
    assert got is not None and got.shape == tuple(block["outputs_shape"])
    assert got.ravel().tolist() == [0.0, 1.0, 2.0, 3.0]
    assert not out.exists()  # pulled, then removed from the phone
    assert thermal_states(block) == ["nominal", "nominal", "fair", "fair"]


def test_the_host_reads_the_android_delegate_error_named_in_the_golden_block():
    from devices.runtime.companion_app import app_delegate, read_app_result

    _, app = read_app_result((C / "results" / "android_ok.json").read_text(), "android")
    assert app is not None
    extra: dict = {}
    app_delegate("gpu", {**app, "delegate_error": "IllegalArgumentException: GPU not supported"}, extra)
    assert extra["delegate_fallback"] == "gpu delegate refused: IllegalArgumentException: GPU not supported"
    extra = {}
    app_delegate("gpu", app, extra)
    assert "delegate_fallback" not in extra and extra["delegate_outcome"]["fallback"] is False


@pytest.mark.parametrize(("name", "block"), [("android_ok.json", "android"), ("ios_ok.json", "ios"),
                                              ("ok.json", "android"), ("error.json", "ios")])
def test_one_parser_reads_both_apps_results_into_the_runners_type(name, block):
    """devices/runtime/companion_app.read_app_result: the apps' golden results typed once, key for key."""
    from devices.runtime.companion_app import read_app_result

    text = (C / "results" / name).read_text()
    result, own = read_app_result(text, block)
    assert result.to_json() == json.loads(text)  # nothing lost or renamed on the way in
    assert (own is not None) == name.startswith(block)
    if name == "error.json":
        assert result.error and not result.ok
    else:
        assert result.ok and len(result.latencies_us) == 20 and result.schema_version == 4


@pytest.mark.parametrize("text", ["", "{not json", "[1, 2]", "null"])
def test_a_result_file_that_is_not_a_json_object_is_a_failed_result(text):
    from devices.runtime.companion_app import read_app_result

    result, own = read_app_result(text, "ios")
    assert own is None and result.error and result.error.startswith("the app's result is not") and not result.ok


def test_the_host_types_of_the_app_blocks_are_the_pinned_keys():
    """The TypedDicts the host reads the blocks as name exactly the golden blocks' keys."""
    from devices.runtime.companion_app import AndroidBlock, IosBlock

    assert set(AndroidBlock.__annotations__) == ANDROID_BLOCK_KEYS
    assert set(IosBlock.__annotations__) == IOS_BLOCK_KEYS


def test_the_report_shows_where_core_ml_ran_from_the_golden_block():
    from types import SimpleNamespace

    from harness.reporting.tables import compute_plan_rows

    ios = json.loads((C / "results" / "ios_ok.json").read_text())["ios"]
    row = SimpleNamespace(device="iphone", model="m.keras", variant="coreml-fp16", extra={"ios": ios})
    assert compute_plan_rows([row])[0][3:] == ["cpuAndNeuralEngine", "1", "0", "5", "1: ios17.reduce_mean"]
    old = {**ios, "compute_plan": {k: None for k in COMPUTE_PLAN_KEYS} | {
        "available": False, "reason": "MLComputePlan needs iOS 17.4; this phone runs 16.7"}}
    cells = compute_plan_rows([SimpleNamespace(**{**vars(row), "extra": {"ios": old}})])[0]
    assert cells[4:7] == ["-", "-", "-"] and cells[7].startswith("not available: MLComputePlan needs iOS 17.4")
