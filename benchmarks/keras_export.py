"""TFLite's Keras path against the lean SavedModel (converters/keras_export.py), side by side in one run.

For each model: the CPU seconds of an fp32 conversion through `TFLiteConverter.from_keras_model` and through
`keras_converter`, their ratio, and whether the two .tflite files agree (size, input/output names, shapes and
dtypes, signatures, outputs on one seeded input; how many bytes differ: 1 is the conversion metadata's source
format). Zoo models by name, or `mobilenetv3small` (keras.applications, 32x32, rebuilt in tf_keras as a user's
.keras file is). Recipes' training is not timed: build the zoo's weights first or set HARNESS_RECIPE=quick.

    python benchmarks/keras_export.py [--models mobilenetv3small,squeezenet,faster_rcnn_proxy]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

APP = "mobilenetv3small"


def source(name: str, builder: Any, tmp: Path) -> Any:
    """The builder's Source of a zoo model by name, or of `mobilenetv3small` saved as a user's .keras file in tmp."""
    if name == APP:
        import keras

        keras.utils.set_random_seed(0)
        app = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=4,
                                                  classifier_activation=None)
        path = tmp / "mobilenetv3small.keras"
        app.save(path)
        name = str(path)
    return builder.source(name)


def _model(name: str, builder: Any, tmp: Path) -> Any:
    return source(name, builder, tmp).keras_model


def _seen(data: bytes, x: np.ndarray) -> tuple[Any, list[np.ndarray]]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=data)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    io = [[(d["name"], list(d["shape_signature"]), d["dtype"].__name__) for d in it.get_input_details()],
          [(d["name"], list(d["shape_signature"]), d["dtype"].__name__) for d in it.get_output_details()],
          it.get_signature_list()]
    return io, [it.get_tensor(d["index"]) for d in it.get_output_details()]


def compare(name: str, model: Any) -> dict[str, Any]:
    import tensorflow as tf

    from converters.keras_export import keras_converter

    t = time.process_time()
    keras_bytes = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    keras_s = time.process_time() - t
    t = time.process_time()
    with keras_converter(model) as conv:
        lean_bytes = conv.convert()
    lean_s = time.process_time() - t
    x = np.random.default_rng(0).random([1, *[int(v) for v in model.inputs[0].shape[1:]]]).astype(np.float32)
    (k_io, k_out), (l_io, l_out) = _seen(keras_bytes, x), _seen(lean_bytes, x)
    return {"model": name, "keras_cpu_s": keras_s, "lean_cpu_s": lean_s,
            "same_size": len(keras_bytes) == len(lean_bytes), "same_io": k_io == l_io,
            "same_outputs": all(np.array_equal(a, b) for a, b in zip(k_out, l_out)),
            "bytes_differing": sum(a != b for a, b in zip(keras_bytes, lean_bytes))
            + abs(len(keras_bytes) - len(lean_bytes))}


def main(argv: list[str] | None = None) -> int:
    from converters.zoo import ZOO

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=f"{APP},squeezenet,faster_rcnn_proxy")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n != APP and n not in ZOO]
    if not names or unknown:
        shown = ascii(unknown[0][:40]) if unknown else "''"
        print(f"--models: {shown} is not a zoo model or {APP}", file=sys.stderr)
        return 2
    from converters.build import VariantBuilder

    with tempfile.TemporaryDirectory() as tmp:
        builder = VariantBuilder(Path(tmp) / "cache")
        print("| model | Keras path CPU-s | lean CPU-s | lean / Keras | same size, io, outputs | bytes differing |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name in names:
            r = compare(name, _model(name, builder, Path(tmp)))
            same = "yes" if r["same_size"] and r["same_io"] and r["same_outputs"] else "NO"
            print(f"| {name} | {r['keras_cpu_s']:.1f} | {r['lean_cpu_s']:.1f} | "
                  f"{r['lean_cpu_s'] / max(r['keras_cpu_s'], 1e-9):.2f}x | {same} | {r['bytes_differing']} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
