"""Optimization passes: each turns a source model into .tflite bytes, recording its parameters.

A pass is registered in PASSES under its variant name. Passes that need training (pruning,
clustering, factorization, QAT) register themselves from their own modules.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Callable, Hashable, Mapping

from converters.variant_metrics import VariantMetrics

if TYPE_CHECKING:  # tf_keras ships no type information: mypy cannot check that name
    import tf_keras

    from converters.zoo import ModelSpec

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# A pass parameter as a variant label writes it (prune@sparsity=0.5): typed like its default, None for "auto".
Param = int | float | str | bool | None
Params = dict[str, Param]
# What a pass returns: the model's bytes, or them and the facts it records about itself (kept in the metrics).
PassOutput = bytes | tuple[bytes, VariantMetrics]


class ConversionError(Exception):
    """A pass could not produce a model: the message says which pass and why, in one line."""


@dataclass
class Source:
    """What a pass converts: a tf_keras model (zoo, tf_keras file, or a Keras 3 file rebuilt) or a SavedModel."""

    name: str
    keras_model: tf_keras.Model | None = None
    saved_model_dir: Path | None = None
    task: str = "unknown"
    input_shape: tuple[int, ...] | None = None
    image_dir: Path | None = None  # user images for calibration and recipes
    spec: ModelSpec | None = None  # the zoo entry (its scale and builder), None for user files
    # Work shared by passes (one pruned model, one SavedModel export), by a key each pass makes; readers narrow.
    memo: dict[Hashable, object] = field(default_factory=dict)
    keras_note: str | None = None  # why passes that need a tf_keras model cannot run on this source

    def task_info(self):
        """What data this model wants (converters.datasets.TaskInfo), from its task and shapes."""
        from converters.tasks import model_task

        if self.keras_model is None:
            from converters.datasets import TaskInfo

            return TaskInfo(self.task)
        return model_task(self.task, self.keras_model, self.spec.kwargs.get("scale") if self.spec else None)

    def converter(self):
        import tensorflow as tf

        if self.keras_model is not None:
            saved = self._keras_saved_model()
            if saved is not None:
                return tf.lite.TFLiteConverter.from_saved_model(str(saved))
            return tf.lite.TFLiteConverter.from_keras_model(self.keras_model)
        if self.saved_model_dir is not None:
            return tf.lite.TFLiteConverter.from_saved_model(str(self.saved_model_dir))
        raise ConversionError(f"{self.name}: nothing to convert (no Keras model or SavedModel)")


    def _keras_saved_model(self) -> Path | None:
        """The Keras model saved once as a SavedModel, shared by the passes that convert it as it is.

        The lean save (converters.keras_export: the serving signature and variables, not Keras' per-layer
        traces) made once per set of weights serves fp32, fp16, dr_int8 and int8 alike. Keyed on the weights,
        so a pass that changed them in place gets a fresh save. None: the save failed (the converter's own
        path then tries, and falls back as it does)."""
        import hashlib
        import tempfile

        from converters.keras_export import save_lean

        h = hashlib.sha256()
        for w in self.keras_model.weights:
            h.update(w.numpy().tobytes())
        key = ("keras_saved_model", id(self.keras_model), h.hexdigest())
        if key not in self.memo:
            folder = Path(tempfile.mkdtemp(prefix="harness-savedmodel-"))
            try:
                save_lean(self.keras_model, folder)
                self.memo[key] = folder
            except Exception:  # as TFLite's Keras converter does: its frozen-graph path takes over
                self.memo[key] = None
        saved = self.memo[key]
        return saved if isinstance(saved, Path) else None


@dataclass(frozen=True)
class PassSpec:
    """A registered pass: the function, its default parameters and a one-line description."""

    name: str
    fn: Callable[[Source, Params], PassOutput]
    defaults: Params = field(default_factory=dict)
    description: str = ""
    needs_keras: bool = False
    # Declared bounds of parameters: (low, high) inclusive for numbers, or a tuple of allowed strings.
    limits: dict[str, tuple[float, float] | tuple[str, ...]] = field(default_factory=dict)


PASSES: dict[str, PassSpec] = {}

# Bounds every pass shares for a parameter of that name (a pass's own `limits` take precedence).
COMMON_LIMITS: dict[str, tuple[float, float] | tuple[str, ...]] = {
    "sparsity": (0.0, 0.99), "clusters": (2, 65536), "rank": (1, 4096), "steps": (0, 1_000_000),
    "calibration_samples": (1, 100_000), "lr": (0.0, 10.0), "speedup": (1.0, 1000.0), "min_kernel": (1, 64),
    "io_type": ("int8", "uint8", "float32"), "activations": ("float", "int8", "int16"), "distill": (0.0, 1.0),
}


def register(name: str, description: str, defaults: Params | None = None, needs_keras: bool = False,
             limits: dict[str, tuple[float, float] | tuple[str, ...]] | None = None):
    def deco(fn: Callable[[Source, Params], PassOutput]):
        PASSES[name] = PassSpec(name, fn, defaults or {}, description, needs_keras, limits or {})
        return fn

    return deco


def _typed(value: str, default: Param, what: str) -> Param:
    """A parameter's text as the type of its default (a None default takes a number)."""
    text = value.strip()
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float) or default is None:
            number = float(text)
            return int(number) if default is None and number.is_integer() and "." not in text else number
        return text
    except ValueError:
        kind = "a number" if default is None else type(default).__name__
        raise ConversionError(f"{what}: {text[:40]!r} is not {kind}") from None


def _format(value: Param) -> str:
    return repr(value) if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else str(value)


def parse_variant(label: str) -> tuple[str, Params]:
    """`prune@sparsity=0.5@steps=100` -> ("prune", {"sparsity": 0.5, "steps": 100}), checked against the
    pass's declared parameters (names, types, bounds); raises ConversionError with one line."""
    name, *parts = label.strip().split("@")
    spec = get_pass(name)
    params: Params = {}
    for part in parts:
        key, eq, value = part.partition("=")
        key = key.strip()
        what = f"variant {label[:80]!r}: parameter {key[:40]!r}"
        if not eq or not key:
            raise ConversionError(f"variant {label[:80]!r}: write parameters as @name=value (e.g. prune@sparsity=0.5)")
        if key not in spec.defaults:
            known = ", ".join(sorted(spec.defaults)) or "none"
            raise ConversionError(f"{what}: {name} has no such parameter (its parameters: {known})")
        typed = _typed(value, spec.defaults[key], what)
        bounds = spec.limits.get(key) or COMMON_LIMITS.get(key)
        if bounds and isinstance(bounds[0], str):
            if typed not in bounds:
                raise ConversionError(f"{what}: {typed!r} is not one of {', '.join(bounds)}")
        elif bounds and isinstance(typed, (int, float)) and not bounds[0] <= typed <= bounds[1]:
            raise ConversionError(f"{what}: {typed} is outside {bounds[0]}..{bounds[1]}")
        params[key] = typed
    return name, params


def variant_label(name: str, params: Mapping[str, Param]) -> str:
    """The canonical label of a pass with parameters, as tables and the cache show it."""
    return name + "".join(f"@{k}={_format(v)}" for k, v in sorted(params.items()))


def _convert(conv, what: str) -> bytes:
    try:
        return conv.convert()
    except Exception as exc:  # TF raises many types; the message is what the user needs
        msg = str(exc).strip().splitlines()
        raise ConversionError(f"{what}: TFLite conversion failed: {msg[-1] if msg else type(exc).__name__}") from exc


@register("fp32", "float32, no optimization (the baseline)")
def fp32(src: Source, params: Params) -> bytes:
    return _convert(src.converter(), f"{src.name}/fp32")


@register("fp16", "float16 weights (dequantized to fp32 on CPU, native on GPU delegates)")
def fp16(src: Source, params: Params) -> bytes:
    import tensorflow as tf

    conv = src.converter()
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]
    return _convert(conv, f"{src.name}/fp16")


@register("dr_int8", "dynamic-range int8: int8 weights, float activations")
def dr_int8(src: Source, params: Params) -> bytes:
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
        from converters.detection_data import CLASSES
        from converters.detection_scenes import batch_for

        inputs = batch_for(task.classes or len(CLASSES), count, int(src.input_shape[1]), seed + 777)[0]
    else:
        inputs = calibration_inputs(task, src.input_shape, count, seed, src.image_dir)
    if inputs is not None:  # the task's own data: the ranges int8 must cover
        batches = [[x[None].astype("float32")] for x in inputs]
    else:
        batches = list(representative_batches(src.input_shape, count, seed, src.image_dir))
    return lambda: iter(batches)


@register("int8", "full-integer int8 with representative data; int8 input and output",
          {"calibration_samples": 32, "io_type": "int8"})
def full_int8(src: Source, params: Params) -> bytes | tuple[bytes, dict[str, object]]:
    import tensorflow as tf

    from converters.detection_int8 import FLOAT_TAIL_NOTE, int8_float_tail, is_faster_rcnn

    samples = int(params.get("calibration_samples", 32))
    if is_faster_rcnn(src.keras_model):  # its box arithmetic in int8 scored mAP 0.008 (issue 23)
        data = int8_float_tail(src.converter(), representative_dataset(src, samples))
        return data, {"int8_float_ops": FLOAT_TAIL_NOTE}
    conv = src.converter()
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative_dataset(src, samples)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    io_type = params.get("io_type", "int8")
    if io_type in ("int8", "uint8"):
        conv.inference_input_type = getattr(tf, io_type)
        conv.inference_output_type = getattr(tf, io_type)
    return _convert(conv, f"{src.name}/int8")


DEFAULT_VARIANTS = ("fp32", "fp16", "dr_int8", "int8")


# Modules that register further passes (training-based ones live apart to keep this file small).
EXTENSION_MODULES: tuple[str, ...] = ("converters.compress", "converters.factorize", "converters.subpixel",
                                      "converters.tensorrt", "converters.coreml", "converters.channels",
                                      "converters.svd", "converters.control")


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
    _, given = parse_variant(name)  # names, types and bounds checked against the declared parameters
    return PassSpec(name, spec.fn, {**spec.defaults, **given}, spec.description, spec.needs_keras, spec.limits)
