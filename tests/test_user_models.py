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
        builder.build(path, "subpixel")
    assert TF_KERAS_ONLY in str(err.value) and "Doubler" in str(err.value)


def test_keras3_config_dialect_is_translated():
    cfg = {"class_name": "InputLayer", "config": {"batch_shape": [None, 4], "optional": False,
                                                  "dtype": {"class_name": "DTypePolicy", "config": {"name": "float32"}}}}
    out = to_tf_keras_config(cfg)
    assert out["config"] == {"batch_input_shape": [None, 4], "dtype": "float32"}
