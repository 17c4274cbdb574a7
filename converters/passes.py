"""Optimization passes: each turns a source model into .tflite bytes, recording its parameters.

A pass is registered in PASSES under its variant name. Passes that need training (pruning,
clustering, factorization, QAT) register themselves from their own modules.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class ConversionError(Exception):
    """A pass could not produce a model: the message says which pass and why, in one line."""


@dataclass
class Source:
    """What a pass converts: a tf_keras model (zoo, tf_keras file, or a Keras 3 file rebuilt) or a SavedModel."""

    name: str
    keras_model: Any = None
    saved_model_dir: Path | None = None
    task: str = "unknown"
    input_shape: tuple[int, ...] | None = None
    image_dir: Path | None = None  # user images for calibration and recipes
    spec: Any = None  # the zoo ModelSpec (its scale and builder), None for user files
    memo: dict[Any, Any] = field(default_factory=dict)  # work shared by passes (e.g. one pruned model)
    keras_note: str | None = None  # why passes that need a tf_keras model cannot run on this source

    def task_info(self):
        """What data this model wants (converters.datasets.TaskInfo), from its task and shapes."""
        from converters.training import model_task

        if self.keras_model is None:
            from converters.datasets import TaskInfo

            return TaskInfo(self.task)
        return model_task(self.task, self.keras_model, self.spec.kwargs.get("scale") if self.spec else None)

    def converter(self):
        import tensorflow as tf

        if self.keras_model is not None:
            return tf.lite.TFLiteConverter.from_keras_model(self.keras_model)
        if self.saved_model_dir is not None:
            return tf.lite.TFLiteConverter.from_saved_model(str(self.saved_model_dir))
        raise ConversionError(f"{self.name}: nothing to convert (no Keras model or SavedModel)")


@dataclass(frozen=True)
class PassSpec:
    """A registered pass: the function, its default parameters and a one-line description."""

    name: str
    fn: Callable[[Source, dict[str, Any]], bytes]
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    needs_keras: bool = False


PASSES: dict[str, PassSpec] = {}


def register(name: str, description: str, defaults: dict[str, Any] | None = None, needs_keras: bool = False):
    def deco(fn: Callable[[Source, dict[str, Any]], bytes]):
        PASSES[name] = PassSpec(name, fn, defaults or {}, description, needs_keras)
        return fn

    return deco


def _convert(conv, what: str) -> bytes:
    try:
        return conv.convert()
    except Exception as exc:  # TF raises many types; the message is what the user needs
        msg = str(exc).strip().splitlines()
        raise ConversionError(f"{what}: TFLite conversion failed: {msg[-1] if msg else type(exc).__name__}") from exc


@register("fp32", "float32, no optimization (the baseline)")
def fp32(src: Source, params: dict[str, Any]) -> bytes:
    return _convert(src.converter(), f"{src.name}/fp32")


@register("fp16", "float16 weights (dequantized to fp32 on CPU, native on GPU delegates)")
def fp16(src: Source, params: dict[str, Any]) -> bytes:
    import tensorflow as tf

    conv = src.converter()
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]
    return _convert(conv, f"{src.name}/fp16")


@register("dr_int8", "dynamic-range int8: int8 weights, float activations")
def dr_int8(src: Source, params: dict[str, Any]) -> bytes:
    import tensorflow as tf

    conv = src.converter()
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    return _convert(conv, f"{src.name}/dr_int8")


def representative_dataset(src: Source, count: int, seed: int = 0):
    """Calibration data from images (scikit-image's or the user's), never downloaded."""
    from converters.data import representative_batches

    if src.input_shape is None or len(src.input_shape) != 4:
        raise ConversionError(
            f"{src.name}/int8: no representative data for input shape {src.input_shape} (image models only)"
        )
    from converters.datasets import calibration_inputs

    task = src.task_info()
    if task.kind == "detection":
        from converters.detection_data import generate_shapes

        inputs = generate_shapes(count, int(src.input_shape[1]), seed + 777)[0]
    else:
        inputs = calibration_inputs(task, src.input_shape, count, seed, src.image_dir)
    if inputs is not None:  # the task's own data: the ranges int8 must cover
        batches = [[x[None].astype("float32")] for x in inputs]
    else:
        batches = list(representative_batches(src.input_shape, count, seed, src.image_dir))
    return lambda: iter(batches)


@register("int8", "full-integer int8 with representative data; int8 input and output",
          {"calibration_samples": 32, "io_type": "int8"})
def full_int8(src: Source, params: dict[str, Any]) -> bytes:
    import tensorflow as tf

    conv = src.converter()
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative_dataset(src, int(params.get("calibration_samples", 32)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    io_type = params.get("io_type", "int8")
    if io_type in ("int8", "uint8"):
        conv.inference_input_type = getattr(tf, io_type)
        conv.inference_output_type = getattr(tf, io_type)
    return _convert(conv, f"{src.name}/int8")


DEFAULT_VARIANTS = ("fp32", "fp16", "dr_int8", "int8")


# Modules that register further passes (training-based ones live apart to keep this file small).
EXTENSION_MODULES: tuple[str, ...] = ("converters.compress", "converters.tensorrt", "converters.coreml",
                                      "converters.channels")


def load_extensions() -> None:
    import importlib

    for module in EXTENSION_MODULES:
        importlib.import_module(module)


def get_pass(name: str) -> PassSpec:
    """The pass named `name`; `name@key=value@...` overrides its defaults (prune_channels@flops=0.5)."""
    load_extensions()
    base, _, args = name.partition("@")
    try:
        spec = PASSES[base]
    except KeyError:
        raise ConversionError(f"unknown pass {base[:80]!r} (known: {', '.join(sorted(PASSES))})") from None
    if not args:
        return spec
    overrides = dict(spec.defaults)
    for item in args.split("@"):
        key, eq, value = (part.strip() for part in item.partition("="))
        if not eq or key not in spec.defaults:
            raise ConversionError(f"variant {name[:80]!r}: {key[:40]!r} is not a parameter of {base} "
                                  f"(known: {', '.join(sorted(spec.defaults)) or 'none'})")
        overrides[key] = _param_value(value)
    return PassSpec(name, spec.fn, overrides, spec.description, spec.needs_keras)


def _param_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return None if text.lower() in ("", "none") else text
