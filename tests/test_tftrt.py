"""TF-TRT on a Jetson (`runtime: tftrt`): the on-device runner, the SavedModel push, `harness run` end to end.

pip's TensorFlow never has TensorRT, so here the runner either reports exactly that or, with
`allow_plain_tf`, times the plain SavedModel with TensorFlow: both are real runs of
rpi/tftrt_runner.py on real SavedModels. The board is this host behind a real sshd
(tests/fixtures_ssh.py) with the recorded Jetson Nano tegrastats.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import threading
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from converters.exports import saved_model_for
from devices.ssh import SshTransport
from devices.tree_push import push_tree, tree_manifest
from harness.store.db import ResultsDB
from rpi import runner as litert_runner
from rpi import tftrt_runner

REPO = Path(__file__).resolve().parent.parent
RUNNER = REPO / "rpi" / "tftrt_runner.py"
FAST = {"warmup_s": 0.0, "warmup_runs": 1, "min_runs": 20, "min_s": 0.5, "cooldown_s": 0.0}


def _tiny_keras():
    import tf_keras as keras

    keras.utils.set_random_seed(2)
    return keras.Sequential([
        keras.Input((16, 16, 3), name="image"),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2),
    ])


@pytest.fixture(scope="module")
def tiny_saved_model(tmp_path_factory) -> Path:
    """A real SavedModel of a tiny tf_keras model, exported the way the host exports sources."""
    from converters.exports import save_keras_batch1

    folder = tmp_path_factory.mktemp("tftrt") / "tiny.saved_model"
    save_keras_batch1(_tiny_keras(), folder)
    return folder


def _tensorrt_here() -> bool:
    import tensorflow as tf

    return bool(tf.sysconfig.get_build_info().get("is_tensorrt_build", False))


def _run_runner(job: dict) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUNNER), "--job", "-"], input=json.dumps(job), capture_output=True,
                          text=True, timeout=120, cwd=RUNNER.parent)


def test_runner_times_a_plain_savedmodel(tiny_saved_model):
    if _tensorrt_here():
        pytest.skip("this TensorFlow has TensorRT: the runner would convert with TF-TRT, not time plain TensorFlow")
    res = _run_runner({"saved_model_dir": str(tiny_saved_model), "allow_plain_tf": True, "threads": 1,
                       "precision": "fp16", **FAST})
    assert res.returncode == 0, res.stdout[-1500:] + res.stderr[-1500:]
    lines = res.stdout.splitlines()
    assert len(lines) == 1, "TensorFlow's own output must stay off stdout"
    out = json.loads(lines[0])
    assert out["error"] is None and out["schema_version"] == litert_runner.SCHEMA_VERSION
    assert out["runtime"] == "tensorflow" and out["runtime_version"] == metadata.version("tensorflow")
    assert out["delegate"] == "tensorflow" and out["precision"] == "fp32" and out["threads"] == 1
    assert out["inputs"] == [{"name": "image", "shape": [1, 16, 16, 3], "dtype": "float32"}]
    lat = out["latencies_us"]
    assert len(lat) >= 20 and all(x > 0 for x in lat) and out["duration_s"] >= 0.5
    assert out["init_us"] > 0 and out["first_inference_us"] > 0 and out["warmup_runs_done"] >= 1
    lo, hi = out["timed_window_unix_s"]
    assert hi - lo == pytest.approx(out["duration_s"], abs=0.05)
    assert out["peak_rss_mb"] > 100  # TensorFlow is loaded in this process
    assert out["peak_rss_delta_mb"] is None or out["peak_rss_delta_mb"] >= 0


def test_runner_without_tensorrt_says_so_in_one_line(tiny_saved_model):
    if _tensorrt_here():
        pytest.skip("this TensorFlow has TensorRT: the no-TensorRT answer cannot be shown here")
    res = _run_runner({"saved_model_dir": str(tiny_saved_model), "precision": "int8", **FAST})
    assert res.returncode == tftrt_runner.EXIT_NO_TENSORRT != 0
    lines = res.stdout.splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stdout
    out = json.loads(lines[0])
    assert out["error"] == ("this TensorFlow has no TensorRT (pip builds never do); use runtime: tensorrt "
                            "(trtexec) or JetPack's TensorFlow")
    assert "\n" not in out["error"] and "traceback" not in out and out["runtime"] == "tf-trt"
    # A broken job is an error line too, with the exit code of a runner failure.
    bad = _run_runner({"saved_model_dir": str(tiny_saved_model.parent / "missing"), **FAST})
    assert bad.returncode == tftrt_runner.EXIT_FAILED
    assert json.loads(bad.stdout)["error"].startswith("ValueError: no SavedModel at ")


def test_savedmodel_found_and_pushed_with_every_file_checked(sshd_board, tiny_saved_model, tmp_path):
    # The tensorrt pass writes a SavedModel .tgz (saved_model/...) where tf2onnx is missing.
    tgz = tmp_path / "0123abcd.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(tiny_saved_model, arcname="saved_model")
    found = saved_model_for(tgz)
    assert found.path == tmp_path / "0123abcd.saved_model" and found.origin == "the tensorrt pass's SavedModel (.tgz)"
    assert tree_manifest(found.path) == tree_manifest(tiny_saved_model)
    # A variant that changed the model has no SavedModel to match it.
    (tmp_path / "4567.tflite").write_bytes(b"TFL3")
    (tmp_path / "4567.json").write_text(json.dumps({"model": "srcnn", "variant": "dr_int8", "params": {}}))
    with pytest.raises(ValueError, match="variant dr_int8 changes it in LiteRT-only ways: measure variant fp32"):
        saved_model_for(tmp_path / "4567.tflite")
    cfg = sshd_board.config_for("orin-push", "jetson")
    transport = SshTransport.from_config(cfg)
    parent = f"{cfg.workdir}/savedmodels"
    try:
        remote, moved = push_tree(transport, tiny_saved_model, parent)
        assert moved and remote.startswith(parent + "/") and remote.endswith("-tiny.saved_model")
        assert tree_manifest(Path(remote)) == tree_manifest(tiny_saved_model)
        assert push_tree(transport, tiny_saved_model, parent) == (remote, False), "an intact copy is reused"
        variables = Path(remote) / "variables" / "variables.data-00000-of-00001"
        data = variables.read_bytes()
        variables.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # one byte changed on the board
        assert push_tree(transport, tiny_saved_model, parent) == (remote, True)
        assert tree_manifest(Path(remote)) == tree_manifest(tiny_saved_model)
        assert not list(Path(parent).glob("*.tar")) and not list(Path(parent).glob("*.part"))
    finally:
        transport.close()


def test_harness_run_on_a_tftrt_jetson(sshd_board, tiny_tflite, tmp_path):
    """One Jetson may fall back to plain TensorFlow, the other may not; a bare .tflite has no SavedModel."""
    if _tensorrt_here():
        pytest.skip("this TensorFlow has TensorRT: the plain-TensorFlow fallback would not be used")
    keras_file = tmp_path / "tiny.keras"
    _tiny_keras().save(str(keras_file))
    devices = tmp_path / "devices.yaml"
    devices.write_text(yaml.safe_dump({"defaults": FAST, "devices": [
        sshd_board.device("orin-tf", "jetson", runtime="tftrt", tftrt_allow_plain_tf=True,
                          workdir=str(tmp_path / "board-tf")),
        sshd_board.device("orin-notrt", "jetson", runtime="tftrt", workdir=str(tmp_path / "board-notrt")),
    ]}))
    db = tmp_path / "results.db"
    res = subprocess.run([sys.executable, "-m", "harness", "run", "--devices", str(devices), "--models",
                          f"{keras_file},{tiny_tflite}", "--variants", "fp32", "--db", str(db), "--cache-dir",
                          str(tmp_path / "cache"), "--no-progress", "--no-peak-probe"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-2000:]
    rows = {(m.device, Path(m.model).suffix): m for m in ResultsDB(db).measurements()}
    assert len(rows) == 4
    ok = rows[("orin-tf", ".keras")]
    assert ok.status == "ok", ok.error
    assert ok.runtime == "tensorflow" and ok.delegate == "tensorflow" and len(ok.latencies_us) >= 20
    assert ok.p50_us > 0 and ok.init_us > 0 and ok.peak_rss_mb > 100
    saved = ok.extra["saved_model"]
    assert saved["origin"] == f"exported here from {keras_file}" and saved["pushed_now"] is True
    assert tree_manifest(Path(saved["remote"])) == tree_manifest(Path(saved["path"]))
    assert ok.extra["tftrt"]["warmup_runs_done"] >= 1
    # Power from the recorded Nano input rail, kept only while the loop ran (not the TensorFlow import).
    window = ok.extra["power_window"]
    assert 1 <= window["samples_timed_loop"] < window["samples_session"]
    lo, hi = window["timed_loop_s"]
    # Every raw sample is kept; the energy integrates only those in the window, by their own timestamps.
    assert sum(lo <= p.t_s <= hi for p in ok.power_samples) == window["samples_timed_loop"] == ok.power_samples_in_window
    assert ok.avg_power_mw == 1022.0 and ok.energy_source == "tegrastats:POM_5V_IN"
    assert ok.energy_per_inference_mj == pytest.approx(1022.0 * (hi - lo) / len(ok.latencies_us), rel=0.01)
    refused = rows[("orin-notrt", ".keras")]
    assert refused.status == "error"
    assert refused.error == ("runner: this TensorFlow has no TensorRT (pip builds never do); use runtime: "
                             "tensorrt (trtexec) or JetPack's TensorFlow")
    for device in ("orin-tf", "orin-notrt"):
        bare = rows[(device, ".tflite")]
        assert bare.status == "error"  # refused in the conversion phase, before the board is asked
        assert bare.error.startswith("export: runtime tftrt needs a SavedModel: tiny.tflite is only a .tflite")


def test_a_tftrt_and_tensorrt_plan_exports_everything_before_the_first_timed_job(sshd_board, tmp_path):
    """The README's promise: TensorFlow (conversion, SavedModel export, tf2onnx) never competes with a measurement.

    Every event is recorded with the thread that sent it and the exports present on the host at that moment.
    """
    if _tensorrt_here():
        pytest.skip("this TensorFlow has TensorRT: the plain-TensorFlow fallback would not be used")
    pytest.importorskip("tf2onnx", reason="needs tf2onnx (pip install -e '.[host]') for the TensorRT export")
    import onnx

    from harness.orchestration import orchestrate
    from harness.planning.config import parse_devices
    from harness.planning.plan import make_plan

    keras_file = tmp_path / "tiny.keras"
    _tiny_keras().save(str(keras_file))
    devices = parse_devices({"defaults": FAST, "devices": [
        sshd_board.device("orin-tftrt", "jetson", runtime="tftrt", tftrt_allow_plain_tf=True,
                          workdir=str(tmp_path / "board-tftrt")),
        sshd_board.device("orin-trt", "jetson", runtime="tensorrt", workdir=str(tmp_path / "board-trt")),
    ]})
    plan = make_plan(devices, models=[str(keras_file)], variants=["fp32"], peak_probe=False)
    cache = tmp_path / "cache"
    seen: list[tuple[str, str, dict, list[str]]] = []

    def record(kind: str, payload: dict) -> None:
        on_host = sorted(p.suffix for p in cache.glob("*") if p.suffix in (".saved_model", ".onnx"))
        seen.append((kind, threading.current_thread().name, payload, on_host))

    summary = orchestrate.run(plan, tmp_path / "results.db", events=record, cache_dir=cache)
    kinds = [k for k, *_ in seen]
    first_job = kinds.index("job_started")
    prep = [i for i, k in enumerate(kinds) if k in ("convert_started", "convert_finished", "export_started",
                                                  "export_finished")]
    assert prep and max(prep) < first_job, kinds
    exports = {p["export"]: p["error"] for k, _, p, _ in seen if k == "export_finished"}
    assert exports == {"saved_model": None, "onnx": None}, "one export per kind, each made once"
    assert seen[first_job][3] == [".onnx", ".saved_model"], "both exports were on the host before the first job"
    assert {t for k, t, *_ in seen if k.startswith(("convert_", "export_"))} == {"MainThread"}
    assert all(t.startswith("device") for k, t, *_ in seen if k == "job_started")

    rows = {m.device: m for m in ResultsDB(tmp_path / "results.db").measurements(summary.run_id)}
    tf_row, trt_row = rows["orin-tftrt"], rows["orin-trt"]
    assert tf_row.status == "ok" and trt_row.status == "ok", (tf_row.error, trt_row.error)
    assert tf_row.runtime == "tensorflow"
    assert tf_row.extra["saved_model"]["origin"] == f"exported here from {keras_file}"
    assert "note" not in tf_row.extra["saved_model"], "exported from the run's own source, not a reloaded one"
    stem = Path(tf_row.extra["saved_model"]["path"]).name.removesuffix(".saved_model")
    assert trt_row.runtime == "tensorrt" and trt_row.extra["onnx"]["origin"] == f"tf2onnx export of {stem}.tflite"
    onnx.checker.check_model(onnx.load(trt_row.extra["onnx"]["path"]))


def test_sustained_tftrt_on_a_heating_jetson(sshd_board, tiny_saved_model, tmp_path):
    """`--sustained` with runtime tftrt: rpi/tftrt_runner.py runs the runner's own sustained loop (plain
    TensorFlow here, TF-TRT on a Jetson) over the real sshd; the board heats from the loop's first timed
    invoke and throttles 1800 -> 1200 MHz about 3.3 s in; the onset is found at the window end after it."""
    if _tensorrt_here():
        pytest.skip("this TensorFlow has TensorRT: the plain-TensorFlow fallback would not be used")
    from types import SimpleNamespace

    from devices.registry import build_target
    from devices.target import JobSpec
    from harness.orchestration.measure import to_measurement
    from harness.planning.config import BenchSettings
    from tests.heating_board import HeatingBoard

    cfg = sshd_board.config_for("hot-orin-tftrt", "jetson", runtime="tftrt", tftrt_allow_plain_tf=True,
                                workdir=str(tmp_path / "w"), tensorrt_precisions=["fp16", "int8"])
    target = build_target(cfg)
    board = HeatingBoard(tmp_path / "board", tau_s=6.0, throttle_at_c=62.0)
    target.thermal_glob, target.cpufreq_glob = board.thermal_glob, board.cpufreq_glob
    bench = BenchSettings(sustained_s=8.0, sustained_window_s=0.5, sample_interval_s=0.05, cooldown_s=0, threads=1)
    job = JobSpec(model_path=tmp_path / "tiny.tflite", bench=bench, companions={"saved_model": tiny_saved_model})
    try:
        target.prepare()
        board.heat_when_looping(str(cfg.workdir))
        raw = target.benchmark(job)
    finally:
        board.stop()
        target.close()
    r = raw.runner
    assert r.get("error") is None, r
    assert r["sustained_s"] == 8.0 and r["window_s"] == 0.5 and r["interrupted"] is False
    assert 14 <= len(r["windows"]) <= 18 and r["windows"][-1][1] == len(r["latencies_us"])
    assert "tftrt_other_precisions" not in raw.extra  # one loop per job: the first precision only
    assert "fp16 conversion only" in raw.extra["sustained_method"]
    m = to_measurement("run", "hot-orin-tftrt", SimpleNamespace(model="tiny", variant="fp32", metrics={}), bench,
                       raw, 0.0)
    assert m.status == "ok", m.error
    s = m.extra["sustained"]
    assert board.throttled_at_unix is not None
    expected = board.throttled_at_unix - r["timed_window_unix_s"][0]  # the board is this host: one clock
    print(f"tftrt onset found {s['first_throttle_s']:.3f} s, throttled {expected:.3f} s, {len(r['windows'])} windows, "
          f"cold {s['cold_p50_us']:.0f} us, steady {s['steady_p50_us']:.0f} us")
    # Read at the end of the 0.5 s window it fell in (plus an invoke and a sampling pass).
    assert expected - 0.05 <= s["first_throttle_s"] <= expected + 0.5 + 0.3, (s["first_throttle_s"], expected)
    assert "1800 to 1200" in s["throttle_cause"] and s["temp_reached_c"] > 62.0
    assert s["cold_p50_us"] > 0 and s["steady_p50_us"] > 0
