"""Structured (channel) pruning: whole filters removed, a genuinely smaller dense model emitted.

Unstructured pruning leaves the tensor shapes alone, so XNNPACK runs the zeros (densified at load);
removing filters shrinks every shape, so the speed-up shows on every runtime (Li et al. 2017,
"Pruning Filters for Efficient ConvNets"; Molchanov et al. 2017 for the Taylor criterion).

How: the functional config is walked in order and each tensor gets the indices of the channels it
keeps. A Conv2D may lose filters when every path from its output reaches only layers that follow
channel indices: another Conv2D/Conv2DTranspose (input axis sliced), BatchNormalization, PReLU,
activations, pooling, dropout, padding, a channel Concatenate (SqueezeNet's fire modules: the
indices are offset and joined) or a Dense after global pooling. A path to a model output, an Add,
a Reshape or any other layer protects the conv, so an SR model's reconstruction layer, a
classifier's class conv and a detector's feature map (RoI crops are reshaped) stay whole.

Parameters: `sparsity` removes that fraction of filters from every prunable conv; `flops` instead
finds the one keep ratio that leaves that fraction of the convolution MACs (bisection on the
counted MACs). `criterion` l1 | l2 | taylor ranks filters (taylor: |activation x gradient| summed
over a few batches of the task's data). `whole` leaves convs unpruned: '+'-joined parts of layer names
(whole=squeeze+conv1) or `bottlenecks`, the default: convs that feed two or more wider convs (SqueezeNet's
squeeze layers; see bottlenecks). Variant names carry them: prune_channels@flops=0.5.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from converters.passes import ConversionError, Source, register

if TYPE_CHECKING:  # tf_keras ships no type information: mypy cannot check these names
    from collections.abc import Callable

    import tf_keras
    from tf_keras.layers import Layer

    from converters.passes import Params

PASSTHROUGH = {"BatchNormalization", "PReLU", "ReLU", "Activation", "LeakyReLU", "ELU", "MaxPooling2D",
               "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Dropout", "ZeroPadding2D",
               "Cropping2D", "UpSampling2D", "SpatialDropout2D"}
CONSUMERS = {"Conv2D", "Conv2DTranspose", "Dense"}


def _inbound(entry: dict) -> list[str]:
    names: list[str] = []
    for node in entry.get("inbound_nodes") or []:
        items = node.get("args", node) if isinstance(node, dict) else node
        for item in items:
            if isinstance(item, (list, tuple)) and item and isinstance(item[0], str):
                names.append(item[0])
    return names


def _functional(model: tf_keras.Model) -> tf_keras.Model:
    if type(model).__name__ == "Sequential":
        import tf_keras as keras

        return keras.Model(model.inputs, model.outputs, name=model.name)
    return model


class Graph:
    """The layers of a functional model with who feeds whom, from its config."""

    def __init__(self, model: tf_keras.Model) -> None:
        self.model = _functional(model)
        self.config = copy.deepcopy(self.model.get_config())
        self.entries = {e["config"]["name"]: e for e in self.config["layers"]}
        self.order = [e["config"]["name"] for e in self.config["layers"]]
        self.inputs = {n: _inbound(self.entries[n]) for n in self.order}
        self.consumers: dict[str, list[str]] = {n: [] for n in self.order}
        for n, ins in self.inputs.items():
            for i in ins:
                self.consumers[i].append(n)
        self.outputs = {o[0] for o in self.config["output_layers"]}

    def kind(self, name: str) -> str:
        return self.entries[name]["class_name"]

    def layer(self, name: str) -> Layer:
        return self.model.get_layer(name)

    def channels(self, name: str) -> int:
        shape = self.layer(name).output_shape
        return int((shape[0] if isinstance(shape, list) else shape)[-1])


def _follows_indices(g: Graph, name: str, via: str) -> bool:
    """Whether layer `name` can take a channel subset on its input `via`."""
    kind = g.kind(name)
    if kind in ("Conv2D", "Conv2DTranspose"):
        return g.entries[name]["config"].get("groups", 1) == 1
    if kind == "Dense":
        shape = g.layer(via).output_shape
        return isinstance(shape, tuple) and len(shape) == 2
    if kind == "Concatenate":
        return g.entries[name]["config"].get("axis", -1) in (-1, 3)
    return kind in PASSTHROUGH


def prunable(g: Graph) -> list[str]:
    """Conv2D layers whose filters can go: all paths end in layers that follow channel indices."""
    out = []
    for name in g.order:
        if g.kind(name) != "Conv2D" or g.entries[name]["config"].get("groups", 1) != 1 or name in g.outputs:
            continue
        ok, stack, seen = True, [name], set()
        while stack and ok:
            cur = stack.pop()
            for nxt in g.consumers[cur]:
                if not _follows_indices(g, nxt, cur) or (nxt in g.outputs and g.kind(nxt) not in CONSUMERS):
                    ok = False
                    break
                if g.kind(nxt) not in CONSUMERS and nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        if ok and g.consumers[name]:
            out.append(name)
    return out


def bottlenecks(g: Graph, names: list[str]) -> list[str]:
    """The convs among `names` that feed two or more wider convolutions (through pass-through layers).

    Such a conv is a narrow fork: removing its filters narrows every branch behind it at once. SqueezeNet's
    squeeze layers (16 to 64 filters, each feeding two expand convs four times as wide) are its bottlenecks;
    prune_channels' default `whole=bottlenecks` leaves them whole and takes the FLOPs from the wide layers.
    Plain chains (SRCNN, FSRCNN) have none, nor has a detector's RPN conv (it feeds narrower heads).
    """
    out = []
    for name in names:
        wider, stack, seen = 0, [name], set()
        while stack:
            for nxt in g.consumers[stack.pop()]:
                if g.kind(nxt) in CONSUMERS:
                    wider += g.kind(nxt) != "Dense" and g.channels(nxt) > g.channels(name)
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        if wider >= 2:
            out.append(name)
    return out


def plan_layers(g: Graph, names: list[str], whole: str) -> list[str]:
    """The prunable convs `names` less those `whole` leaves unpruned: '+'-joined parts of layer names, or
    `bottlenecks` (see bottlenecks). ValueError for a part that names no prunable conv, or when none is left."""
    parts = [w for w in whole.split("+") if w]
    for w in parts:
        if w != "bottlenecks" and not any(w in n for n in names):
            raise ValueError(f"whole {w[:40]!r} names no prunable convolution (a part of a layer name such as "
                             f"{names[0]!r}, or bottlenecks; several joined by '+')")
    kept = set(bottlenecks(g, names)) if "bottlenecks" in parts else set()
    left = [n for n in names if n not in kept and not any(w in n for w in parts if w != "bottlenecks")]
    if not left:
        raise ValueError(f"whole {whole[:40]!r} leaves no convolution to prune")
    return left


def propagate(g: Graph, keep: dict[str, np.ndarray]) -> dict[str, np.ndarray | None]:
    """Kept channel indices of every layer's output (None: all of them)."""
    kept: dict[str, np.ndarray | None] = {}
    for name in g.order:
        kind, ins = g.kind(name), g.inputs[name]
        if name in keep:
            kept[name] = np.sort(keep[name])
        elif kind == "Concatenate":
            parts, offset, partial = [], 0, False
            for i in ins:
                n = g.channels(i)
                idx = kept.get(i)
                partial |= idx is not None
                parts.append((np.arange(n) if idx is None else idx) + offset)
                offset += n
            kept[name] = np.concatenate(parts) if partial else None
        elif kind in PASSTHROUGH and ins:
            kept[name] = kept.get(ins[0])
        else:
            kept[name] = None
    return kept


def conv_macs(g: Graph, counts: dict[str, int]) -> int:
    """Convolution and dense MACs when each conv in `counts` keeps that many filters."""
    idx = {n: np.arange(c) for n, c in counts.items()}
    kept = propagate(g, idx)
    total = 0
    for name in g.order:
        kind = g.kind(name)
        if kind not in CONSUMERS:
            continue
        layer = g.layer(name)
        k = layer.get_weights()[0]
        src = g.inputs[name][0]
        cin = len(kept[src]) if kept.get(src) is not None else int(layer.input_shape[-1])
        cout = counts.get(name, int(layer.output_shape[-1]))
        if kind == "Dense":
            total += cin * cout
            continue
        spatial = int(np.prod(layer.output_shape[1:3])) if kind == "Conv2D" else int(np.prod(layer.input_shape[1:3]))
        total += spatial * int(k.shape[0] * k.shape[1]) * cin * cout
    return total


def _counts(g: Graph, names: list[str], ratio: float, multiple: int) -> dict[str, int]:
    out = {}
    for n in names:
        c = g.channels(n)
        want = max(multiple, int(round(c * ratio / multiple)) * multiple)
        out[n] = min(c, want)
    return out


def _fill(g: Graph, names: list[str], counts: dict[str, int], budget: float, multiple: int) -> dict[str, int]:
    """Give filters back, `multiple` at a time, while the MACs stay within budget.

    One global ratio rounded per layer to a multiple of 8 can land well under the target (SRCNN:
    44 % of the MACs for a 50 % target); adding back whole groups where they still fit, widest layer
    first, keeps as much of the model as the budget allows.
    """
    counts = dict(counts)
    changed = True
    while changed:
        changed = False
        for n in sorted(names, key=lambda n: -g.channels(n)):
            more = min(g.channels(n), counts[n] + multiple)
            if more > counts[n] and conv_macs(g, {**counts, n: more}) <= budget:
                counts[n], changed = more, True
    return counts


def plan_counts(g: Graph, names: list[str], params: Params) -> tuple[dict[str, int], float]:
    """Filters kept per conv: from `sparsity` (per layer) or from a global `flops` fraction."""
    multiple = int(params.get("multiple") or 1)
    if params.get("flops") not in (None, ""):
        target = float(params["flops"])
        if not 0.0 < target < 1.0:
            raise ValueError(f"flops {target} must lie strictly between 0 and 1")
        full = conv_macs(g, {})
        lo, hi = 0.0, 1.0
        for _ in range(30):
            mid = (lo + hi) / 2
            if conv_macs(g, _counts(g, names, mid, multiple)) > target * full:
                hi = mid
            else:
                lo = mid
        return _fill(g, names, _counts(g, names, lo, multiple), target * full, multiple), 1.0 - lo
    sparsity = float(params.get("sparsity") or 0.5)
    if not 0.0 < sparsity < 1.0:
        raise ValueError(f"sparsity {sparsity} must lie strictly between 0 and 1")
    return _counts(g, names, 1.0 - sparsity, multiple), sparsity


def filter_scores(model: tf_keras.Model, names: list[str], criterion: str, taylor: dict[str, np.ndarray] | None = None
                  ) -> dict[str, np.ndarray]:
    """Importance of every filter: its kernel's L1 or L2 norm, or a precomputed Taylor score."""
    scores = {}
    for n in names:
        if criterion == "taylor":
            scores[n] = taylor[n]
            continue
        k = model.get_layer(n).get_weights()[0]
        flat = np.abs(k).reshape(-1, k.shape[-1])
        scores[n] = flat.sum(0) if criterion == "l1" else np.sqrt((flat ** 2).sum(0))
    return scores


def keep_indices(scores: dict[str, np.ndarray], counts: dict[str, int]) -> dict[str, np.ndarray]:
    return {n: np.sort(np.argsort(-scores[n], kind="stable")[:counts[n]]) for n in counts}


def channel_pruned(model: tf_keras.Model, keep: dict[str, np.ndarray]) -> tf_keras.Model:
    """`model` rebuilt with only the kept filters of each conv in `keep`, weights sliced and copied."""
    import tf_keras as keras

    g = Graph(model)
    kept = propagate(g, keep)
    config = copy.deepcopy(g.config)
    for entry in config["layers"]:
        entry.pop("build_config", None)
        name = entry["config"]["name"]
        if name in keep:
            entry["config"]["filters"] = int(len(keep[name]))
    custom = {type(layer).__name__: type(layer) for layer in g.model.layers}
    new = keras.Model.from_config(config, custom_objects=custom)
    for name in g.order:
        old = g.layer(name)
        weights = old.get_weights()
        if not weights:
            continue
        kind, ins = g.kind(name), g.inputs[name]
        cin = kept.get(ins[0]) if ins else None
        cout = keep.get(name)
        if kind == "Conv2D":
            w = weights[0] if cin is None else weights[0][:, :, cin]
            weights = [w if cout is None else w[..., cout]] + [b if cout is None else b[cout] for b in weights[1:]]
        elif kind == "Conv2DTranspose":  # kernel [k, k, out, in]
            weights = [weights[0] if cin is None else weights[0][..., cin], *weights[1:]]
        elif kind == "Dense":
            weights = [weights[0] if cin is None else weights[0][cin], *weights[1:]]
        elif kind in PASSTHROUGH and cin is not None:  # BN vectors, PReLU alpha: channels last
            weights = [w[..., cin] for w in weights]
        new.get_layer(name).set_weights(weights)
    return new


def taylor_scores(src: Source, model: tf_keras.Model, names: list[str], batches: int = 4) -> dict[str, np.ndarray]:
    """Molchanov et al.: |sum over positions of activation x d loss / d activation| per filter."""
    import tensorflow as tf
    import tf_keras as keras

    from converters.datasets import classification_data, sr_pairs

    info = src.task_info()
    side = int(model.input_shape[1])
    if info.kind == "super_resolution":
        x, y, _ = sr_pairs(info, int(model.output_shape[1]), 8 * batches, 3, src.image_dir)
        loss_fn: Callable[[np.ndarray, tf.Tensor], tf.Tensor] = keras.losses.MeanSquaredError()
    elif info.kind == "classification":
        x, y = classification_data(info, side, 8 * batches, 3, src.image_dir)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
    else:
        raise ValueError(f"criterion taylor: no data for task {info.kind!r} (use l1 or l2)")
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names] + list(model.outputs))
    total = {n: np.zeros(g_ch, np.float64)
             for n, g_ch in ((n, int(model.get_layer(n).output_shape[-1])) for n in names)}
    for b in range(batches):
        xb, yb = x[b * 8:(b + 1) * 8], y[b * 8:(b + 1) * 8]
        with tf.GradientTape() as tape:
            outs = probe(xb, training=False)
            acts, pred = outs[:-1], outs[-1]
            loss = loss_fn(yb, pred)
        grads = tape.gradient(loss, acts)
        for n, a, gr in zip(names, acts, grads):
            total[n] += np.abs(tf.reduce_mean(a * gr, axis=[1, 2]).numpy()).sum(0)
    return total


class ChannelPlan(TypedDict):
    """What prune_channels records about its cut (kept in the variant's metrics)."""

    pruned_layers: dict[str, list[int]]  # layer -> [filters it had, filters removed]
    filters_removed_fraction: float
    criterion: str  # l1 | l2 | taylor
    conv_macs_fraction: float  # the convolutions' MACs left, of the model's before
    whole: str  # the `whole` parts of layer names left unpruned ('+'-joined; '' none)


def channel_plan(src: Source, params: Params) -> tuple[dict[str, np.ndarray], ChannelPlan]:
    model = src.keras_model
    g = Graph(model)
    names = prunable(g)
    if not names:
        raise ConversionError(f"{src.name}/prune_channels: no convolution whose filters can be removed")
    try:
        names = plan_layers(g, names, str(params.get("whole") or ""))
    except ValueError as exc:
        raise ConversionError(f"{src.name}/prune_channels: {exc}") from None
    criterion = str(params.get("criterion") or "l1")
    if criterion not in ("l1", "l2", "taylor"):
        raise ConversionError(f"{src.name}/prune_channels: criterion {criterion!r}: l1, l2 or taylor")
    try:
        counts, ratio = plan_counts(g, names, params)
        taylor = taylor_scores(src, g.model, names) if criterion == "taylor" else None
    except ValueError as exc:
        raise ConversionError(f"{src.name}/prune_channels: {exc}") from None
    keep = keep_indices(filter_scores(g.model, names, criterion, taylor), counts)
    full = conv_macs(g, {})
    pruned = conv_macs(g, counts)
    return keep, {"pruned_layers": {n: [g.channels(n), counts[n]] for n in names},
                  "whole": str(params.get("whole") or ""),
                  "filters_removed_fraction": round(ratio, 4), "criterion": criterion,
                  "conv_macs_fraction": round(pruned / max(1, full), 4)}


@register("prune_channels", "structured pruning: whole filters removed (L1/L2/Taylor), fine-tuned, smaller dense model",
          {"sparsity": None, "flops": 0.5, "criterion": "l1", "multiple": 8, "whole": "bottlenecks", "steps": None,
           "lr": None, "distill": None, "then": "fp32"},
          needs_keras=True)
def prune_channels(src: Source, params: Params):
    from converters.compress import _distill, _keras, _lr, _task
    from converters.training import compression_steps, fine_tuned

    _keras(src, "prune_channels")
    info = _task(src, "prune_channels")
    if params.get("sparsity") not in (None, ""):
        params = {**params, "flops": None}
    from converters.svd import run_then, then_pass

    then_pass(str(params.get("then") or "fp32"), f"{src.name}/prune_channels")  # a bad `then` fails before training
    distill = _distill(src, params, info, "prune_channels")  # None: the task's default (none); 0.5: from fp32
    keep, extra = channel_plan(src, params)

    def transform(m: tf_keras.Model) -> tf_keras.Model:
        return channel_pruned(m, keep)

    steps = compression_steps(params.get("steps"), info)  # None: the task's COMPRESSION_STEPS; 0: none
    if steps:
        tuned = fine_tuned(src, transform, steps, _lr(params, info), target=transform, distill=distill)
    else:  # steps=0: no fine-tuning (an untrained seed-scale model has nothing to recover)
        tuned = transform(src.keras_model)
    # then: a conversion (fp32, fp16, dr_int8, int8) or a further Keras pass with its own parameters,
    # '+' standing for its '@': then=truncated_svd+keep=0.25+then=dr_int8 (see converters.svd.then_pass).
    then = str(params.get("then") or "fp32")
    data, then_record = run_then(src, tuned, then, "prune_channels")
    return data, {**extra, "steps_run": steps, "fine_tune_lr": _lr(params, info) if steps else None,
                  "distill": distill if steps else 0.0, "then": then, **then_record}
