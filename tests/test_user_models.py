"""The user's own model: Keras 3 and tf_keras files, as .keras, .h5 and SavedModel, through real conversions.

Keras 3 models are rebuilt in tf_keras (so the passes that fine-tune with TF-MOT or rewrite layers run on
them); a Keras 3 model whose layers tf_keras lacks converts through a SavedModel and the tf_keras-only passes
say why in one line.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from converters.build import VariantBuilder
from converters.keras3 import TF_KERAS_ONLY, to_tf_keras_config


def _net(k):
    """A tiny super-resolution-shaped net with a strided transpose convolution (so `subpixel` has work)."""
    inp = k.Input((8, 8, 3))
    x = k.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = k.layers.BatchNormalization()(x)
    out = k.layers.Conv2DTranspose(3, 4, strides=2, padding="same")(x)
    return k.Model(inp, out)


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory) -> dict[str, Path]:
    import keras
    import tf_keras

    d = tmp_path_factory.mktemp("user_models")
    keras.utils.set_random_seed(1)
    k3 = _net(keras)
    k3.save(d / "k3.keras")
    k3.save(d / "k3.h5")
    k3.export(str(d / "k3_savedmodel"), verbose=False)
    tk = _net(tf_keras)
    tk.save(d / "tk.keras")
    tk.save(d / "tk.h5")
    tk.save(d / "tk_savedmodel", save_format="tf")

    @keras.saving.register_keras_serializable(package="usertest")
    class Doubler(keras.layers.Layer):  # a layer tf_keras has never heard of
        def call(self, x):
            return x * 2.0

    inp = keras.Input((8, 8, 3))
    keras.Model(inp, Doubler()(keras.layers.Conv2D(3, 3, padding="same")(inp))).save(d / "custom.keras")
    return {p.name: p for p in d.iterdir()}


@pytest.mark.parametrize("name", ["k3.keras", "k3.h5", "tk.keras", "tk.h5", "tk_savedmodel"])
def test_keras_files_of_both_kinds_serve_every_pass(saved_models, tmp_path, name):
    builder = VariantBuilder(tmp_path)
    path = str(saved_models[name])
    src = builder.source(path)
    assert type(src.keras_model).__module__.startswith("tf_keras"), type(src.keras_model)
    x = np.random.default_rng(0).random((1, 8, 8, 3), dtype=np.float32)
    assert src.keras_model.predict(x, verbose=0).shape == (1, 16, 16, 3)
    for variant in ("fp32", "dr_int8", "subpixel"):  # subpixel needs a tf_keras model: it rewrites layers
        art = builder.build(path, variant)
        assert art.path.exists() and art.metrics["size_bytes"] > 0


def test_keras3_rebuild_keeps_the_outputs(saved_models):
    import keras

    from converters.keras3 import rebuild_in_tf_keras

    k3 = keras.models.load_model(saved_models["k3.keras"], compile=False)
    rebuilt = rebuild_in_tf_keras(k3)
    x = np.random.default_rng(1).random((2, 8, 8, 3), dtype=np.float32)
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), k3.predict(x, verbose=0), atol=1e-5)


def test_keras3_savedmodel_converts_and_tf_keras_passes_say_why(saved_models, tmp_path):
    builder = VariantBuilder(tmp_path)
    path = str(saved_models["k3_savedmodel"])
    assert builder.build(path, "fp32").metrics["size_bytes"] > 0
    with pytest.raises(Exception) as err:
        builder.build(path, "prune")
    msg = str(err.value)
    assert TF_KERAS_ONLY in msg and "\n" not in msg


def test_keras3_model_with_unknown_layers_still_converts(saved_models, tmp_path):
    builder = VariantBuilder(tmp_path)
    path = str(saved_models["custom.keras"])
    assert builder.build(path, "dr_int8").metrics["size_bytes"] > 0
    with pytest.raises(Exception) as err:
        builder.build(path, "prune")
    assert TF_KERAS_ONLY in str(err.value) and "Doubler" in str(err.value)
    with pytest.raises(Exception, match="does not apply: no strided"):  # read from its config: no rebuild tried
        builder.build(path, "subpixel")


def test_keras3_config_dialect_is_translated():
    cfg = {"class_name": "InputLayer", "config": {"batch_shape": [None, 4], "optional": False,
                                                  "dtype": {"class_name": "DTypePolicy", "config": {"name": "float32"}}}}
    out = to_tf_keras_config(cfg)
    assert out["config"] == {"batch_input_shape": [None, 4], "dtype": "float32"}


# ---------------------------------------------------------------- Keras 3 built-ins tf_keras lacks


def test_mapped_activations_compute_what_keras3_computes():
    """Each mapped activation against keras.activations itself (hard_sigmoid differs in tf_keras: 0.2x + 0.5)."""
    import keras
    import tensorflow as tf

    from converters.keras3 import MAPPED_ACTIVATIONS, k3_activation

    x = tf.constant(np.linspace(-5, 5, 101, dtype=np.float32).reshape(1, 101))
    x2 = tf.concat([x, x[:, ::-1]], axis=1)  # glu halves its last axis
    for name in MAPPED_ACTIVATIONS:
        arg = x2 if name == "glu" else x
        np.testing.assert_allclose(np.asarray(k3_activation(name)(arg)),
                                   np.asarray(getattr(keras.activations, name)(arg)), atol=1e-5, err_msg=name)


APPS = {  # keras.applications models that build offline (weights=None), small inputs to stay cheap
    "MobileNetV3Small": {}, "MobileNetV2": {"alpha": 0.35}, "EfficientNetB0": {}, "ResNet50": {},
}


def _app(name: str):
    import keras

    keras.utils.set_random_seed(0)
    return getattr(keras.applications, name)(input_shape=(32, 32, 3), weights=None, classes=4,
                                             classifier_activation=None, **APPS[name])


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n == "MobileNetV3Small" else [pytest.mark.slow])
                                  for n in sorted(APPS)])
def test_keras_applications_rebuild_in_tf_keras_with_the_same_outputs(name):
    from converters.keras3 import rebuild_in_tf_keras

    k3 = _app(name)
    rebuilt = rebuild_in_tf_keras(k3)
    x = np.random.default_rng(2).random((2, 32, 32, 3), dtype=np.float32) * 255
    want = k3.predict(x, verbose=0)
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), want, atol=1e-4 * max(1.0, float(np.abs(want).max())))


def test_exported_savedmodel_takes_its_input_shape_from_the_signature(saved_models, tmp_path):
    """`model.export()` writes no Keras metadata: int8 calibrates on the signature's (None, 8, 8, 3)."""
    builder = VariantBuilder(tmp_path)
    path = str(saved_models["k3_savedmodel"])
    assert builder.source(path).input_shape == (None, 8, 8, 3)
    art = builder.build(path, "int8")
    assert art.metrics["size_bytes"] > 0 and "INT8" in str(art.metrics.get("kernel_dtypes"))


# Every pass on a keras.applications model (fine-tuning shortened to 2 steps: the point is that each pass
# builds a valid .tflite from it, not what it keeps). subpixel and truncated_svd have nothing to rewrite here.
EVERY_PASS = ["fp32", "fp16", "dr_int8", "int8", "prune@steps=2", "prune_sparse@steps=2", "prune_channels@steps=2",
              "cluster@steps=2", "qat@steps=2", "factorize@steps=2", "deep_compression@steps=2", "tensorrt"]


@pytest.mark.slow
def test_mobilenetv3small_goes_through_every_pass(tmp_path):
    """MobileNetV3Small (Keras 3: hard_silu, hard_sigmoid, x + 3.0 operations), saved as .keras, 32x32 in."""
    path = tmp_path / "mobilenetv3small.keras"
    _app("MobileNetV3Small").save(path)
    builder = VariantBuilder(tmp_path / "cache")
    assert type(builder.source(str(path)).keras_model).__module__.startswith("tf_keras")
    failed = {}
    for variant in EVERY_PASS:
        try:
            art = builder.build(str(path), variant)
            assert art.metrics["size_bytes"] > 0
        except Exception as exc:  # collect, so one run names every pass that fails
            failed[variant] = str(exc)[:200]
    assert not failed, failed
    for variant, why in (("subpixel", "no strided"), ("truncated_svd", "no Dense layer")):
        with pytest.raises(Exception, match=why):
            builder.build(str(path), variant)
