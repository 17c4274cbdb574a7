"""What data a Keras model wants (converters.datasets.TaskInfo), from its task and its shapes.

Asked by the passes (calibration data) and the training recipes; kept apart so neither imports the other.
"""
from __future__ import annotations

from typing import Any

from converters.datasets import TaskInfo, task_info


def model_task(task: str, keras_model: Any, scale_hint: int | None = None) -> TaskInfo:
    outputs = keras_model.outputs
    out_shape = tuple(outputs[0].shape) if len(outputs) == 1 else ()
    if task == "detection":
        return TaskInfo("detection", channels=int(keras_model.input_shape[-1]))
    return task_info(task, tuple(keras_model.input_shape), out_shape, scale_hint)
