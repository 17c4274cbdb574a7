"""The model zoo, defined in code with tf_keras (the Keras that tensorflow-model-optimization wraps).

Every builder returns an uncompiled tf_keras.Model with a fixed input size, so conversion yields
static shapes the runner can allocate without resizing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import tf_keras as keras
from tf_keras import layers


@dataclass(frozen=True)
class ModelSpec:
    """A zoo entry: how to build it, what task it solves, and its default input."""

    name: str
    task: str  # super_resolution | classification | detection
    build: Callable[..., keras.Model]
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def create(self, **overrides: Any) -> keras.Model:
        return self.build(**{**self.kwargs, **overrides})


def srcnn(size: int = 192, f2: int = 1, n1: int = 64, n2: int = 32, channels: int = 1) -> keras.Model:
    """SRCNN (Dong et al. 2014): 9-f2-5 on a bicubic-upscaled luminance image (output size in = out)."""
    inp = keras.Input((size, size, channels), name="lr_upscaled")
    x = layers.Conv2D(n1, 9, padding="same", activation="relu", name="patch_extraction")(inp)
    x = layers.Conv2D(n2, f2, padding="same", activation="relu", name="nonlinear_mapping")(x)
    out = layers.Conv2D(channels, 5, padding="same", name="reconstruction")(x)
    return keras.Model(inp, out, name=f"srcnn_9{f2}5")


def fsrcnn(size: int = 64, scale: int = 3, d: int = 56, s: int = 12, m: int = 4, channels: int = 1) -> keras.Model:
    """FSRCNN (Dong et al. 2016): feature extraction, shrinking, m mappings, expanding, deconvolution."""
    inp = keras.Input((size, size, channels), name="lr")
    x = layers.Conv2D(d, 5, padding="same", name="feature_extraction")(inp)
    x = layers.PReLU(shared_axes=[1, 2], name="prelu_fe")(x)
    x = layers.Conv2D(s, 1, padding="same", name="shrinking")(x)
    x = layers.PReLU(shared_axes=[1, 2], name="prelu_shrink")(x)
    for i in range(m):
        x = layers.Conv2D(s, 3, padding="same", name=f"mapping_{i}")(x)
        x = layers.PReLU(shared_axes=[1, 2], name=f"prelu_map_{i}")(x)
    x = layers.Conv2D(d, 1, padding="same", name="expanding")(x)
    x = layers.PReLU(shared_axes=[1, 2], name="prelu_expand")(x)
    out = layers.Conv2DTranspose(channels, 9, strides=scale, padding="same", name="deconvolution")(x)
    return keras.Model(inp, out, name=f"fsrcnn_d{d}_s{s}_m{m}_x{scale}")


def _fire(x, squeeze: int, expand: int, name: str):
    s = layers.Conv2D(squeeze, 1, activation="relu", name=f"{name}_squeeze")(x)
    e1 = layers.Conv2D(expand, 1, activation="relu", name=f"{name}_expand1x1")(s)
    e3 = layers.Conv2D(expand, 3, padding="same", activation="relu", name=f"{name}_expand3x3")(s)
    return layers.Concatenate(name=f"{name}_concat")([e1, e3])


def squeezenet(size: int = 224, classes: int = 1000, version: str = "1.1", channels: int = 3) -> keras.Model:
    """SqueezeNet 1.0 / 1.1 (Iandola et al. 2016) for any input size and class count."""
    inp = keras.Input((size, size, channels), name="image")
    if version == "1.1":
        x = layers.Conv2D(64, 3, strides=2, activation="relu", name="conv1")(inp)
        x = layers.MaxPooling2D(3, 2, name="pool1")(x)
        x = _fire(x, 16, 64, "fire2")
        x = _fire(x, 16, 64, "fire3")
        x = layers.MaxPooling2D(3, 2, name="pool3")(x)
        x = _fire(x, 32, 128, "fire4")
        x = _fire(x, 32, 128, "fire5")
        x = layers.MaxPooling2D(3, 2, name="pool5")(x)
        for i, (sq, ex) in enumerate([(48, 192), (48, 192), (64, 256), (64, 256)], start=6):
            x = _fire(x, sq, ex, f"fire{i}")
    elif version == "1.0":
        x = layers.Conv2D(96, 7, strides=2, activation="relu", name="conv1")(inp)
        x = layers.MaxPooling2D(3, 2, name="pool1")(x)
        x = _fire(x, 16, 64, "fire2")
        x = _fire(x, 16, 64, "fire3")
        x = _fire(x, 32, 128, "fire4")
        x = layers.MaxPooling2D(3, 2, name="pool4")(x)
        x = _fire(x, 32, 128, "fire5")
        x = _fire(x, 48, 192, "fire6")
        x = _fire(x, 48, 192, "fire7")
        x = _fire(x, 64, 256, "fire8")
        x = layers.MaxPooling2D(3, 2, name="pool8")(x)
        x = _fire(x, 64, 256, "fire9")
    else:
        raise ValueError(f"unknown SqueezeNet version {version!r} (1.0 or 1.1)")
    x = layers.Dropout(0.5, name="drop9")(x)
    x = layers.Conv2D(classes, 1, activation="relu", name="conv10")(x)
    x = layers.GlobalAveragePooling2D(name="pool10")(x)
    out = layers.Softmax(name="probs")(x)
    return keras.Model(inp, out, name=f"squeezenet{version.replace('.', '_')}")


ZOO: dict[str, ModelSpec] = {
    "srcnn": ModelSpec("srcnn", "super_resolution", srcnn, {"f2": 1}, "SRCNN 9-1-5, 64/32 filters, 192x192 in"),
    "srcnn_955": ModelSpec("srcnn_955", "super_resolution", srcnn, {"f2": 5}, "SRCNN 9-5-5, 192x192 in"),
    "fsrcnn": ModelSpec("fsrcnn", "super_resolution", fsrcnn, {}, "FSRCNN(56,12,4) x3, 64x64 in, 192x192 out"),
    "fsrcnn_s": ModelSpec(
        "fsrcnn_s", "super_resolution", fsrcnn, {"d": 32, "s": 5, "m": 1}, "FSRCNN-s(32,5,1) x3, 64x64 in"
    ),
    "squeezenet": ModelSpec(
        "squeezenet", "classification", squeezenet, {"version": "1.1"}, "SqueezeNet 1.1, 224x224, 1000 classes"
    ),
    "squeezenet1_0": ModelSpec(
        "squeezenet1_0", "classification", squeezenet, {"version": "1.0"}, "SqueezeNet 1.0, 224x224"
    ),
}

DEFAULT_MODELS = ("srcnn", "fsrcnn", "squeezenet")


def get_spec(name: str) -> ModelSpec:
    try:
        return ZOO[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(sorted(ZOO))})") from None
