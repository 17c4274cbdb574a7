"""What data a Keras model wants (converters.datasets.TaskInfo), from its task and its shapes.

Asked by the passes (calibration data) and the training recipes; kept apart so neither imports the other.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from converters.datasets import TaskInfo, task_info

if TYPE_CHECKING:  # tf_keras ships no type information: mypy cannot check that name
    import tf_keras


def model_task(task: str, keras_model: tf_keras.Model, scale_hint: int | None = None) -> TaskInfo:
    outputs = keras_model.outputs
    out_shape = tuple(outputs[0].shape) if len(outputs) == 1 else ()
    if task == "detection":  # its class count picks its data (converters.detection_scenes.data_for)
        heads = [layer for layer in keras_model.layers if getattr(layer, "name", "") == "head_cls"]
        classes = int(heads[0].units) - 1 if heads and hasattr(heads[0], "units") else 0
        return TaskInfo("detection", channels=int(keras_model.input_shape[-1]), classes=classes)
    return task_info(task, tuple(keras_model.input_shape), out_shape, scale_hint)
