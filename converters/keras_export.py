"""A tf_keras model to a TFLite converter, through a lean SavedModel: its serving function and variables only.

TFLiteConverter.from_keras_model saves the Keras model as a Keras SavedModel first, which traces every layer's
call functions for Keras' own metadata and then loads them all back: most of a conversion's CPU (MobileNetV3Small
at 32x32, fp32: 12.0 CPU-s through Keras' save, 3.4 through this one; its every-pass builds 170.6 vs 90.9; the
same .tflite but for the one byte of conversion metadata that names the source format). The converter only reads
the `serving_default` signature, so this saves exactly the signature Keras would write (the same tf_keras function
traces it) and the variables it reads, nothing else. Any model this cannot save goes through TFLite's Keras path
as before.
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tf_keras


def serving_signature(model: tf_keras.Model) -> Any:
    """The concrete function Keras' SavedModel export writes as `serving_default`, made by the same tf_keras call
    (`default_save_signature`: the model in inference mode on its saved input specs, outputs flattened into a
    dict by output name), so a .tflite's signature keys, tensor names and shapes come out as from_keras_model's."""
    from tf_keras.src.saving.legacy.saved_model import save_impl  # pinned tf_keras; Keras' own save calls it

    return save_impl.default_save_signature(model)


def save_lean(model: tf_keras.Model, folder: Path) -> None:
    """A SavedModel of `model`'s serving signature and the variables it reads (not the Keras object graph)."""
    import tensorflow as tf

    concrete = serving_signature(model)
    root = tf.Module()
    root.model_variables = list(model.variables)  # what the signature captures must be reachable from the root
    tf.saved_model.save(root, str(folder), signatures={"serving_default": concrete},
                        options=tf.saved_model.SaveOptions(save_debug_info=True))


@contextlib.contextmanager
def keras_converter(model: tf_keras.Model) -> Iterator[Any]:
    """A TFLiteConverter for `model`, from its lean SavedModel (kept until the block ends: the converter reads the
    folder again in convert()); TFLite's own Keras path where the lean save cannot be made."""
    import tensorflow as tf

    folder = Path(tempfile.mkdtemp(prefix="harness-lean-savedmodel-"))
    try:
        try:
            save_lean(model, folder)
            conv = tf.lite.TFLiteConverter.from_saved_model(str(folder))
        except Exception:  # as TFLite's Keras converter falls back from its own SavedModel path
            conv = tf.lite.TFLiteConverter.from_keras_model(model)
        yield conv
    finally:
        shutil.rmtree(folder, ignore_errors=True)
