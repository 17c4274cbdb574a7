"""Full int8 of a Faster R-CNN graph keeps its detection tail float (converters/detection_int8.py): converted by the
real TFLite converter and read back by LiteRT. Whole-graph int8 ran the RoI crop's BATCH_MATMUL in int8 (182 of
275 ms on the proxy) and scored mAP@0.5 0.009 against fp32's 0.420 (benchmarks/ladder_int8.py, issue 23)."""
from __future__ import annotations

from benchmarks.ladder_int8 import op_census


def test_int8_of_a_detector_runs_backbone_and_head_int8_and_the_tail_float(tmp_path, tiny_proxy):
    from converters.passes import get_pass

    p = get_pass("int8")
    result = p.fn(tiny_proxy, {**p.defaults, "calibration_samples": 4})
    assert isinstance(result, tuple) and "NMS, RoI crop and box decoding float" in result[1]["int8_float_ops"]
    path = tmp_path / "int8.tflite"
    path.write_bytes(result[0])
    by_op = op_census(path)["by_op"]
    assert by_op["CONV_2D"] == {"int8": 8} and by_op["FULLY_CONNECTED"] == {"int8": 4}  # backbone + RPN, head
    assert set(by_op["BATCH_MATMUL"]) == {"float32"}  # the RoI crop's bilinear sampling
    assert set(by_op["SUB"]) == {"float32"} and set(by_op["EXP"]) == {"float32"}  # box decoding, tent weights
    assert "NON_MAX_SUPPRESSION_V4" in by_op and by_op["QUANTIZE"] and by_op["DEQUANTIZE"]


def test_the_float_tail_is_built_without_the_quantization_debugger_and_is_the_debugger_s_file(monkeypatch):
    """The debugger's constructor builds a NumericVerify copy of the model and an interpreter the pass never reads
    (most of the conversion's time on faster_rcnn_zf): the pass makes the debugger's own two calls instead, and
    its bytes are the debugger's non-debug model, byte for byte."""
    import tensorflow as tf
    import tf_keras as keras

    from converters.detection_int8 import int8_float_tail, int8_float_tail_via_debugger
    from converters.passes import Source, get_pass, representative_dataset
    from converters.zoo import get_spec

    keras.utils.set_random_seed(0)
    spec = get_spec("faster_rcnn_proxy@size=128@head_units=64@pre_nms=256@proposals=16")
    km = spec.create()
    src = Source(spec.name, keras_model=km, task="detection", input_shape=tuple(km.input_shape), spec=spec)
    reference = int8_float_tail_via_debugger(src.converter(), representative_dataset(src, 4))

    def no_debugger(*args, **kwargs):
        raise AssertionError("the int8 pass built a QuantizationDebugger")

    monkeypatch.setattr(tf.lite.experimental, "QuantizationDebugger", no_debugger)
    p = get_pass("int8")
    data, _ = p.fn(src, {**p.defaults, "calibration_samples": 4})
    assert data == reference
    assert int8_float_tail(src.converter(), representative_dataset(src, 4)) == reference


def test_int8_of_a_classifier_is_whole_graph_int8_as_before(tmp_path):
    import tf_keras as keras

    from converters.passes import Source, get_pass
    from converters.zoo import get_spec

    keras.utils.set_random_seed(0)
    spec = get_spec("srcnn")
    km = spec.create()
    p = get_pass("int8")
    result = p.fn(Source(spec.name, keras_model=km, task=spec.task, input_shape=tuple(km.input_shape), spec=spec),
                  {**p.defaults, "calibration_samples": 2})
    assert isinstance(result, bytes)
    path = tmp_path / "int8.tflite"
    path.write_bytes(result)
    census = op_census(path)
    assert census["by_op"]["CONV_2D"] == {"int8": 3} and "float32" not in census["by_dtype"]
