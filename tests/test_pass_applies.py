"""A pass with nothing to do on a model file is refused when the run is planned, in one line saying why, read
from the file's own Keras config (no TensorFlow, nothing converted): subpixel without a strided transposed
convolution, truncated_svd without a Dense layer that gets cheaper when split, factorize without a k x k conv."""
from __future__ import annotations

from pathlib import Path

import pytest

from converters.applies import layer_entries, why_not
from harness.cli import main


def _sr(k):
    inp = k.Input((8, 8, 3))
    x = k.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    return k.Model(inp, k.layers.Conv2DTranspose(3, 4, strides=2, padding="same")(x))


def _classifier(k, units: int = 10):
    inp = k.Input((8, 8, 3))
    x = k.layers.Conv2D(16, 1)(inp)  # 1x1: nothing for factorize either
    x = k.layers.GlobalAveragePooling2D()(x)
    x = k.layers.Dense(64, activation="relu")(x)
    return k.Model(inp, k.layers.Dense(units)(x))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    import keras
    import tf_keras

    d = tmp_path_factory.mktemp("applies")
    out = {"sr": d / "sr.keras", "cls": d / "cls.keras", "tk_cls": d / "tk_cls.h5",
           "mnv2": d / "mobilenetv2.keras"}
    _sr(keras).save(out["sr"])
    _classifier(keras).save(out["cls"])
    _classifier(tf_keras).save(out["tk_cls"])
    keras.applications.MobileNetV2(input_shape=(32, 32, 3), weights=None, classes=10, alpha=0.35).save(out["mnv2"])
    return out


def test_the_layer_list_is_read_from_the_file(files):
    names = [e["class_name"] for e in layer_entries(files["sr"]) or []]
    assert "Conv2DTranspose" in names and "Conv2D" in names
    assert layer_entries(files["sr"].parent / "missing.keras") is None


def test_each_pass_applies_where_its_layers_are(files):
    assert why_not(str(files["sr"]), "subpixel") is None
    assert "no strided 'same' Conv2DTranspose" in why_not(str(files["cls"]), "subpixel")
    svd = why_not(str(files["cls"]), "truncated_svd")
    assert "no Dense layer gets cheaper" in svd and "16x64 = 1024" in svd and "min_weights" in svd, svd
    assert why_not(str(files["cls"]), "truncated_svd@min_weights=1000") is None  # 16x64 and 64x10 split
    assert "is not a Dense layer" in why_not(str(files["cls"]), "truncated_svd@layers=nope")
    assert "no square Conv2D of 3x3" in why_not(str(files["cls"]), "factorize")
    assert why_not(str(files["sr"]), "factorize") is None
    for other in ("fp32", "int8", "prune", "deep_compression", "coreml_palettize"):
        assert why_not(str(files["cls"]), other) is None


def test_a_file_that_does_not_record_input_widths_leaves_it_to_the_pass(files):
    """tf_keras' .h5 config has no build_config: truncated_svd cannot tell the Dense sizes, subpixel can."""
    assert why_not(str(files["tk_cls"]), "truncated_svd") is None
    assert "Conv2DTranspose" in why_not(str(files["tk_cls"]), "subpixel")


def test_mobilenetv2_is_refused_for_subpixel_and_truncated_svd_only(files):
    mnv2 = str(files["mnv2"])
    assert "Conv2DTranspose" in why_not(mnv2, "subpixel")
    assert "Dense" in why_not(mnv2, "truncated_svd")
    for other in ("fp32", "prune", "factorize", "prune_channels", "qat", "cluster", "coreml"):
        assert why_not(mnv2, other) is None, other


@pytest.mark.parametrize("command", ["convert", "run"])
def test_convert_and_run_refuse_at_planning_in_one_line(files, tmp_path, capsys, command):
    extra = ["--out", str(tmp_path / "out")] if command == "convert" else ["--db", str(tmp_path / "r.db")]
    argv = [command, "--models", str(files["mnv2"]), "--variants", "fp32,subpixel",
            "--cache-dir", str(tmp_path / "cache"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("harness: error: --variants 'subpixel': does not apply to") and "mobilenetv2.keras" in err, err
    assert "no strided 'same' Conv2DTranspose" in err
    assert not (tmp_path / "r.db").exists() and not list((tmp_path / "cache").glob("*.tflite"))
