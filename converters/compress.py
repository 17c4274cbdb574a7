"""Compression passes that need a Keras model, most of them with fine-tuning.

prune / prune_sparse  magnitude pruning to a target sparsity (tensorflow-model-optimization), stored
                      dense (zeros, which gzip sees) or in TFLite's sparse format
cluster               weight clustering (k shared values per kernel)
factorize             k x k convolutions split into k x 1 then 1 x k (SVD start, then fine-tuning)
qat                   quantization-aware training, converted to full int8
deep_compression      pruning + int8 weights (float activations), size under Han et al.'s entropy coding
subpixel              strided deconvolutions as conv + depth-to-space (exact; XNNPACK-friendly)
(the TensorRT export lives in converters/tensorrt.py)

tfmot wraps only layers it knows, so passes wrap Conv2D / Conv2DTranspose / Dense one by one and
leave the rest (PReLU, custom detection layers) alone; QAT quantizes PReLU with its own config.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

import numpy as np

from converters.passes import ConversionError, Source, _convert, register, representative_dataset
from converters.datasets import calibration_inputs
from converters.training import (FINE_TUNE_LR, SR_LR, compression_distill, compression_steps, fine_tuned, scaled,
                                 tuned_copy)

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

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
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
    """The pass's distillation weight (training.compression_distill), a bad value one line naming the pass."""
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
    key = ("prune", float(params["sparsity"]), params.get("steps"), params.get("lr"), params.get("distill"))
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
    # Polynomial ramp to the target over the first 60% of the steps, then fine-tuning with fixed
    # masks. end_step must be a pruning step (begin + k * frequency) or the ramp stops short of it.
    sk = tfmot.sparsity.keras
    freq = max(1, steps // 20)
    end = max(freq, (int(steps * 0.6) // freq) * freq)
    schedule = sk.PolynomialDecay(0.0, target, begin_step=0, end_step=end, frequency=freq)

    def transform(m: tf_keras.Model) -> tf_keras.Model:
        return _wrap(m, lambda l: sk.prune_low_magnitude(l, pruning_schedule=schedule))

    with sk.prune_scope():
        stripped = fine_tuned(src, transform, max(steps, end + 1), _lr(params, info),
                              callbacks=lambda: [sk.UpdatePruningStep()], strip=sk.strip_pruning, distill=distill)
    kernels = [l.get_weights()[0] for l in _kernel_layers(stripped)]
    reached = 1.0 - sum(int(np.count_nonzero(k)) for k in kernels) / max(1, sum(k.size for k in kernels))
    if reached < target - 0.01:
        raise ConversionError(f"{src.name}/{what}: pruning reached sparsity {reached:.3f}, short of {target}")
    result = (stripped, {"sparsity_target": target, "sparsity_reached": round(reached, 4), "steps_run": steps,
                         "fine_tune_lr": _lr(params, info), "distill": distill})
    src.memo[key] = result
    return result


# steps None: the task's training.COMPRESSION_STEPS; lr None: the task's FINE_TUNE_LR; distill None: the task's
# default (training.compression_distill: none); `@distill=0.5` distills from the fp32 model
PRUNE_DEFAULTS = {"sparsity": 0.9, "steps": None, "lr": None, "distill": None}


@register("prune", "magnitude pruning to a target sparsity with fine-tuning; stored dense", PRUNE_DEFAULTS,
          needs_keras=True)
def prune(src: Source, params: Params):
    model, extra = pruned_model(src, params, "prune")
    return _keras_bytes(model, f"{src.name}/prune"), {**extra, "storage": "dense"}


@register("prune_sparse", "magnitude pruning, stored in TFLite's sparse format (DENSIFY at load)",
          PRUNE_DEFAULTS, needs_keras=True)
def prune_sparse(src: Source, params: Params):
    import tensorflow as tf

    model, extra = pruned_model(src, params, "prune_sparse")
    data = _keras_bytes(model, f"{src.name}/prune_sparse", optimizations=(tf.lite.Optimize.EXPERIMENTAL_SPARSITY,))
    return data, {**extra, "storage": "sparse"}


DC_ACTIVATIONS = ("float", "int16", "int8")


@register("deep_compression", "pruning + int8 weights (float activations by default); size under Deep "
          "Compression's entropy coding",
          {**PRUNE_DEFAULTS, "calibration_samples": 32, "activations": "float"}, needs_keras=True)
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
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode != "float":
        conv.representative_dataset = representative_dataset(src, int(params["calibration_samples"]))
    if mode == "int16":
        conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
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
        conv = tf.lite.TFLiteConverter.from_keras_model(tuned)
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


# ---------------------------------------------------------------- factorization


def factor_rank(k: int, cin: int, cout: int, speedup: float) -> int:
    """Rank R so that k x 1 (cin -> R) + 1 x k (R -> cout) costs ~1/speedup of the k x k conv."""
    full = min(k * cin, k * cout)
    return int(max(1, min(full, (k * cin * cout) // max(1.0, speedup * (cin + cout)))))


def separable_factors(kernel: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """SVD split of a [k, k, cin, cout] kernel into [k, 1, cin, R] and [1, k, R, cout] kernels.

    W[kh, kw, c, o] ~ sum_r V[kh, c, r] H[r, kw, o]: the best rank-R fit in the Frobenius norm
    of the (kh, c) x (kw, o) matrix, exact when R is full rank.
    """
    k, k2, cin, cout = kernel.shape
    m = kernel.transpose(0, 2, 1, 3).reshape(k * cin, k2 * cout)
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    root = np.sqrt(s[:rank])
    v = (u[:, :rank] * root).reshape(k, cin, rank)[:, None]  # [k, 1, cin, R]
    h = (vt[:rank] * root[:, None]).reshape(rank, k2, cout).transpose(1, 0, 2)[None]  # [1, k, R, cout]
    return v.astype(np.float32), h.astype(np.float32)


# Small splits, by task, when `min_saving` / `small_energy` are not given (issue 23): a split at the speed-up's rank
# that saves under `min_saving` of the model's Conv2D MACs is made instead at the rank keeping `small_energy` of its
# kernel's squared singular values (a few MACs more), or not at all when that rank is no cheaper than the kernel.
# SRCNN 9-1-5's 5x5 reconstruction (32 -> 1) split at rank 1 saved 8% of the MACs, made the output filter separable
# and cost most of the accuracy lost; left whole, the model lost most of the speed-up too (1.71x -> 1.10x under
# load: LiteRT spends a third of fp32's time in that 1-output conv). The layer that saves most keeps its rank.
# Other tasks split every layer that gets cheaper at the speed-up's rank (0).
FACTORIZE_MIN_SAVING = {"super_resolution": 0.1}
FACTORIZE_SMALL_ENERGY = {"super_resolution": 0.85}


def energy_rank(kernel: np.ndarray, keep: float) -> int:
    """The smallest rank of separable_factors' split that keeps `keep` of the kernel's squared singular values."""
    k, k2, cin, cout = kernel.shape
    s = np.linalg.svd(kernel.transpose(0, 2, 1, 3).reshape(k * cin, k2 * cout), compute_uv=False)
    energy = np.cumsum(s.astype(np.float64) ** 2)
    return int(np.searchsorted(energy / max(float(energy[-1]), 1e-30), keep - 1e-9) + 1)


def _factor_plan(model: tf_keras.Model, params: Params, min_saving: float = 0.0,
                 small_energy: float = 0.0) -> dict[str, int]:
    """Which Conv2D layers to split and at what rank: square kernels >= min_kernel that get cheaper; a split saving
    under `min_saving` of the model's Conv2D MACs is made at the rank keeping `small_energy` of the kernel's energy
    when that is still cheaper, else not made (FACTORIZE_MIN_SAVING); the one that saves most in any case."""
    plan, saving, total, kernels = {}, {}, 0, {}
    for layer in model.layers:
        if type(layer).__name__ != "Conv2D":
            continue
        kh, kw = layer.kernel_size
        cin, cout = int(layer.kernel.shape[2]), int(layer.kernel.shape[3])
        try:
            pixels = int(np.prod([d or 1 for d in layer.output_shape[1:3]]))
        except (AttributeError, RuntimeError, TypeError):  # a layer used twice has no single output shape
            pixels = 1
        total += kh * kw * cin * cout * pixels
        if kh != kw or kh < int(params["min_kernel"]) or layer.groups != 1 or tuple(layer.dilation_rate) != (1, 1):
            continue
        rank = int(params["rank"]) if params.get("rank") else factor_rank(kh, cin, cout, float(params["speedup"]))
        if rank * kh * (cin + cout) < kh * kh * cin * cout:
            plan[layer.name] = rank
            saving[layer.name] = (kh * kh * cin * cout - rank * kh * (cin + cout)) * pixels
            kernels[layer.name] = layer
    if min_saving > 0 and plan:
        best = max(saving, key=lambda n: saving[n])
        for name in [n for n in plan if n != best and saving[n] < min_saving * total]:
            kernel = kernels[name].get_weights()[0]
            k, _, cin, cout = kernel.shape
            rank = energy_rank(kernel, small_energy) if small_energy > 0 else 0
            if 0 < rank and rank * k * (cin + cout) < k * k * cin * cout:
                plan[name] = rank
            else:
                del plan[name]
    return plan


def split_layers(model: tf_keras.Model, plan: dict[str, int], suffix: str,
                 first: Callable[[dict[str, Any], int], dict[str, Any]],
                 second: Callable[[dict[str, Any]], dict[str, Any]],
                 factors: Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]) -> tf_keras.Model:
    """The model with each planned layer NAME replaced by NAME+suffix then NAME, weights from `factors`.

    Done on the functional config: the new layer takes the old one's inputs under NAME+suffix with
    first(config, rank) over the old config (no bias), and NAME keeps its name, bias and activation with
    second(config) over its config, so every consumer still finds it. factorize (k x k conv into k x 1 and
    1 x k) and truncated_svd (one Dense into two) are this split with different shapes.
    """
    import tf_keras as keras

    model = _functional(model)
    config = copy.deepcopy(model.get_config())
    entries = []
    for entry in config["layers"]:
        name = entry["config"]["name"]
        entry = {k: v for k, v in entry.items() if k != "build_config"}  # old shapes
        if name not in plan:
            entries.append(entry)
            continue
        cfg = entry["config"]
        entries += [{**entry, "name": f"{name}{suffix}",
                     "config": {**cfg, "name": f"{name}{suffix}", **first(cfg, plan[name]), "use_bias": False}},
                    {**entry, "inbound_nodes": [[[f"{name}{suffix}", 0, 0, {}]]], "config": {**cfg, **second(cfg)}}]
    config["layers"] = entries
    new = keras.Model.from_config(config, custom_objects=_custom_objects(model))
    added = {f"{name}{suffix}" for name in plan}
    for layer in new.layers:
        if layer.name in plan:
            weights = model.get_layer(layer.name).get_weights()
            a, b = factors(weights[0], plan[layer.name])
            new.get_layer(f"{layer.name}{suffix}").set_weights([a])
            layer.set_weights([b, *weights[1:]])
        elif layer.weights and layer.name not in added:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return new


def factorized(model: tf_keras.Model, plan: dict[str, int]) -> tf_keras.Model:
    """The model with each planned k x k Conv2D replaced by a k x 1 then 1 x k pair (SVD start)."""

    def first(cfg: dict[str, Any], rank: int) -> dict[str, Any]:
        (k, _), (sh, _) = cfg["kernel_size"], cfg["strides"]
        return {"filters": rank, "kernel_size": (k, 1), "strides": (sh, 1), "activation": "linear"}

    def second(cfg: dict[str, Any]) -> dict[str, Any]:
        (k, _), (_, sw) = cfg["kernel_size"], cfg["strides"]
        return {"kernel_size": (1, k), "strides": (1, sw)}

    return split_layers(model, plan, "_kx1", first, second, separable_factors)


def _factorize_lr(params: Params, info: TaskInfo) -> float:
    """Super-resolution fine-tunes at its own recipe's rate (SR_LR), other tasks at FINE_TUNE_LR."""
    if params.get("lr"):
        return float(params["lr"])
    if info.kind == "super_resolution":
        return SR_LR[info.upsampled_input]
    return FINE_TUNE_LR.get(info.kind, 5e-4)


@register("factorize", "k x k convolutions into k x 1 then 1 x k (SVD rank for a speed-up), fine-tuned",
          {"speedup": 3.0, "min_kernel": 3, "rank": None, "steps": None, "lr": None, "distill": 0.0,
           "min_saving": None, "small_energy": None},
          needs_keras=True)
def factorize(src: Source, params: Params):
    """Split (super-resolution: small splits at a rank keeping 85% of the kernel's energy, FACTORIZE_MIN_SAVING),
    then fine-tune the
    task's COMPRESSION_STEPS (SRCNN-style: 3000; 1500 until issue 23's third round,
    400 before issue 14) at the model's own rate (SR_LR); `steps=0`: no fine-tuning.

    Measured on SRCNN 9-1-5 (2 cores): 400 steps at 5e-4 left the factorized model 0.55 dB under
    the plain one, 1500 steps at 1e-3 0.19 dB. `distill` > 0 trains towards that blend of the
    plain model's output and the ground truth (super-resolution); it did not beat the ground truth
    alone here (-0.25 dB at 0.5, -0.32 at 1.0), as the plain SRCNN is itself short-trained.
    """
    model, info = _keras(src, "factorize"), _task(src, "factorize")
    given = params.get("min_saving")
    min_saving = FACTORIZE_MIN_SAVING.get(info.kind, 0.0) if given in (None, "") else float(str(given))
    if not 0.0 <= min_saving < 1.0:
        raise ConversionError(f"{src.name}/factorize: min_saving {min_saving} must lie in [0, 1)")
    given = params.get("small_energy")
    small_energy = FACTORIZE_SMALL_ENERGY.get(info.kind, 0.0) if given in (None, "") else float(str(given))
    if not 0.0 <= small_energy <= 1.0:
        raise ConversionError(f"{src.name}/factorize: small_energy {small_energy} must lie in [0, 1]")
    plan = _factor_plan(model, params, min_saving, small_energy)
    if not plan:
        raise ConversionError(f"{src.name}/factorize: no square Conv2D of {params['min_kernel']}x"
                              f"{params['min_kernel']} or larger gets cheaper when split")
    distill = float(params.get("distill") or 0.0)
    if not 0.0 <= distill <= 1.0:
        raise ConversionError(f"{src.name}/factorize: distill {distill} must lie between 0 and 1")
    steps, lr = compression_steps(params.get("steps"), info), _factorize_lr(params, info)
    tuned = fine_tuned(src, lambda m: factorized(m, plan), steps, lr,
                       target=lambda m: factorized(m, plan), distill=distill)
    return _keras_bytes(tuned, f"{src.name}/factorize"), {"factorized_layers": plan, "steps_run": steps,
                                                          "fine_tune_lr": lr, "distill": distill,
                                                          "min_saving": min_saving, "small_energy": small_energy}


# ---------------------------------------------------------------- sub-pixel deconvolution


def subpixel_kernel(w: np.ndarray, stride: int) -> tuple[np.ndarray, int, int]:
    """A "same" transpose-conv kernel [k, k, cout, cin] as a conv kernel [W, W, cin, s*s*cout]
    whose output, rearranged by depth-to-space, is exactly the deconvolution's (Shi et al. 2016).

    Output pixel s*q + r takes input q + d through tap t = c_r + s*j, with c_r = (r + p) mod s,
    d = (r + p) // s - j and p = (k - s) // 2, TensorFlow's leading padding. Returns the kernel
    and the zero padding before/after the input that the offsets d need.
    """
    k, cout, cin, s = w.shape[0], w.shape[2], w.shape[3], stride
    p = max(0, k - s) // 2
    taps = {r: [((r + p) // s - j, (r + p) % s + s * j) for j in range(k) if (r + p) % s + s * j < k]
            for r in range(s)}
    offsets = [d for r in taps for d, _ in taps[r]]
    lo, hi = min(offsets), max(offsets)
    out = np.zeros((hi - lo + 1, hi - lo + 1, cin, s * s * cout), np.float32)
    for ry in range(s):
        for rx in range(s):
            phase = slice((ry * s + rx) * cout, (ry * s + rx + 1) * cout)
            for dy, ty in taps[ry]:
                for dx, tx in taps[rx]:
                    out[dy - lo, dx - lo, :, phase] = w[ty, tx].T
    return out, -lo, hi


def _depth_to_space_layer():
    import tensorflow as tf
    from tf_keras import layers

    class DepthToSpace(layers.Layer):
        def __init__(self, block: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.block = block

        def call(self, x):
            return tf.nn.depth_to_space(x, self.block)

        def get_config(self) -> dict:
            return {**super().get_config(), "block": self.block}

    return DepthToSpace


def subpixel_model(model: tf_keras.Model) -> tuple[tf_keras.Model, list[str]]:
    """The model with every "same" strided Conv2DTranspose replaced by conv + depth-to-space."""
    import tf_keras as keras

    d2s = _depth_to_space_layer()
    config = copy.deepcopy(model.get_config())
    entries, done, kernels = [], [], {}
    for entry in config["layers"]:
        cfg = entry["config"]
        ok = (entry["class_name"] == "Conv2DTranspose" and cfg["padding"] == "same"
              and cfg["strides"][0] == cfg["strides"][1] > 1 and cfg["kernel_size"][0] == cfg["kernel_size"][1]
              and cfg["kernel_size"][0] >= cfg["strides"][0] and not cfg.get("output_padding")
              and tuple(cfg.get("dilation_rate", (1, 1))) == (1, 1))
        if not ok:
            entries.append(entry)
            continue
        name, s = cfg["name"], cfg["strides"][0]
        weights = model.get_layer(name).get_weights()
        kernel, before, after = subpixel_kernel(weights[0], s)
        kernels[name] = (kernel, np.tile(weights[1], s * s) if len(weights) > 1 else None)
        inbound = entry["inbound_nodes"]
        if before or after:
            entries.append({"class_name": "ZeroPadding2D", "name": f"{name}_pad", "inbound_nodes": inbound,
                            "config": {"name": f"{name}_pad", "padding": ((before, after), (before, after))}})
            inbound = [[[f"{name}_pad", 0, 0, {}]]]
        entries.append({"class_name": "Conv2D", "name": f"{name}_subpixel", "inbound_nodes": inbound, "config": {
            "name": f"{name}_subpixel", "filters": kernel.shape[-1], "kernel_size": kernel.shape[:2],
            "padding": "valid", "activation": cfg["activation"], "use_bias": cfg["use_bias"]}})
        entries.append({"class_name": "DepthToSpace", "name": name, "inbound_nodes": [[[f"{name}_subpixel", 0, 0, {}]]],
                        "config": {"name": name, "block": s}})
        done.append(name)
    config["layers"] = entries
    new = keras.Model.from_config(config, custom_objects={**_custom_objects(model), "DepthToSpace": d2s})
    for layer in new.layers:
        if layer.name.endswith("_subpixel") and layer.name[: -len("_subpixel")] in kernels:
            kernel, bias = kernels[layer.name[: -len("_subpixel")]]
            layer.set_weights([kernel] + ([bias] if bias is not None else []))
        elif layer.weights and layer.name not in kernels:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return new, done


@register("subpixel", "strided transpose convolutions as conv + depth-to-space (exact, no training)",
          needs_keras=True)
def subpixel(src: Source, params: Params):
    """XNNPACK runs FSRCNN's 9x9 stride-3 deconvolution ~5x slower than the reference kernel;
    the same arithmetic as a plain convolution plus DEPTH_TO_SPACE runs at convolution speed."""
    new, done = subpixel_model(_functional(_keras(src, "subpixel")))
    if not done:
        raise ConversionError(f"{src.name}/subpixel: no strided 'same' Conv2DTranspose to rewrite")
    return _keras_bytes(new, f"{src.name}/subpixel"), {"rewritten_layers": done}
