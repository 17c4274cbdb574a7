"""`harness run` with iPhones in devices.yaml, end to end through the fake phone (tests/ios_fake.py):
a user's Keras model converted to Core ML by coremltools, pushed, run by the "app", stored; a phone
without the app and a .tflite variant the app cannot run become error rows and the rest goes on."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("coremltools", reason="pip install coremltools==9.0 (the host extra)")

from harness.store.db import ResultsDB  # noqa: E402

OK, NO_APP = "00008120-001A2B3C4D5E6F70", "00008030-000000000000AAAA"


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
                          keras.layers.Conv2D(16, 3, padding="same", activation="relu"),  # 2304 weights: int8
                          keras.layers.Conv2D(3, 3, padding="same")])
    path = tmp_path_factory.mktemp("m") / "small.keras"
    m.save(path)
    return path


def test_harness_run_with_iphones(tmp_path, keras_file, isolated_cache, monkeypatch):
    root = tmp_path / "phones"
    root.mkdir()
    (root / "behaviour.json").write_text(json.dumps({OK: "ok", NO_APP: "not_installed"}))
    (tmp_path / "devices.yaml").write_text(
        "devices:\n"
        f"  - {{name: iphone, kind: ios, udid: {OK}, compute_units: cpuAndNeuralEngine}}\n"
        f"  - {{name: iphone-no-app, kind: ios, udid: {NO_APP}}}\n")
    env = {"HARNESS_IOS_ADAPTER": "tests.ios_fake:FakeIosAdapter", "HARNESS_FAKE_IOS_ROOT": str(root)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from skimage import data as skdata
    from skimage.io import imsave

    photos = tmp_path / "photos"  # the user names the task and brings its eval data: accuracy is measured
    photos.mkdir()
    for name in ("astronaut", "chelsea", "coffee", "rocket", "camera"):
        imsave(photos / f"{name}.png", getattr(skdata, name)()[:128, :128])
    cmd = [sys.executable, "-m", "harness", "run", "--devices", str(tmp_path / "devices.yaml"),
           "--task", "sr", "--images", str(photos),
           "--db", str(tmp_path / "r.db"), "--models", str(keras_file), "--variants", "coreml,coreml_int8,fp32",
           "--runs", "5", "--min-seconds", "0.05", "--warmup-seconds", "0", "--cooldown", "0",
           "--no-peak-probe", "--no-progress"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    db = ResultsDB(tmp_path / "r.db")
    rows = {(m.device, m.variant): m for m in db.measurements()}
    assert len(rows) == 6, (res.stdout[-2000:], res.stderr[-2000:])
    ok = rows[("iphone", "coreml")]
    assert ok.status == "ok", ok.error
    assert ok.runtime == "coreml" and ok.extra["ios"]["compute_units"] == "cpuAndNeuralEngine"
    assert ok.model_size_bytes and ok.model_size_bytes == ok.metrics["size_bytes"]
    assert ok.metrics["format"] == "mlpackage"
    # Accuracy measured on the "device": the fake's model is the identity, so on this SRCNN-shaped model
    # (bicubic-upscaled input) its PSNR is exactly bicubic's, computed by the host from pulled outputs.
    assert ok.metrics["accuracy_source"] == "device" and "accuracy_note" not in ok.metrics
    assert ok.metrics["psnr_db"] == ok.metrics["psnr_bicubic_db"] and ok.metrics["eval_crops"] > 0
    assert ok.energy_per_inference_mj is not None, ok.extra  # the fake phone is on battery
    assert rows[("iphone", "coreml_int8")].status == "ok"
    assert rows[("iphone", "coreml_int8")].metrics["coreml_compressed_weights"]
    assert "no TensorFlow Lite" in rows[("iphone", "fp32")].error
    for v in ("coreml", "coreml_int8", "fp32"):
        err = rows[("iphone-no-app", v)].error
        assert err.startswith("device unreachable: iphone-no-app: companion app dev.harness.companion is not "
                              "installed"), err
    # The phone's Documents keep the models, not the jobs or results.
    docs = root / OK / "Documents"
    assert len(list((docs / "models").glob("*.mlpackage"))) == 2 and len(list((docs / "eval").iterdir())) == 1
    assert not list((docs / "jobs").iterdir()) and not list((docs / "results").iterdir())
