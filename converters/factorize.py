"""The factorize pass: k x k convolutions split into k x 1 then 1 x k (SVD start, then fine-tuning).

Also the split itself (split_layers), which converters.svd reuses to split a Dense layer in two.
Moved out of converters/compress.py (issue 24: modules under ~500 lines); the shared Keras helpers stay there.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

import numpy as np

from converters.compress import _custom_objects, _functional, _keras, _keras_bytes, _task
from converters.passes import ConversionError, Source, register
from converters.training import FINE_TUNE_LR, SR_LR, compression_steps, fine_tuned

if TYPE_CHECKING:  # tf_keras ships no type information: mypy cannot check these names
    import tf_keras

    from converters.datasets import TaskInfo
    from converters.passes import Params


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
