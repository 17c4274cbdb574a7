"""Full int8 of a Faster R-CNN graph (converters.detection): backbone and head int8, the detection tail float.

The tail (proposal decoding, NMS, the RoI crop written as tent-weight matmuls, box decoding and the class-shifted
NMS) is coordinate arithmetic: quantized to int8 with one scale per tensor, a bilinear sample position over a
38-cell feature map (`pts - grid`, -37..37) gets steps of about 0.3 cell, so the tent weights and the crops
they make are noise, and the class-shifted boxes (0..24) step by 0.1 of a unit square in NMS. The whole-graph
int8 conversion scored the trained proxy's mAP@0.5 0.008 against fp32's 0.404 (issue 23) and ran slower than
fp32, its tail in int8 kernels outside XNNPACK (benchmarks/ladder_int8.py prints the op census and profile).
TFLite's selective quantization (the MLIR quantizer's op denylist, as tf.lite.experimental.QuantizationDebugger
uses it) keeps those ops float; convolutions, pooling and the fully connected head stay int8, calibrated on the
task's own scenes as before. Input and output stay float32 (the tail's outputs are float).
"""
from __future__ import annotations

from typing import Any

# The TFLite ops of the detection tail (ProposalLayer, RoiCrop, DetectionLayer in converters.detection). The
# backbone and head are CONV_2D, MAX_POOL_2D and FULLY_CONNECTED, none of these.
TAIL_OPS = ("TOPK_V2", "GATHER", "NON_MAX_SUPPRESSION_V4", "EXP", "MINIMUM", "MAXIMUM", "SUB", "ADD", "MUL", "ABS",
            "RELU", "BATCH_MATMUL", "TRANSPOSE", "PACK", "STRIDED_SLICE", "SOFTMAX", "ARG_MAX", "CAST", "LESS",
            "LESS_EQUAL", "GREATER_EQUAL", "LOGICAL_AND", "REDUCE_MAX", "SUM", "CONCATENATION", "SLICE",
            "EXPAND_DIMS", "SQUEEZE", "RANGE", "SELECT", "SELECT_V2", "DIV", "RESHAPE")
FLOAT_TAIL_NOTE = ("backbone and head int8; proposal decoding, NMS, RoI crop and box decoding float "
                   "(converters.detection_int8); float32 input and output")


def is_faster_rcnn(keras_model: Any) -> bool:
    """A graph with converters.detection's proposal layer (the zoo's detectors and their compressed copies)."""
    from converters.detection import ProposalLayer, _unwrap

    return keras_model is not None and any(isinstance(_unwrap(layer), ProposalLayer) for layer in keras_model.layers)


def int8_float_tail(converter: Any, representative: Any) -> bytes:
    """`converter` (a TFLiteConverter of the model) quantized to int8 on `representative` data, TAIL_OPS float.

    The two calls QuantizationDebugger makes for its non-debug model (calibrate, then the MLIR quantizer with the
    ops denylisted), without the debugger: its constructor also builds a NumericVerify-instrumented copy of the
    model and an interpreter on it, which this pass never reads (on faster_rcnn_zf that copy is most of the
    conversion's time; benchmarks/ladder_int8.py --only int8_debugger,int8_float_tail times both and checks that
    the files are byte-identical, and tests/test_detection_int8.py checks it on a small proxy)."""
    import tensorflow as tf
    from tensorflow.lite.python import convert as tflite_convert

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter._experimental_calibrate_only = True  # noqa: SLF001 (the debugger's own switch; no public one)
    calibrated = converter.convert()
    model: bytes = tflite_convert.mlir_quantize(
        calibrated, disable_per_channel=converter._experimental_disable_per_channel,  # noqa: SLF001
        fully_quantize=False, denylisted_ops=list(TAIL_OPS))
    return model


def int8_float_tail_via_debugger(converter: Any, representative: Any) -> bytes:
    """The same file through tf.lite.experimental.QuantizationDebugger (the route before; kept to check that the
    direct route gives the same bytes and to time what the debugger adds)."""
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=representative,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(TAIL_OPS)))
    model: bytes = debugger.get_nondebug_quantized_model()
    return model
