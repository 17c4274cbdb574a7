"""Truncated SVD of large fully connected layers (Girshick 2015, Fast R-CNN §3.1).

A Dense kernel W (in x out) is replaced by its best rank-t approximation W ~ U_t S_t V_t^T, so one
layer becomes two with t units between and no nonlinearity: x W + b ~ (x A) B + b with
A = U_t S_t^1/2 (in x t, no bias) and B = S_t^1/2 V_t^T (t x out, the old bias and activation).
Its cost falls from in * out to t * (in + out) MACs per row, which is what a detector's fc6/fc7
head needs: with 300 proposals they are most of Faster R-CNN's arithmetic, and Fast R-CNN keeps
1024 of fc6's and 256 of fc7's singular values for a 0.3 point mAP loss.

The model that comes out is a genuinely smaller dense one (fewer MACs and weights on every
runtime). Parameters: which Dense layers (`layers`: "name" or "name:rank", comma separated;
default every Dense with at least `min_weights` weights), their rank (`rank` for all, or `keep`:
the fraction of each layer's MACs to keep), optional fine-tuning (`steps`) and the conversion
that follows (`then`: fp32, fp16, dr_int8, int8, tensorrt, or another pass, '+' for its '@').
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from converters.passes import ConversionError, Source, register

if TYPE_CHECKING:  # tf_keras ships no type information: mypy cannot check these names
    import tf_keras

    from converters.passes import Params, PassSpec

# Content-keyed cache of full decompositions: every ladder step rebuilds the same seeded model, and a
# 9216x4096 float64 SVD takes minutes on a loaded 2-core host; keyed by the kernel's bytes (not its
# layer name), so a retrained or pruned kernel is decomposed afresh. Two entries: fc6 and fc7.
_SVD_CACHE: OrderedDict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
SVD_CACHE_ENTRIES = 2
svd_computed = 0  # how many decompositions were actually run (tests read it)


def full_svd(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """u, s, vt of a kernel (float64, thin), computed once per distinct content."""
    global svd_computed
    k = np.ascontiguousarray(kernel)
    key = hashlib.sha256(k.tobytes() + str((k.shape, k.dtype.str)).encode()).hexdigest()
    hit = _SVD_CACHE.get(key)
    if hit is not None:
        _SVD_CACHE.move_to_end(key)
        return hit
    u, s, vt = np.linalg.svd(k.astype(np.float64), full_matrices=False)
    svd_computed += 1
    _SVD_CACHE[key] = (u, s, vt)
    while len(_SVD_CACHE) > SVD_CACHE_ENTRIES:
        _SVD_CACHE.popitem(last=False)
    return u, s, vt


def svd_factors(kernel: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """[in, out] kernel -> ([in, rank], [rank, out]) whose product is its best rank-`rank` fit
    (Frobenius norm, Eckart-Young); exact when `rank` reaches the matrix's rank."""
    u, s, vt = full_svd(kernel)
    root = np.sqrt(s[:rank])
    return (u[:, :rank] * root).astype(np.float32), (vt[:rank] * root[:, None]).astype(np.float32)


def rank_for_keep(n_in: int, n_out: int, keep: float) -> int:
    """The rank t whose two layers cost `keep` of the original layer's MACs: t (in + out) = keep in out."""
    return int(max(1, min(min(n_in, n_out), (keep * n_in * n_out) // (n_in + n_out))))


def _dense_layers(model: tf_keras.Model) -> dict[str, tuple[int, int]]:
    return {l.name: tuple(int(d) for d in l.get_weights()[0].shape)
            for l in model.layers if type(l).__name__ == "Dense"}


def svd_plan(model: tf_keras.Model, params: Params) -> dict[str, int]:
    """Dense layer name -> rank, for the layers that get cheaper when split.

    ValueError (one line) for a named layer that is not a Dense of this model or a bad rank.
    """
    dense = _dense_layers(model)
    wanted: dict[str, int | None] = {}
    text = str(params.get("layers") or "").strip()
    if text:
        for item in text.split(","):
            name, _, rank = item.strip().partition(":")
            if name not in dense:
                known = ", ".join(sorted(dense)) or "none"
                raise ValueError(f"layers: {name[:60]!r} is not a Dense layer of this model (Dense layers: {known})")
            try:
                wanted[name] = int(rank) if rank else None
            except ValueError:
                raise ValueError(f"layers: rank {rank[:20]!r} of {name!r} is not a whole number") from None
    else:
        floor = int(params.get("min_weights") or 0)
        wanted = {n: None for n, (i, o) in dense.items() if i * o >= floor}
    keep = params.get("keep")
    if keep is not None and not 0.0 < float(keep) < 1.0:
        raise ValueError(f"keep {keep} must lie strictly between 0 and 1")
    plan = {}
    for name, rank in wanted.items():
        n_in, n_out = dense[name]
        if rank is None:
            rank = int(params["rank"]) if params.get("rank") else rank_for_keep(n_in, n_out, float(keep or 0.25))
        if rank < 1:
            raise ValueError(f"rank {rank} of {name!r} must be at least 1")
        rank = min(rank, n_in, n_out)
        if rank * (n_in + n_out) < n_in * n_out:
            plan[name] = rank
    return plan


def svd_model(model: tf_keras.Model, plan: dict[str, int]) -> tf_keras.Model:
    """The model with each planned Dense replaced by `NAME_svd` (rank units, linear, no bias) then
    NAME (its old units, bias and activation), weights from the truncated SVD."""
    from converters.factorize import split_layers

    def first(cfg: dict[str, Any], rank: int) -> dict[str, Any]:
        return {"units": int(rank), "activation": "linear", "kernel_regularizer": None,
                "activity_regularizer": None, "kernel_constraint": None}

    return split_layers(model, plan, "_svd", first, lambda cfg: {}, svd_factors)


def then_pass(then: str, what: str) -> PassSpec:
    """The pass that follows a Keras-to-Keras pass: a conversion (fp32, fp16, dr_int8, int8, tensorrt...)
    or a further pass with its own parameters, written with '+' for '@' (since '@' separates the
    outer pass's parameters), e.g. `truncated_svd+keep=0.25+then=dr_int8`."""
    from converters.passes import get_pass

    label = str(then or "fp32").replace("+", "@")
    try:
        return get_pass(label)
    except ConversionError as exc:
        raise ConversionError(f"{what}: then={str(then)[:80]!r}: {exc}") from None


def run_then(src: Source, model: tf_keras.Model, then: str, what: str) -> tuple[bytes, dict[str, Any]]:
    """Convert `model` (src's model after this pass) with the `then` pass. Its record comes back
    under `then_record`; what the builder reads at the top (the artifact's suffix, its format) is
    lifted, so then=tensorrt gives a .onnx artifact."""
    spec = then_pass(then, what)
    nxt = Source(f"{src.name}/{what}", keras_model=model, task=src.task, input_shape=tuple(model.input_shape),
                 image_dir=src.image_dir, spec=src.spec)
    result = spec.fn(nxt, dict(spec.defaults))
    if not isinstance(result, tuple):
        return result, {}
    record = dict(result[1])
    lifted = {k: record.pop(k) for k in ("artifact_suffix", "format") if k in record}
    return result[0], {**lifted, "then_record": record}


@register("truncated_svd", "large Dense layers as two thin ones by truncated SVD (Fast R-CNN), optionally fine-tuned",
          {"layers": "", "rank": None, "keep": 0.25, "min_weights": 1_000_000, "steps": 0, "lr": None, "then": "fp32"},
          needs_keras=True, limits={"keep": (0.0, 1.0), "min_weights": (0, 10**12), "rank": (1, 1 << 20)})
def truncated_svd(src: Source, params: Params):
    from converters.compress import _keras, _lr, _task
    from converters.training import fine_tuned, scaled

    model = _keras(src, "truncated_svd")
    try:
        plan = svd_plan(model, params)
    except ValueError as exc:
        raise ConversionError(f"{src.name}/truncated_svd: {exc}") from None
    if not plan:
        raise ConversionError(f"{src.name}/truncated_svd: no Dense layer gets cheaper when split "
                              f"(none with >= {params.get('min_weights')} weights, or the rank is too high)")
    dense = _dense_layers(model)

    def transform(m: tf_keras.Model) -> tf_keras.Model:
        return svd_model(m, plan)

    steps = scaled(int(params["steps"])) if int(params["steps"] or 0) > 0 else 0
    if steps:
        info = _task(src, "truncated_svd")
        tuned = fine_tuned(src, transform, steps, _lr(params, info), target=transform)
    else:  # the SVD start alone (an untrained seed-scale model has nothing to recover)
        tuned = transform(model)
    data, then_record = run_then(src, tuned, str(params.get("then") or "fp32"), "truncated_svd")
    macs_before = sum(dense[n][0] * dense[n][1] for n in plan)
    macs_after = sum(r * (dense[n][0] + dense[n][1]) for n, r in plan.items())
    return data, {"svd_layers": {n: [list(dense[n]), r] for n, r in plan.items()},
                  "svd_weights_fraction": round(macs_after / max(1, macs_before), 4), "steps_run": steps,
                  "then": str(params.get("then") or "fp32"), **then_record}
