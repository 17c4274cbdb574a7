"""Keras 3 files (TensorFlow 2.16+'s default `tf.keras`) next to tf_keras ones.

The passes that fine-tune with TF-MOT (prune, cluster, QAT, factorize...) need a tf_keras model; a Keras 3
model is rebuilt in tf_keras from its config and weights where its layers exist there. Every other pass
converts the Keras 3 model as it is (through a SavedModel export).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # TensorFlow, Keras 3 and tf_keras ship no type information: mypy cannot check these names
    import keras
    import tensorflow as tf
    import tf_keras

    Activation = Callable[..., tf.Tensor]

# Keras 3 config keys that tf_keras layers do not take.
_DROP_KEYS = {"optional", "registered_name", "build_config", "compile_config", "quantization_config",
              "input_axes", "output_axes", "lora_rank", "lora_alpha"}


def _dtype(value: object) -> object:
    """Keras 3 writes a DTypePolicy object where tf_keras wants the dtype's name."""
    if isinstance(value, dict) and value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        return value.get("config", {}).get("name", "float32")
    return value


def _history(arg: object) -> list[list[object]]:
    """The (layer, node, tensor) triples of a Keras 3 call argument (a tensor or nested list of them)."""
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        name, node, index = arg["config"]["keras_history"]
        return [[name, node, index, {}]]
    if isinstance(arg, (list, tuple)):
        return [h for a in arg for h in _history(a)]
    return []


def _nodes(inbound: list[object]) -> list[object]:
    out: list[object] = []
    for node in inbound:
        if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
            out.append([h for a in node.get("args", []) for h in _history(a)])
        else:
            out.append(node)
    return out


def _tensor_refs(refs: object) -> object:
    """Model inputs/outputs: Keras 3 writes one [name, node, index] for a single tensor; tf_keras a list of them."""
    if isinstance(refs, list) and len(refs) == 3 and isinstance(refs[0], str):
        return [refs]
    return refs


# ---------------------------------------------------------------- activations
# Keras 3 built-ins that tf_keras lacks, or has under the same name with another formula (hard_sigmoid is
# relu6(x + 3) / 6 in Keras 3, 0.2 x + 0.5 clipped in tf_keras). Written in TensorFlow ops with Keras 3's
# formulas (keras/src/activations/activations.py) and registered with tf_keras as "keras3>NAME", so a rebuilt
# model computes what the original did and survives the clone_model and get_config calls of the passes.
_K3_PACKAGE = "keras3"


def _k3_activations() -> dict[str, Activation]:
    import tensorflow as tf

    def hard_sigmoid(x: tf.Tensor) -> tf.Tensor:
        return tf.nn.relu6(x + 3.0) / 6.0

    def hard_silu(x: tf.Tensor) -> tf.Tensor:
        return x * hard_sigmoid(x)

    def celu(x: tf.Tensor, alpha: float = 1.0) -> tf.Tensor:
        return tf.nn.relu(x) + alpha * tf.minimum(0.0, tf.math.expm1(x / alpha))

    def glu(x: tf.Tensor, axis: int = -1) -> tf.Tensor:
        a, b = tf.split(x, 2, axis=axis)
        return a * tf.sigmoid(b)

    def hard_tanh(x: tf.Tensor) -> tf.Tensor:
        return tf.clip_by_value(x, -1.0, 1.0)

    def sparse_plus(x: tf.Tensor) -> tf.Tensor:
        return tf.where(x <= -1.0, tf.zeros_like(x), tf.where(x < 1.0, (x + 1.0) ** 2 / 4.0, x))

    def squareplus(x: tf.Tensor, b: float = 4.0) -> tf.Tensor:
        return (x + tf.sqrt(x * x + b)) / 2.0

    def soft_shrink(x: tf.Tensor, threshold: float = 0.5) -> tf.Tensor:
        return tf.where(x > threshold, x - threshold, tf.where(x < -threshold, x + threshold, tf.zeros_like(x)))

    def hard_shrink(x: tf.Tensor, threshold: float = 0.5) -> tf.Tensor:
        return tf.where(tf.abs(x) > threshold, x, tf.zeros_like(x))

    def tanh_shrink(x: tf.Tensor) -> tf.Tensor:
        return x - tf.tanh(x)

    return {"hard_sigmoid": hard_sigmoid, "hard_silu": hard_silu, "hard_swish": hard_silu, "celu": celu,
            "glu": glu, "hard_tanh": hard_tanh, "sparse_plus": sparse_plus, "squareplus": squareplus,
            "soft_shrink": soft_shrink, "hard_shrink": hard_shrink, "tanh_shrink": tanh_shrink}


MAPPED_ACTIVATIONS = ("hard_sigmoid", "hard_silu", "hard_swish", "celu", "glu", "hard_tanh", "sparse_plus",
                      "squareplus", "soft_shrink", "hard_shrink", "tanh_shrink")
_REGISTERED: dict[str, Activation] = {}


def k3_activation(name: str) -> Activation:
    """The tf_keras-registered function computing Keras 3's `name` (registered on first use)."""
    if not _REGISTERED:
        import tf_keras

        for n, fn in _k3_activations().items():
            _REGISTERED[n] = tf_keras.saving.register_keras_serializable(package=_K3_PACKAGE, name=n)(fn)
    return _REGISTERED[name]


def _activation(value: object) -> object:
    """A Keras 3 activation (a name, or a serialized built-in function) as tf_keras will find it."""
    name = value.get("config") if isinstance(value, dict) and value.get("class_name") == "function" else value
    if isinstance(name, str) and name in MAPPED_ACTIVATIONS:
        k3_activation(name)
        return f"{_K3_PACKAGE}>{name}"
    return name if isinstance(name, str) else value


# ---------------------------------------------------------------- operations
# Keras 3 records `x + 3.0` or `x * (1 / 6)` on a symbolic tensor as an operation (keras.src.ops.numpy.Add),
# whose config reads like the merge layer of the same name; tf_keras would build layers.Add and fail on one
# input. They become one registered tf_keras layer, "keras3>Keras3Op", that keeps the constant arguments.
_OPS = ("Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum", "Minimum")
_OP_LAYER: list[type[tf_keras.layers.Layer]] = []


def _op_layer() -> type[tf_keras.layers.Layer]:
    if not _OP_LAYER:
        import tensorflow as tf
        import tf_keras

        fns = {"Add": tf.add, "Subtract": tf.subtract, "Multiply": tf.multiply, "Divide": tf.divide,
               "TrueDivide": tf.divide, "Maximum": tf.maximum, "Minimum": tf.minimum}

        @tf_keras.saving.register_keras_serializable(package=_K3_PACKAGE)
        class Keras3Op(tf_keras.layers.Layer):  # type: ignore[misc]
            """A Keras 3 arithmetic operation: tensors in the None slots of `constants`, in order."""

            def __init__(self, op: str, constants: list[object], **kwargs: object) -> None:
                super().__init__(**kwargs)
                self.op, self.constants = op, list(constants)

            def call(self, inputs: tf.Tensor | list[tf.Tensor]) -> tf.Tensor:
                tensors = iter(inputs if isinstance(inputs, (list, tuple)) else [inputs])
                return fns[self.op](*[next(tensors) if c is None else c for c in self.constants])

            def get_config(self) -> dict[str, object]:
                return {**super().get_config(), "op": self.op, "constants": self.constants}

        _OP_LAYER.append(Keras3Op)
    return _OP_LAYER[0]


_ACT_LAYER: list[type[tf_keras.layers.Layer]] = []


def _activation_layer() -> type[tf_keras.layers.Layer]:
    """An Activation layer computing a mapped Keras 3 built-in, under its own class name: tfmot's QAT
    transforms and registry match `Activation` by name and know only their own functions, so this layer
    stays float under `qat` instead of failing the pass."""
    if not _ACT_LAYER:
        import tf_keras

        @tf_keras.saving.register_keras_serializable(package=_K3_PACKAGE)
        class Keras3Activation(tf_keras.layers.Layer):  # type: ignore[misc]
            def __init__(self, activation: str, **kwargs: object) -> None:
                super().__init__(**kwargs)
                self.activation_name = activation
                self.fn = k3_activation(activation)

            def call(self, inputs: tf.Tensor) -> tf.Tensor:
                return self.fn(inputs)

            def get_config(self) -> dict[str, object]:
                return {**super().get_config(), "activation": self.activation_name}

        _ACT_LAYER.append(Keras3Activation)
    return _ACT_LAYER[0]


def _mapped_activation_layer(obj: Mapping[str, object]) -> bool:
    cfg = obj.get("config")
    if obj.get("class_name") != "Activation" or not isinstance(cfg, dict):
        return False
    act = cfg.get("activation")
    name = act.get("config") if isinstance(act, dict) and act.get("class_name") == "function" else act
    return isinstance(name, str) and name in MAPPED_ACTIVATIONS


def _is_op(obj: Mapping[str, object]) -> bool:
    return str(obj.get("module", "")).startswith("keras.src.ops") and "inbound_nodes" in obj


def _op_config(obj: Mapping[str, object]) -> dict[str, object]:
    """An operation's layer entry rewritten as a Keras3Op layer (one call site: a node per call)."""
    nodes = obj.get("inbound_nodes") or []
    if obj.get("class_name") not in _OPS or not isinstance(nodes, list) or len(nodes) != 1 or \
            not isinstance(nodes[0], dict) or nodes[0].get("kwargs"):
        raise ValueError(f"operation {obj.get('name')!r} ({obj.get('class_name')}) has no tf_keras counterpart")
    args = nodes[0].get("args", [])
    if any(isinstance(a, (list, tuple)) for a in args):
        raise ValueError(f"operation {obj.get('name')!r} ({obj.get('class_name')}) has nested arguments")
    constants = [None if _history(a) else a for a in args]
    _op_layer()
    return {"class_name": f"{_K3_PACKAGE}>Keras3Op", "name": obj.get("name"),
            "config": {"name": obj.get("name"), "op": obj["class_name"], "constants": constants},
            "inbound_nodes": _nodes(nodes)}


def to_tf_keras_config(obj: object) -> object:
    """A Keras 3 model config rewritten in tf_keras's dialect (recursively)."""
    if isinstance(obj, list):
        return [to_tf_keras_config(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if _is_op(obj):
        return _op_config(obj)
    if _mapped_activation_layer(obj):
        _activation_layer()
        converted = _entries({k: v for k, v in obj.items() if k != "class_name"})
        act = obj["config"]["activation"]
        name = act.get("config") if isinstance(act, dict) else act
        config = converted["config"]
        if isinstance(config, dict):  # it is: _mapped_activation_layer checked the layer's config
            config["activation"] = name
        return {**converted, "class_name": f"{_K3_PACKAGE}>Keras3Activation"}
    return _entries(obj)


def _entries(obj: Mapping[str, object]) -> dict[str, object]:
    """One config mapping's keys in tf_keras's dialect (values converted recursively)."""
    out: dict[str, object] = {}
    for k, v in obj.items():
        if k in _DROP_KEYS or (k == "module" and isinstance(v, str) and v.startswith("keras")):
            continue
        if k == "dtype":
            out[k] = _dtype(v)
        elif k == "batch_shape":
            out["batch_input_shape"] = v
        elif k == "inbound_nodes":
            out[k] = _nodes(v) if isinstance(v, list) else v
        elif k == "activation":
            out[k] = _activation(v)
        elif k in ("input_layers", "output_layers"):
            out[k] = _tensor_refs(v)
        else:
            out[k] = to_tf_keras_config(v)
    return out


def is_keras3(model: object) -> bool:
    return type(model).__module__.startswith("keras.") or type(model).__module__.startswith("keras.src")


def rebuild_in_tf_keras(model: keras.Model) -> tf_keras.Model:
    """The same network and weights as a tf_keras model; raises with the first layer tf_keras cannot build."""
    import tf_keras

    for layer in model.layers:
        cls = type(layer)
        if cls.__module__.startswith("keras.src.ops"):
            continue  # an operation (x + 3.0): _op_config rewrites it or says why not
        if not cls.__module__.startswith("keras.") or not hasattr(tf_keras.layers, cls.__name__):
            raise ValueError(f"layer {layer.name!r} ({cls.__name__}) has no tf_keras counterpart")
    config = to_tf_keras_config({"class_name": type(model).__name__ if type(model).__name__ in ("Sequential",)
                                 else "Functional", "config": model.get_config()})
    rebuilt = tf_keras.models.model_from_config(config)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


TF_KERAS_ONLY = "TF-MOT (pruning, clustering, QAT) and the fine-tuned passes work on tf_keras models only"
