"""kind: ios: the target against a fake phone (tests/ios_fake.py) keeping the app's Documents on disk."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from converters.coreml import zip_package
from devices.ios_adapter import battery_reading
from devices.ios_target import IosTarget
from devices.target import JobSpec
from errors import DeviceError, UserError
from harness.orchestration.measure import to_measurement
from harness.planning.config import BenchSettings, parse_devices
from tests.ios_fake import JOB_KEYS, FakeIosAdapter

UDID = "00008120-001A2B3C4D5E6F70"


@pytest.fixture
def mlpackage_zip(tmp_path) -> Path:
    """A zipped package shaped like coremltools' output (the target only unpacks and pushes it)."""
    pkg = tmp_path / "pkg" / "model.mlpackage"
    (pkg / "Data" / "com.apple.CoreML" / "weights").mkdir(parents=True)
    (pkg / "Manifest.json").write_text('{"fileFormatVersion": "1.0.0"}')
    (pkg / "Data" / "com.apple.CoreML" / "model.mlmodel").write_bytes(b"\x08\x09spec")
    (pkg / "Data" / "com.apple.CoreML" / "weights" / "weight.bin").write_bytes(b"\x00" * 64)
    out = tmp_path / "0123abcd.mlpackage.zip"
    out.write_bytes(zip_package(pkg))
    return out


def make(tmp_path: Path, mode: str = "ok", compute_units: str = "cpuAndNeuralEngine"):
    cfg = SimpleNamespace(name="iphone", udid=UDID, bundle_id="dev.harness.companion", compute_units=compute_units)
    adapter = FakeIosAdapter(UDID, cfg.bundle_id, root=tmp_path / "phones", mode=mode)
    return IosTarget(cfg, adapter=adapter), adapter


BENCH = BenchSettings(min_runs=5, min_s=0.0, warmup_s=0.0, cooldown_s=0.0, sample_interval_s=0.05, timeout_s=10)


def test_job_runs_through_documents_and_becomes_a_measurement(tmp_path, mlpackage_zip):
    target, phone = make(tmp_path)
    target.prepare()
    raw = target.benchmark(JobSpec(model_path=mlpackage_zip, bench=BENCH))
    assert raw.runner.get("error") is None, raw.runner
    # The model went in unpacked under a content-addressed name; the app got `--job NAME`.
    remote = raw.runner["model_path"]
    assert remote.startswith("models/") and remote.endswith("-0123abcd.mlpackage")
    assert (phone.documents / remote / "Manifest.json").is_file()
    assert phone.launches == [["--job", raw.extra["job_name"]]]
    # Job and result files are cleaned up; the model stays for the next job.
    assert not any((phone.documents / "jobs").iterdir()) and not any((phone.documents / "results").iterdir())
    art = SimpleNamespace(model="m", variant="coreml", metrics={"size_bytes": 1234})
    m = to_measurement("r1", "iphone", art, BENCH, raw, 0.0)
    assert m.status == "ok" and m.runtime == "coreml" and len(m.latencies_us) == 20
    assert m.extra["ios"]["compute_units"] == "cpuAndNeuralEngine"
    # On battery: energy from IOPMPowerSource (3.85 V x 0.42 A = 1617 mW) times the mean latency.
    assert m.avg_power_mw == pytest.approx(1617.0)
    # Energy covers the timed window (duration_s on the host clock), shared by the inferences in it.
    # (the fake answers at once, so the window is clipped to the launch: within a few per cent)
    assert m.energy_per_inference_mj == pytest.approx(1617.0 * raw.runner["duration_s"] / len(m.latencies_us), rel=0.02)
    assert m.temp_max_c == pytest.approx(31.25) and not raw.throttled


def test_job_file_has_the_contract_keys_and_compute_units(tmp_path, mlpackage_zip):
    target, phone = make(tmp_path, compute_units="cpuOnly")
    job = target.runtime.request(target, JobSpec(model_path=mlpackage_zip, bench=BENCH), "models/x.mlpackage")
    assert set(job) == JOB_KEYS  # contracts/jobs/ios_coreml.json, which the Swift tests decode too
    assert job["compute_units"] == "cpuOnly" and job["delegate"] == "coreml"


def test_model_is_pushed_once_per_phone(tmp_path, mlpackage_zip):
    target, phone = make(tmp_path)
    for _ in range(2):
        assert target.benchmark(JobSpec(model_path=mlpackage_zip, bench=BENCH)).runner.get("error") is None
    assert sum(1 for p in phone.pushes if p.startswith("models/")) == 1
    assert sum(1 for p in phone.pushes if p.startswith("jobs/")) == 2


def test_charging_phone_gets_no_energy(tmp_path, mlpackage_zip):
    target, _ = make(tmp_path, mode="usb")
    raw = target.benchmark(JobSpec(model_path=mlpackage_zip, bench=BENCH))
    assert raw.power_samples == [] and "charging" in raw.extra["energy_invalid"]
    assert raw.extra["power_samples_while_powered"], "the readings are kept, only not used for energy"
    m = to_measurement("r1", "iphone", SimpleNamespace(model="m", variant="coreml", metrics={}), BENCH, raw, 0.0)
    assert m.energy_per_inference_mj is None and m.avg_power_mw is None


def test_serious_thermal_state_marks_throttling(tmp_path, mlpackage_zip):
    target, _ = make(tmp_path, mode="hot")
    raw = target.benchmark(JobSpec(model_path=mlpackage_zip, bench=BENCH))
    assert raw.throttled and "serious" in raw.extra["thermal_states"]


def test_crash_and_hang_are_one_line_errors(tmp_path, mlpackage_zip):
    target, _ = make(tmp_path, mode="crash")
    raw = target.benchmark(JobSpec(model_path=mlpackage_zip, bench=BENCH))
    assert "exited without writing Documents/results/" in raw.runner["error"]
    target, _ = make(tmp_path, mode="hang")
    raw = target.benchmark(JobSpec(model_path=mlpackage_zip, bench=BENCH.model_copy(update={"timeout_s": 1.0})))
    assert raw.runner["error"].startswith("the app wrote no Documents/results/") and "within 1 s" in raw.runner["error"]


def test_app_error_result_is_kept(tmp_path):
    tfl = tmp_path / "m.tflite"
    tfl.write_bytes(b"TFL3" + b"\0" * 32)
    target, _ = make(tmp_path)
    raw = target.benchmark(JobSpec(model_path=tfl, bench=BENCH))
    assert "no TensorFlow Lite" in raw.runner["error"]


def test_unsupported_artifact_and_missing_app(tmp_path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"onnx")
    target, _ = make(tmp_path)
    with pytest.raises(DeviceError, match="Core ML .*or .tflite variants, not .onnx"):
        target.benchmark(JobSpec(model_path=onnx, bench=BENCH))
    target, _ = make(tmp_path, mode="not_installed")
    with pytest.raises(DeviceError, match="dev.harness.companion is not installed"):
        target.prepare()
    target, _ = make(tmp_path, mode="developer_mode_off")
    with pytest.raises(DeviceError, match=r"^iphone: 0000.*Developer Mode is off"):
        target.prepare()


def test_battery_reading_units():
    r = battery_reading({"Voltage": 4000, "InstantAmperage": -500, "Temperature": 2950, "IsCharging": False,
                         "ExternalConnected": False, "CurrentCapacity": 55})
    assert r == {"voltage_v": 4.0, "current_a": -0.5, "power_mw": 2000.0, "temperature_c": 29.5,
                 "charging": False, "external_connected": False, "level_pct": 55.0}
    assert battery_reading({"Voltage": 4000, "InstantAmperage": 2**64 - 500})["current_a"] == -0.5
    assert battery_reading({"Voltage": 4000, "IsCharging": True, "ExternalConnected": True,
                            "InstantAmperage": 300})["charging"] is True
    assert battery_reading({}) is None and battery_reading({"Voltage": "x", "InstantAmperage": 1}) is None


def test_ios_device_config_is_validated():
    devs = parse_devices({"devices": [{"name": "ph", "kind": "ios", "udid": UDID, "compute_units": "cpuAndGPU"}]})
    assert devs.devices[0].compute_units == "cpuAndGPU"
    with pytest.raises(UserError, match=r"devices\[0\] \(ph\)\.compute_units"):
        parse_devices({"devices": [{"name": "ph", "kind": "ios", "udid": UDID, "compute_units": "npu"}]})
    with pytest.raises(UserError, match=r"devices\[0\] \(ph\)\.udid"):
        parse_devices({"devices": [{"name": "ph", "kind": "ios", "udid": "$(rm -rf ~)"}]})


def test_hostile_or_broken_package_zip_is_refused(tmp_path):
    import zipfile

    target, phone = make(tmp_path)
    evil = tmp_path / "evil.mlpackage.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("model.mlpackage/../../../escape.txt", "x")
    with pytest.raises(DeviceError, match="outside the package"):
        target.benchmark(JobSpec(model_path=evil, bench=BENCH))
    broken = tmp_path / "broken.mlpackage.zip"
    broken.write_bytes(b"PK not really")
    with pytest.raises(DeviceError, match="not a zip"):
        target.benchmark(JobSpec(model_path=broken, bench=BENCH))
    assert not list(tmp_path.rglob("escape.txt")) and phone.launches == []


def test_eval_inputs_go_to_the_phone_and_outputs_come_back(tmp_path, mlpackage_zip):
    import numpy as np

    x = np.random.default_rng(0).random((3, 4, 4, 1), dtype=np.float32)
    inputs = tmp_path / "eval.f32"
    inputs.write_bytes(x.astype("<f4").tobytes())
    target, phone = make(tmp_path)
    raw = target.benchmark(JobSpec(model_path=mlpackage_zip, bench=BENCH, eval_inputs=inputs,
                                   eval_shape=(1, 4, 4, 1), eval_count=3))
    assert raw.runner.get("error") is None, raw.runner
    np.testing.assert_array_equal(raw.outputs, x)  # the fake app's model is the identity
    assert any(p.startswith("eval/") for p in phone.pushes)
    assert not list((phone.documents / "results").iterdir())  # outputs pulled and removed


def test_device_scores_use_the_host_metrics():
    import numpy as np

    from converters.device_eval import EvalSet, score

    labels = np.array([0, 1, 1, 2])
    ev = EvalSet("classification", __import__("pathlib").Path("x"), (1, 8, 8, 3), 4, labels)
    logits = np.eye(3, dtype=np.float32)[[0, 1, 2, 2]]
    m = score(ev, logits)
    assert m == {"accuracy_source": "device", "top1": 0.75, "top1_chance": 0.5, "eval_images": 4, "accuracy": 0.75}
    with pytest.raises(ValueError, match="3 outputs for 4 inputs"):
        score(ev, logits[:3])
    hr = np.random.default_rng(1).random((2, 12, 12, 1), dtype=np.float32)
    sr = EvalSet("super_resolution", __import__("pathlib").Path("x"), (1, 12, 12, 1), 2, hr, hr * 0.9, 1)
    m = score(sr, hr.copy())
    assert m["accuracy_source"] == "device" and m["psnr_db"] > m["psnr_bicubic_db"] and m["ssim"] == 1.0


def test_harness_devices_shows_the_phone(tmp_path, monkeypatch):
    import subprocess
    import sys

    root = tmp_path / "phones"
    root.mkdir()
    (root / "behaviour.json").write_text(json.dumps({"00008030-000000000000AAAA": "developer_mode_off"}))
    (tmp_path / "devices.yaml").write_text(
        f"devices:\n  - {{name: iphone, kind: ios, udid: {UDID}}}\n"
        "  - {name: iphone2, kind: ios, udid: 00008030-000000000000AAAA}\n")
    monkeypatch.setenv("HARNESS_IOS_ADAPTER", "tests.ios_fake:FakeIosAdapter")
    monkeypatch.setenv("HARNESS_FAKE_IOS_ROOT", str(root))
    res = subprocess.run([sys.executable, "-m", "harness", "devices", "--devices", str(tmp_path / "devices.yaml"),
                          "--json"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    rows = {r["device"]: r for r in json.loads(res.stdout)}
    assert rows["iphone"]["status"] == "ok" and rows["iphone"]["product_type"] == "iPhone15,2"
    assert rows["iphone"]["app_installed"] is True and rows["iphone"]["battery"]["temperature_c"] == 31.25
    assert rows["iphone2"]["status"] == "unreachable" and "Developer Mode is off" in rows["iphone2"]["error"]
    assert res.returncode == 1 and "Traceback" not in res.stderr
