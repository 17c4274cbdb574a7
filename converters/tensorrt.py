"""The TensorRT pass: export what the Jetson needs so the engine is built on the target.

TensorRT engines are specific to the GPU and TensorRT version they are built with, so the host
exports ONNX (tf2onnx) and `trtexec --onnx` builds the engine on the Jetson. The artifact is a
.onnx (BuiltVariant.path), which LiteRT targets cannot run; TensorRT targets can.
"""
from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from converters.passes import ConversionError, Source, register

if TYPE_CHECKING:
    from converters.passes import Params


def tensorrt_in_tensorflow() -> bool:
    import tensorflow as tf

    return bool(tf.sysconfig.get_build_info().get("is_tensorrt_build", False))


@register("tensorrt", "export for TensorRT: ONNX (tf2onnx) that trtexec turns into an engine on the Jetson",
          {"opset": 17})
def tensorrt(src: Source, params: Params):
    import tensorflow as tf

    where = ("this TensorFlow has TensorRT, but the engine must still be built on the target" if
             tensorrt_in_tensorflow() else f"TensorFlow {tf.__version__} here has no TensorRT (pip build)")
    try:
        import tf2onnx
    except ImportError:
        return _saved_model_tgz(src), {"artifact_suffix": ".tgz", "format": "saved_model",
                                       "note": f"{where}: tf2onnx missing, exported a SavedModel (.tgz)"}
    opset = int(params["opset"])
    try:
        if src.keras_model is not None:
            shape = (1, *tuple(src.keras_model.input_shape)[1:])
            spec = (tf.TensorSpec(shape, tf.float32, name=src.keras_model.input_names[0]),)
            proto, _ = tf2onnx.convert.from_keras(src.keras_model, input_signature=spec, opset=opset)
        else:
            fn = tf.saved_model.load(str(src.saved_model_dir)).signatures["serving_default"]
            proto, _ = tf2onnx.convert.from_function(fn, opset=opset)
    except Exception as exc:  # tf2onnx raises many types; the last line says what failed
        lines = str(exc).strip().splitlines()
        raise ConversionError(
            f"{src.name}/tensorrt: ONNX export failed: {lines[-1] if lines else type(exc).__name__}") from exc
    return proto.SerializeToString(), {
        "artifact_suffix": ".onnx", "format": "onnx", "opset": opset,
        "note": f"{where}: exported ONNX; build the engine on the Jetson (trtexec --onnx)"}


def _saved_model_tgz(src: Source) -> bytes:
    """The SavedModel as a .tgz: what TF-TRT on the Jetson takes when tf2onnx is not installed."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(src.saved_model_dir) if src.keras_model is None else Path(tmp) / "saved_model"
        if src.keras_model is not None:
            tf.saved_model.save(src.keras_model, str(folder))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(folder, arcname="saved_model")
        return buf.getvalue()
