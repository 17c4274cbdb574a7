"""The subpixel pass: strided deconvolutions as conv + depth-to-space (exact; XNNPACK-friendly).

Moved out of converters/compress.py (issue 24: modules under ~500 lines); the shared Keras helpers stay there.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

from converters.compress import _custom_objects, _functional, _keras, _keras_bytes
from converters.passes import ConversionError, Source, register

if TYPE_CHECKING:  # tf_keras ships no type information: mypy cannot check these names
    import tf_keras

    from converters.passes import Params


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
