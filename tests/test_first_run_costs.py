"""What a first run no longer pays twice: one child process scores every variant (its imports, eval data and the
fp32 reference's outputs kept between calls), and one SavedModel export of a Keras model serves the plain
conversions (fp32, fp16, dr_int8, int8). Timings: README "The first run"."""
from __future__ import annotations

import os

import numpy as np
import pytest

from converters import isolate


def test_the_isolating_child_is_kept_between_calls_and_replaced_after_a_crash(tmp_path, monkeypatch):
    first = isolate.call("os", "getpid")
    assert first != os.getpid() and isolate.call("os", "getpid") == first  # the same worker serves both
    with pytest.raises(isolate.NativeCrash, match=r"net.tflite: .*crashed loading it \(SIGSEGV"):
        isolate.call("ctypes", "string_at", 0, what="net.tflite")
    second = isolate.call("os", "getpid")
    assert second not in (first, os.getpid())  # a fresh worker after the crash
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HARNESS_ISOLATE_PROBE", "x1")
    assert isolate.call("os", "getcwd") == str(tmp_path)  # relative paths mean what they mean here
    assert isolate.call("os", "getenv", "HARNESS_ISOLATE_PROBE") == "x1"
    with pytest.raises(ValueError, match="math domain error"):
        isolate.call("math", "sqrt", -1)
    assert isolate.call("os", "getpid") == second  # an exception raised there leaves the worker in place


def test_a_call_past_its_timeout_ends_the_worker(tmp_path):
    with pytest.raises(isolate.ConversionError, match="did not finish in 1 s"):
        isolate.call("time", "sleep", 30, what="slow.tflite", timeout_s=1)
    assert isolate.call("os.path", "basename", "/a/b.tflite") == "b.tflite"


def test_one_savedmodel_export_serves_the_plain_conversions(tmp_path):
    import tf_keras as keras

    from converters.passes import Source, get_pass

    keras.utils.set_random_seed(1)
    inp = keras.Input((16, 16, 3), batch_size=1, name="image")
    model = keras.Model(inp, keras.layers.Conv2D(4, 3, padding="same", name="out")(inp))
    src = Source(name="tiny", keras_model=model, input_shape=(1, 16, 16, 3))
    out = {v: get_pass(v).fn(src, {}) for v in ("fp32", "dr_int8")}
    assert len([k for k in src.memo if k[0] == "keras_saved_model"]) == 1  # saved once for both
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    want = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    x = np.random.default_rng(0).random((1, 16, 16, 3), dtype=np.float32)
    got = [Interpreter(model_content=m).get_signature_runner()(image=x) for m in (out["fp32"], want)]
    assert list(got[0]) == list(got[1]) == ["out"]  # the Keras output names stay the signature's
    np.testing.assert_array_equal(got[0]["out"], got[1]["out"])
    model.layers[-1].kernel.assign(model.layers[-1].kernel * 2)  # changed weights: a fresh export
    get_pass("fp32").fn(src, {})
    assert len([k for k in src.memo if k[0] == "keras_saved_model"]) == 2
