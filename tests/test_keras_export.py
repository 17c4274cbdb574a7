"""The lean SavedModel (converters.keras_export) converts to what TFLite's own Keras path makes.

The passes convert tf_keras models through a SavedModel of the serving signature and its variables only (Keras'
per-layer traces were most of a conversion's CPU); these tests hold it to TFLite's `from_keras_model` on the
things a user and the runner see: signature keys, tensor names, shapes, dtypes, quantization, size and outputs.
"""
from __future__ import annotations

import numpy as np
import pytest


def _two_in_three_out(batch: int | None = None):
    """Two named inputs, three named outputs, BatchNorm and Dropout (inference mode must be what is traced)."""
    import tf_keras as keras

    keras.utils.set_random_seed(3)
    a = keras.Input((12, 12, 3), batch_size=batch, name="image")
    b = keras.Input((4,), batch_size=batch, name="extra")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(a)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Dropout(0.5)(x)
    pooled = keras.layers.GlobalAveragePooling2D()(x)
    merged = keras.layers.Concatenate()([pooled, b])
    boxes = keras.layers.Dense(4, name="boxes")(merged)
    scores = keras.layers.Dense(3, activation="sigmoid", name="scores")(merged)
    heat = keras.layers.Conv2D(1, 1, name="heat")(x)
    model = keras.Model([a, b], [boxes, scores, heat])
    bn = next(layer for layer in model.layers if type(layer).__name__ == "BatchNormalization")
    # moving statistics away from 0/1, so a training-mode BatchNorm would show in the outputs
    bn.moving_mean.assign(np.full(6, 0.3, np.float32))
    bn.moving_variance.assign(np.full(6, 2.0, np.float32))
    return model


def _io(details, quantization: bool = False) -> list[tuple]:
    """What a user and the runner see of each tensor: name, shape signature, dtype (and its quantization)."""
    return sorted((d["name"], tuple(d["shape_signature"]), d["dtype"].__name__)
                  + ((d["quantization"],) if quantization else ()) for d in details)


def _plain(data: bytes, x: np.ndarray):
    """What _seen reads, through the plain interpreter API (one input, one output)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return (interp.get_signature_list(), _io(interp.get_input_details()), _io(interp.get_output_details()),
            interp.get_tensor(interp.get_output_details()[0]["index"]))


def _seen(data: bytes, feed: dict[str, np.ndarray]):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data)
    sigs = interp.get_signature_list()
    runner = interp.get_signature_runner("serving_default")
    return (sigs, _io(interp.get_input_details(), quantization=True),
            _io(interp.get_output_details(), quantization=True), runner(**feed))


@pytest.mark.parametrize("quantize,batch", [("none", None), ("none", 1), ("dr_int8", None), ("int8", 1)])
def test_the_lean_export_converts_to_what_tflite_s_keras_path_makes(quantize, batch):
    """A fixed batch of 1 stays fixed (MACs are counted on static shapes), a free one stays free."""
    import tensorflow as tf

    from converters.keras_export import keras_converter

    model = _two_in_three_out(batch)
    rng = np.random.default_rng(0)
    feed = {"image": rng.random((1, 12, 12, 3), dtype=np.float32), "extra": rng.random((1, 4), dtype=np.float32)}
    calib = [{"image": rng.random((1, 12, 12, 3), dtype=np.float32), "extra": rng.random((1, 4), dtype=np.float32)}
             for _ in range(8)]

    def configure(conv):
        if quantize != "none":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "int8":
            conv.representative_dataset = lambda: iter(calib)
        return conv.convert()

    want = configure(tf.lite.TFLiteConverter.from_keras_model(model))
    with keras_converter(model) as conv:
        assert type(conv).__name__ == "TFLiteSavedModelConverterV2"  # the lean path, not the fallback
        got = configure(conv)
    w_sigs, w_in, w_out, w_y = _seen(want, feed)
    g_sigs, g_in, g_out, g_y = _seen(got, feed)
    assert g_sigs == w_sigs and sorted(g_sigs["serving_default"]["outputs"]) == ["boxes", "heat", "scores"]
    assert (g_in, g_out) == (w_in, w_out)
    assert {shape[0] for _, shape, _, _ in g_in} == {-1 if batch is None else batch}
    assert len(got) == len(want)
    for name in w_y:
        np.testing.assert_array_equal(g_y[name], w_y[name])
    keras_y = model([feed["image"], feed["extra"]], training=False)
    np.testing.assert_allclose(g_y["boxes"], keras_y[0].numpy(), atol=0.05 if quantize == "int8" else 1e-4)


def test_a_subclassed_model_converts_as_keras_would():
    """A subclassed model has no input layers: Keras' signature comes from the shapes it was called on."""
    import tensorflow as tf
    import tf_keras as keras

    from converters.keras_export import keras_converter

    class Twice(keras.Model):
        def call(self, x):
            return 2.0 * x

    model = Twice()
    x = np.arange(3, dtype=np.float32)[None]
    model(x)
    want = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    with keras_converter(model) as conv:
        assert type(conv).__name__ == "TFLiteSavedModelConverterV2"
        got = conv.convert()
    (w_sigs, w_in, w_out, w_y), (g_sigs, g_in, g_out, g_y) = (_plain(d, x) for d in (want, got))
    assert (g_sigs, g_in, g_out) == (w_sigs, w_in, w_out)
    np.testing.assert_array_equal(g_y, 2.0 * x)
    np.testing.assert_array_equal(w_y, g_y)


def test_a_model_the_lean_save_cannot_take_goes_through_tflite_s_keras_path(monkeypatch):
    """Any failure of the lean save hands the model to TFLite's own Keras converter, as before this path."""
    from converters import keras_export

    def refuse(model, folder):
        raise RuntimeError("cannot trace")

    monkeypatch.setattr(keras_export, "save_lean", refuse)
    model = _two_in_three_out()
    with keras_export.keras_converter(model) as conv:
        assert type(conv).__name__ == "TFLiteKerasModelConverterV2"
        assert conv.convert()[4:8] == b"TFL3"


def test_the_lean_folder_holds_one_signature_and_is_removed_after():
    import tensorflow as tf

    from converters.keras_export import keras_converter

    model = _two_in_three_out()
    with keras_converter(model) as conv:
        folder = conv.saved_model_dir
        assert folder is not None and type(conv).__name__ == "TFLiteSavedModelConverterV2"
        loaded = tf.saved_model.load(folder)
        assert list(loaded.signatures) == ["serving_default"]
        assert not hasattr(loaded, "keras_api")  # no Keras object graph was written
        conv.convert()
    import os

    assert not os.path.exists(folder)


def test_the_benchmark_refuses_an_unknown_model_in_one_line(capsys):
    """benchmarks/keras_export.py prints the side-by-side table; a bad --models is one line, exit 2, escaped."""
    from benchmarks.keras_export import main

    assert main(["--models", "nope\x1b[31m" + "x" * 200]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("--models: ") and "\x1b" not in err and len(err) < 120
