"""Compression passes that need a Keras model, most of them with fine-tuning.

prune / prune_sparse  magnitude pruning to a target sparsity (tensorflow-model-optimization), stored
                      dense (zeros, which gzip sees) or in TFLite's sparse format
cluster               weight clustering (k shared values per kernel)
qat                   quantization-aware training, converted to full int8
deep_compression      pruning + int8 weights (float activations), size under Han et al.'s entropy coding
(factorize lives in converters/factorize.py, subpixel in converters/subpixel.py, the TensorRT export in
converters/tensorrt.py; they share the Keras helpers here)

tfmot wraps only layers it knows, so passes wrap Conv2D / Conv2DTranspose / Dense one by one and
leave the rest (PReLU, custom detection layers) alone; QAT quantizes PReLU with its own config.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any
from collections.abc import Callable

import numpy as np

from converters.passes import ConversionError, Source, _convert, register, representative_dataset
from converters.datasets import calibration_inputs
from converters.distill import compression_distill
from converters.keras_export import keras_converter
from converters.training import FINE_TUNE_LR, compression_steps, fine_tuned, scaled, tuned_copy

if TYPE_CHECKING:  # tf_keras ships no type information: mypy cannot check these names
    import tf_keras
    from tf_keras.layers import Layer

    from converters.datasets import TaskInfo
    from converters.passes import Params

WRAPPABLE = ("Conv2D", "Conv2DTranspose", "Dense")


def _task(src: Source, what: str):
    info = src.task_info()
    if info.kind == "unknown":
        raise ConversionError(f"{src.name}/{what}: needs fine-tuning, but no recipe fits this model "
                              "(its task is not known from its input and output shapes)")
    return info


def _keras(src: Source, what: str) -> tf_keras.Model:
    if src.keras_model is None:
        raise ConversionError(f"{src.name}/{what}: this pass needs a Keras model, not a SavedModel")
    return src.keras_model


def _custom_objects(model: tf_keras.Model) -> dict[str, type]:
    return {type(layer).__name__: type(layer) for layer in model.layers}


def _wrap(model: tf_keras.Model, wrap: Callable[[Layer], Layer], kinds: tuple[str, ...] = WRAPPABLE) -> tf_keras.Model:
    """Clone the graph with `wrap(layer)` for each layer of a wrappable kind; others are shared."""
    import tf_keras as keras

    return keras.models.clone_model(model, clone_function=lambda l: wrap(l) if type(l).__name__ in kinds else l)


def _keras_bytes(model: tf_keras.Model, what: str, *, optimizations: tuple = (), representative: Any = None,
                 int8_io: bool = False) -> bytes:
    import tensorflow as tf

    with keras_converter(model) as conv:
        conv.optimizations = list(optimizations)
        if representative is not None:
            conv.representative_dataset = representative
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        return _convert(conv, what)


def _lr(params: Params, info: TaskInfo) -> float:
    return float(params["lr"]) if params.get("lr") else FINE_TUNE_LR.get(info.kind, 5e-4)


def _distill(src: Source, params: Params, info: TaskInfo, what: str) -> float:
    """The pass's distillation weight (distill.compression_distill), a bad value one line naming the pass."""
    try:
        return compression_distill(params.get("distill"), info)
    except ValueError as exc:
        raise ConversionError(f"{src.name}/{what}: {exc}") from None


def _functional(model: tf_keras.Model) -> tf_keras.Model:
    """Sequential models as functional ones, whose config lists each layer's inputs."""
    if type(model).__name__ != "Sequential":
        return model
    import tf_keras as keras

    return keras.Model(model.inputs, model.outputs, name=model.name)


def _kernel_layers(model: tf_keras.Model) -> list[Layer]:
    return [l for l in model.layers if type(l).__name__ in WRAPPABLE]


# ---------------------------------------------------------------- pruning


def pruned_model(src: Source, params: Params, what: str) -> tuple[tf_keras.Model, dict[str, Any]]:
    """The model pruned to params['sparsity'] and fine-tuned (memoized per source and parameters)."""
    key = ("prune", float(params["sparsity"]), params.get("steps"), params.get("lr"), params.get("distill"),
           params.get("layers"), params.get("gentle"))
    if key in src.memo:
        return src.memo[key]
    import tensorflow_model_optimization as tfmot

    _keras(src, what)
    info = _task(src, what)
    # steps None: the task's COMPRESSION_STEPS; pruning needs a few steps to reach its target, so never under 2
    target, steps = float(params["sparsity"]), max(2, compression_steps(params.get("steps"), info))
    if not 0.0 < target < 1.0:
        raise ConversionError(f"{src.name}/{what}: sparsity {target} must lie strictly between 0 and 1")
    distill = _distill(src, params, info, what)
    rule, gentle = str(params.get("layers") or "uniform"), str(params.get("gentle") or "")
    try:
        per_layer = layer_sparsity(_kernel_layers(src.keras_model), target, rule, gentle)
    except ValueError as exc:
        raise ConversionError(f"{src.name}/{what}: {exc}") from None
    # Polynomial ramp to the target over the first 60% of the steps, then fine-tuning with fixed
    # masks. end_step must be a pruning step (begin + k * frequency) or the ramp stops short of it.
    sk = tfmot.sparsity.keras
    freq = max(1, steps // 20)
    end = max(freq, (int(steps * 0.6) // freq) * freq)
    schedules = {name: sk.PolynomialDecay(0.0, s, begin_step=0, end_step=end, frequency=freq)
                 for name, s in per_layer.items() if s > 0}

    def transform(m: tf_keras.Model) -> tf_keras.Model:
        return _wrap(m, lambda l: sk.prune_low_magnitude(l, pruning_schedule=schedules[l.name])
                     if l.name in schedules else l)

    with sk.prune_scope():
        stripped = fine_tuned(src, transform, max(steps, end + 1), _lr(params, info),
                              callbacks=lambda: [sk.UpdatePruningStep()], strip=sk.strip_pruning, distill=distill)
    kernels = [l.get_weights()[0] for l in _kernel_layers(stripped)]
    reached = 1.0 - sum(int(np.count_nonzero(k)) for k in kernels) / max(1, sum(k.size for k in kernels))
    if reached < target - 0.01:
        raise ConversionError(f"{src.name}/{what}: pruning reached sparsity {reached:.3f}, short of {target}")
    result = (stripped, {"sparsity_target": target, "sparsity_reached": round(reached, 4), "steps_run": steps,
                         "fine_tune_lr": _lr(params, info), "distill": distill,
                         "layers": rule, "gentle": gentle,
                         "layer_sparsity_range": [round(min(per_layer.values()), 3),
                                                  round(max(per_layer.values()), 3)]})
    src.memo[key] = result
    return result


LAYER_RULES = ("uniform", "std")
# Issue 23, SqueezeNet deep_compression, 3000 held-out patches, 1500-step fine-tunes, paired 95% against the control
# (benchmarks/dc_recipe.py, optimizations.py): at 67% uniform -0.046 (-0.058 to -0.035), std +0.011 (-0.002 to
# +0.023); at 90% uniform +0.013 (-0.001 to +0.026), std -0.111 (worst end -0.126). A second training seed at 67%:
# std minus uniform -0.005 (seed 1: +0.057), the control 0.586 (seed 1: 0.793). Inside the spread between training
# runs, so std is not the default.
MAX_LAYER_SPARSITY = 0.98  # tfmot needs a final sparsity under 1; a layer emptied would cut the network


def layer_sparsity(layers: list[Layer], target: float, rule: str = "uniform", gentle: str = "") -> dict[str, float]:
    """Each kernel layer's final sparsity, so that the kernels together reach `target`.

    "uniform": every layer at the target. "std": Han et al. 2015 (Learning both Weights and Connections, sec. 3):
    a layer's threshold is a quality parameter times the standard deviation of its weights, one parameter for the
    whole network (set here so the total reaches the target): a layer whose weights are mostly small (a 1000-way
    class conv trained on 10 classes) is pruned more, the others less. `gentle` (gentle_layers): layers pruned at
    half their share, the rest more to keep the total (up to MAX_LAYER_SPARSITY; what they cannot take, the gentle
    layers take back). Raises ValueError (one line naming the parameter) for a rule or part that cannot be met.
    """
    if rule not in LAYER_RULES:
        raise ValueError(f"layers {rule[:40]!r}: one of {', '.join(LAYER_RULES)}")
    signed = {l.name: l.get_weights()[0] for l in layers}
    kernels = {n: np.abs(k) for n, k in signed.items()}
    sizes = {n: k.size for n, k in kernels.items()}
    total = sum(sizes.values())

    def pruned_at(q: float, stds: dict[str, float]) -> dict[str, float]:
        return {n: min(MAX_LAYER_SPARSITY, float((k <= q * stds[n]).mean())) for n, k in kernels.items()}

    if rule == "uniform":
        share = {n: target for n in kernels}
    else:
        stds = {n: float(k.std()) or 1.0 for n, k in signed.items()}
        lo, hi = 0.0, 1.0
        while sum(v * sizes[n] for n, v in pruned_at(hi, stds).items()) < target * total:
            lo, hi = hi, 2 * hi
            if hi > 1e6:
                raise ValueError(f"layers {rule!r}: no threshold reaches sparsity {target}")
        for _ in range(50):
            q = (lo + hi) / 2
            got = sum(v * sizes[n] for n, v in pruned_at(q, stds).items())
            lo, hi = (q, hi) if got < target * total else (lo, q)
        share = pruned_at(hi, stds)
    soft = gentle_layers(layers, gentle)
    if not soft or len(soft) == len(kernels):
        return share
    full = dict(share)
    for n in soft:
        share[n] /= 2
    free = [n for n in kernels if n not in soft]
    while free:  # the others scaled up to make the total, each capped
        need = target * total - sum(share[n] * sizes[n] for n in kernels if n not in free)
        have = sum(share[n] * sizes[n] for n in free)
        f = need / have if have > 0 else 1.0
        capped = [n for n in free if share[n] * f > MAX_LAYER_SPARSITY]
        if not capped:
            for n in free:
                share[n] *= f
            break
        for n in capped:
            share[n] = MAX_LAYER_SPARSITY
            free.remove(n)
    short = target * total - sum(share[n] * sizes[n] for n in kernels)
    if short > 0:  # the others are full: the gentle layers take back part of their half, never past their share
        back = sum((full[n] - share[n]) * sizes[n] for n in soft)
        for n in soft:
            share[n] += (full[n] - share[n]) * min(1.0, short / back)
    return share


GENTLE_GROUPS = ("first", "narrow")


def gentle_layers(layers: list[Layer], gentle: str) -> set[str]:
    """The layers `gentle` names, '+'-joined: "first" (the first kernel layer: the paper prunes AlexNet's conv1
    least), "narrow" (1x1 convs with fewer filters than inputs, the last layer apart: SqueezeNet's squeezes, not its
    class conv; FSRCNN's shrinking layer; SRCNN 9-1-5's mapping), or a layer's name or part of one (a whole
    name names that layer alone: conv1, not conv10). A group that finds nothing in a model names nothing."""
    names = [l.name for l in layers]
    soft: set[str] = set()
    for p in (p for p in gentle.split("+") if p):
        if p == "first":
            soft |= set(names[:1])
        elif p == "narrow":
            shapes = {l.name: l.get_weights()[0].shape for l in layers[:-1] if type(l).__name__ == "Conv2D"}
            soft |= {n for n, k in shapes.items() if tuple(k[:2]) == (1, 1) and k[-1] < k[-2]}
        else:
            named = {p} if p in names else {n for n in names if p in n}
            if not named:
                raise ValueError(f"gentle {p[:40]!r} names no layer with a kernel (first, narrow, a layer name or "
                                 f"a part of one such as {next(iter(names), 'conv1')!r})")
            soft |= named
    return soft


# steps None: the task's training.COMPRESSION_STEPS; lr None: the task's FINE_TUNE_LR; distill None: the task's
# default (distill.compression_distill: none); `@distill=0.5` distills from the fp32 model
# layers: how the target is shared among the layers (layer_sparsity); gentle: layers pruned at half their share
# (gentle_layers; '' none)
PRUNE_DEFAULTS = {"sparsity": 0.9, "steps": None, "lr": None, "distill": None, "layers": "uniform", "gentle": ""}
PRUNE_LIMITS: dict[str, tuple[float, float] | tuple[str, ...]] = {"layers": LAYER_RULES}


@register("prune", "magnitude pruning to a target sparsity with fine-tuning; stored dense", PRUNE_DEFAULTS,
          needs_keras=True, limits=PRUNE_LIMITS)
def prune(src: Source, params: Params):
    model, extra = pruned_model(src, params, "prune")
    return _keras_bytes(model, f"{src.name}/prune"), {**extra, "storage": "dense"}


@register("prune_sparse", "magnitude pruning, stored in TFLite's sparse format (DENSIFY at load)",
          PRUNE_DEFAULTS, needs_keras=True, limits=PRUNE_LIMITS)
def prune_sparse(src: Source, params: Params):
    import tensorflow as tf

    model, extra = pruned_model(src, params, "prune_sparse")
    data = _keras_bytes(model, f"{src.name}/prune_sparse", optimizations=(tf.lite.Optimize.EXPERIMENTAL_SPARSITY,))
    return data, {**extra, "storage": "sparse"}


DC_ACTIVATIONS = ("float", "int16", "int8")


@register("deep_compression", "pruning + int8 weights (float activations by default); size under Deep "
          "Compression's entropy coding",
          {**PRUNE_DEFAULTS, "calibration_samples": 32, "activations": "float"}, needs_keras=True,
          limits=PRUNE_LIMITS)
def deep_compression(src: Source, params: Params):
    """Han et al. 2016: prune, quantize the weights, Huffman-code. int8 weights stand in for their
    trained 5-8 bit codebooks; the coded size is computed from the file (analysis.py).

    Han et al. quantized weights only and kept activations in float, so the default `activations`
    "float" is that: pruned kernels stored int8 (per channel, dynamic-range file: no calibration),
    computed in float or with activations quantized per inference from their own range. It keeps
    the pruned model's top-1 (int8 activations drop a 90%-pruned SqueezeNet from ~0.98 to ~0.8 here;
    quantization-aware fine-tuning did not win it back). "int16" (int8 weights, int16 activations,
    slower reference kernels) and "int8" (full integer, fastest) remain for integer-only targets.
    The coded size is the same in all three: only int8 kernels are counted as coded.
    """
    import tensorflow as tf

    from converters import analysis

    mode = params["activations"]
    if mode not in DC_ACTIVATIONS:
        raise ConversionError(f"{src.name}/deep_compression: activations {mode!r}: one of {', '.join(DC_ACTIVATIONS)}")
    model, extra = pruned_model(src, params, "deep_compression")
    with keras_converter(model) as conv:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode != "float":
            conv.representative_dataset = representative_dataset(src, int(params["calibration_samples"]))
        if mode == "int16":
            conv.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        elif mode == "int8":
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = conv.inference_output_type = tf.int8
        data = _convert(conv, f"{src.name}/deep_compression")
    a = analysis.analyze(data)
    fp32_bytes = 4 * a["params"]
    return data, {**extra, "activations": mode, "fp32_param_bytes": fp32_bytes,
                  "compressed_bytes": a["deep_compression_bytes"],
                  "compressed_by": "Deep Compression coding (pruned int8 weights, Huffman-coded)",
                  "deep_compression_ratio": round(fp32_bytes / max(1, a["deep_compression_bytes"]), 2)}


# ---------------------------------------------------------------- clustering


@register("cluster", "weight clustering (k shared values per kernel) with fine-tuning",
          {"clusters": 16, "steps": 200, "lr": 2e-4}, needs_keras=True)
def cluster(src: Source, params: Params):
    import tensorflow_model_optimization as tfmot

    ck = tfmot.clustering.keras
    model, info = _keras(src, "cluster"), _task(src, "cluster")
    k = int(params["clusters"])
    if k < 2:
        raise ConversionError(f"{src.name}/cluster: clusters must be at least 2, not {k}")

    def transform(m: tf_keras.Model) -> tf_keras.Model:
        return _wrap(m, lambda l: ck.cluster_weights(
            l, number_of_clusters=k, cluster_centroids_init=ck.CentroidInitialization.KMEANS_PLUS_PLUS))

    with ck.cluster_scope():
        tuned = tuned_copy(model, info, transform, scaled(int(params["steps"])), src.image_dir, float(params["lr"]))
        stripped = ck.strip_clustering(tuned)
    unique = max(len(np.unique(l.get_weights()[0])) for l in _kernel_layers(stripped))
    return _keras_bytes(stripped, f"{src.name}/cluster"), {"clusters": k, "kernel_unique_values_max": unique}


# ---------------------------------------------------------------- quantization-aware training


def _foreign_activation(layer: Layer) -> bool:
    """An Activation layer whose function tfmot's 8-bit config does not know (a Keras 3 built-in mapped
    by converters.keras3, such as hard_silu): it stays float rather than failing the whole pass."""
    if type(layer).__name__ != "Activation":
        return False
    fn = getattr(layer, "activation", None)
    # the names tfmot's Default8BitActivationQuantizeConfig.get_output_quantizers accepts
    return getattr(fn, "__name__", "") not in ("relu", "swish", "gelu", "relu6", "linear", "softmax", "sigmoid",
                                               "tanh")


def _prelu_quantize_config():
    """QuantizeConfig for PReLU, which tfmot's default 8-bit scheme leaves out: alpha and output
    quantized to 8 bits, so FSRCNN converts to int8 end to end."""
    import tensorflow_model_optimization as tfmot

    q = tfmot.quantization.keras

    class PReLUQuantizeConfig(q.QuantizeConfig):
        def get_weights_and_quantizers(self, layer):
            return [(layer.alpha, q.quantizers.LastValueQuantizer(
                num_bits=8, symmetric=True, narrow_range=False, per_axis=False))]

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            layer.alpha = quantize_weights[0]

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [q.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                        narrow_range=False)]

        def get_config(self):
            return {}

    return PReLUQuantizeConfig


QAT_CALIBRATION = 32  # inputs the fake quantizers' start ranges are measured on (int8's calibration count)


def calibrate_ranges(qmodel: tf_keras.Model, model: tf_keras.Model, x: np.ndarray) -> dict[str, tuple[float, float]]:
    """Start each fake quantizer's activation range at what `model`'s layer outputs span on `x`.

    tfmot starts every moving-average range at [-6, 6] and moves it 0.1% per step, so after a
    200-step fine-tune the ranges are still ~[-5, 5]: 8 bits over 10 units for image values in
    [0, 1], which cost FSRCNN 2.4-2.7 dB against post-training int8 (measured). Post-training int8
    measures the ranges instead; so does this, then training refines them. Returns the ranges set.
    """
    import tf_keras as keras

    wrapped = {l.layer.name: l for l in qmodel.layers if hasattr(l, "layer") and hasattr(l.layer, "name")}
    names = [l.name for l in model.layers if l.name in wrapped and type(l).__name__ != "InputLayer"]
    if not names:
        return {}
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    outs = probe.predict(x, batch_size=8, verbose=0)
    outs = outs if isinstance(outs, list) else [outs]
    ranges: dict[str, tuple[float, float]] = {}
    for name, out in zip(names, outs):
        lo, hi = min(0.0, float(np.min(out))), max(0.0, float(np.max(out)))
        for var in wrapped[name].weights:
            short = var.name.split("/")[-1].split(":")[0]
            if short in ("post_activation_min", "output_min"):
                var.assign(lo)
                ranges[name] = (lo, hi)
            elif short in ("post_activation_max", "output_max"):
                var.assign(hi)
    return ranges


def quantization_aware(src: Source, model: tf_keras.Model, steps: int, lr: float,
                       what: str) -> tuple[bytes, dict[str, Any]]:
    """Fine-tune `model` with fake quantization and convert it to int8.

    Layers tfmot's 8-bit scheme supports are annotated, PReLU with its own config; anything else
    stays float (then the file keeps float input/output).
    """
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry as registry_mod,
    )

    q = tfmot.quantization.keras
    info = _task(src, what)
    registry = registry_mod.Default8BitQuantizeRegistry()
    prelu_config = _prelu_quantize_config()
    skipped: set[str] = set()

    def annotate(layer: Layer) -> Layer:
        if type(layer).__name__ == "PReLU":
            return q.quantize_annotate_layer(layer, prelu_config())
        if registry.supports(layer) and not _foreign_activation(layer):
            return q.quantize_annotate_layer(layer)
        if type(layer).__name__ != "InputLayer":
            skipped.add(type(layer).__name__)
        return layer

    def transform(m: tf_keras.Model) -> tf_keras.Model:
        qm = q.quantize_apply(keras.models.clone_model(m, clone_function=annotate))
        x = calibration_inputs(info, tuple(m.input_shape), QAT_CALIBRATION, 0, src.image_dir)
        if x is not None:  # detection: tfmot's start ranges (no task data of the model's input size here)
            calibrate_ranges(qm, m, x)
        return qm

    with q.quantize_scope({"PReLUQuantizeConfig": prelu_config, **_custom_objects(model)}):
        tuned = tuned_copy(model, info, transform, steps, src.image_dir, lr)
        with keras_converter(tuned) as conv:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            if not skipped:
                conv.inference_input_type = tf.int8
                conv.inference_output_type = tf.int8
            data = _convert(conv, f"{src.name}/{what}")
    return data, {"float_layers": sorted(skipped)}


@register("qat", "quantization-aware training (fine-tuning with fake quantization), converted to int8",
          {"steps": 200, "lr": 2e-4}, needs_keras=True)
def qat(src: Source, params: Params):
    model = _keras(src, "qat")
    return quantization_aware(src, model, scaled(int(params["steps"])), float(params["lr"]), "qat")
