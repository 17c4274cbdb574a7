"""Keras 3 files (TensorFlow 2.16+'s default `tf.keras`) next to tf_keras ones.

The passes that fine-tune with TF-MOT (prune, cluster, QAT, factorize...) need a tf_keras model; a Keras 3
model is rebuilt in tf_keras from its config and weights where its layers exist there. Every other pass
converts the Keras 3 model as it is (through a SavedModel export).
"""
from __future__ import annotations

from typing import Any

# Keras 3 config keys that tf_keras layers do not take.
_DROP_KEYS = {"optional", "registered_name", "build_config", "compile_config", "quantization_config",
              "input_axes", "output_axes", "lora_rank", "lora_alpha"}


def _dtype(value: Any) -> Any:
    """Keras 3 writes a DTypePolicy object where tf_keras wants the dtype's name."""
    if isinstance(value, dict) and value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        return value.get("config", {}).get("name", "float32")
    return value


def _history(arg: Any) -> list[list[Any]]:
    """The (layer, node, tensor) triples of a Keras 3 call argument (a tensor or nested list of them)."""
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        name, node, index = arg["config"]["keras_history"]
        return [[name, node, index, {}]]
    if isinstance(arg, (list, tuple)):
        return [h for a in arg for h in _history(a)]
    return []


def _nodes(inbound: list[Any]) -> list[Any]:
    out = []
    for node in inbound:
        if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
            out.append([h for a in node.get("args", []) for h in _history(a)])
        else:
            out.append(node)
    return out


def _tensor_refs(refs: Any) -> Any:
    """Model inputs/outputs: Keras 3 writes one [name, node, index] for a single tensor; tf_keras a list of them."""
    if isinstance(refs, list) and len(refs) == 3 and isinstance(refs[0], str):
        return [refs]
    return refs


def to_tf_keras_config(obj: Any) -> Any:
    """A Keras 3 model config rewritten in tf_keras's dialect (recursively)."""
    if isinstance(obj, list):
        return [to_tf_keras_config(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if k in _DROP_KEYS or (k == "module" and isinstance(v, str) and v.startswith("keras")):
            continue
        if k == "dtype":
            out[k] = _dtype(v)
        elif k == "batch_shape":
            out["batch_input_shape"] = v
        elif k == "inbound_nodes":
            out[k] = _nodes(v)
        elif k in ("input_layers", "output_layers"):
            out[k] = _tensor_refs(v)
        else:
            out[k] = to_tf_keras_config(v)
    return out


def is_keras3(model: Any) -> bool:
    return type(model).__module__.startswith("keras.") or type(model).__module__.startswith("keras.src")


def rebuild_in_tf_keras(model: Any) -> Any:
    """The same network and weights as a tf_keras model; raises with the first layer tf_keras cannot build."""
    import tf_keras

    for layer in model.layers:
        cls = type(layer)
        if not cls.__module__.startswith("keras.") or not hasattr(tf_keras.layers, cls.__name__):
            raise ValueError(f"layer {layer.name!r} ({cls.__name__}) has no tf_keras counterpart")
    config = to_tf_keras_config({"class_name": type(model).__name__ if type(model).__name__ in ("Sequential",)
                                 else "Functional", "config": model.get_config()})
    rebuilt = tf_keras.models.model_from_config(config)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


TF_KERAS_ONLY = "TF-MOT (pruning, clustering, QAT) and the fine-tuned passes work on tf_keras models only"
