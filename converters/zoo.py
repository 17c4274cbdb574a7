"""The model zoo, defined in code with tf_keras (the Keras that tensorflow-model-optimization wraps).

Every builder returns an uncompiled tf_keras.Model with a fixed input size, so conversion yields
static shapes the runner can allocate without resizing.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from collections.abc import Callable

from converters.interpolator import INTERP_NOISE, start_as_interpolator

if TYPE_CHECKING:  # TensorFlow is imported by the builders only: a cached plan never pays for it
    import tf_keras as keras

# A model builder's argument, as a zoo entry or a `name@key=value` override gives it.
Setting = int | float | str | bool


@dataclass(frozen=True)
class ModelSpec:
    """A zoo entry: how to build it, what task it solves, and its default input."""

    name: str
    task: str  # super_resolution | classification | detection
    build: Callable[..., keras.Model]
    kwargs: dict[str, Setting] = field(default_factory=dict)
    description: str = ""
    trainable: bool = True  # False: no recipe fits (seed-scale detectors): untrained, accuracy not measured

    @property
    def carry(self) -> bool:
        """Built as bicubic upsampling (every FSRCNN unless `carry=False`); its recipe keeps that path fixed
        (converters.interpolator)."""
        return self.build is fsrcnn and bool(self.kwargs.get("carry", True))

    def create(self, **overrides: Setting) -> keras.Model:
        return self.build(**{**self.kwargs, **overrides})


def srcnn(size: int = 192, f2: int = 1, n1: int = 64, n2: int = 32, channels: int = 1, scale: int = 3) -> keras.Model:
    """SRCNN (Dong et al. 2014): 9-f2-5 on a bicubic-upscaled luminance image (output size in = out).

    `scale` does not change the layers; it names the model and tells its recipe which factor to learn.
    """
    import tf_keras as keras
    from tf_keras import layers

    inp = keras.Input((size, size, channels), name="lr_upscaled")
    x = layers.Conv2D(n1, 9, padding="same", activation="relu", name="patch_extraction")(inp)
    x = layers.Conv2D(n2, f2, padding="same", activation="relu", name="nonlinear_mapping")(x)
    out = layers.Conv2D(channels, 5, padding="same", name="reconstruction")(x)
    return keras.Model(inp, out, name=f"srcnn_9{f2}5_x{scale}")


def _prelu(name: str):
    """PReLU with slopes starting at 0.25, He et al.'s (2015) initialisation that FSRCNN follows;
    Keras starts them at 0, a plain ReLU."""
    import tf_keras as keras
    from tf_keras import layers

    return layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2], name=name)


# FSRCNN's initialisation (Dong et al. 2016, section 3.2 and 4.1): convolutions by He et al.'s rule for PReLU at the
# slope 0.25 it starts from (variance 2 / ((1 + 0.25^2) fan_in)), the deconvolution Gaussian with std 0.001.
# `init="keras"`: Keras' Glorot uniform everywhere, the deconvolution's random part scaled by INTERP_NOISE.
FSRCNN_INITS = ("keras", "paper")


def fsrcnn(size: int = 64, scale: int = 3, d: int = 56, s: int = 12, m: int = 4, channels: int = 1,
           init: str = "keras", carry: bool = True) -> keras.Model:
    """FSRCNN (Dong et al. 2016): feature extraction, shrinking, m mappings, expanding, deconvolution.

    `carry`: start as bicubic upsampling through one channel of every layer (converters.interpolator); False
    builds the paper's plain network, all of its channels free."""
    import tf_keras as keras
    from tf_keras import layers

    if init not in FSRCNN_INITS:
        raise ValueError(f"init={init!r}: expected one of {', '.join(FSRCNN_INITS)}")
    paper = init == "paper"
    deconv_init = keras.initializers.RandomNormal(stddev=0.001) if paper else "glorot_uniform"

    def conv(x, filters: int, kernel: int, name: str):
        # a new initializer per layer: one unseeded instance called again repeats its values
        kernel_init = keras.initializers.VarianceScaling(2.0 / (1 + 0.25**2), "fan_in", "untruncated_normal") \
            if paper else "glorot_uniform"
        return layers.Conv2D(filters, kernel, padding="same", kernel_initializer=kernel_init, name=name)(x)

    # batch 1: the converter then folds the deconvolution's output shape into a constant, which
    # XNNPACK needs to take TRANSPOSE_CONV (a free batch leaves SHAPE/PACK ops and a CPU deconv).
    inp = keras.Input((size, size, channels), batch_size=1, name="lr")
    x = conv(inp, d, 5, "feature_extraction")
    x = _prelu(name="prelu_fe")(x)
    x = conv(x, s, 1, "shrinking")
    x = _prelu(name="prelu_shrink")(x)
    for i in range(m):
        x = conv(x, s, 3, f"mapping_{i}")
        x = _prelu(name=f"prelu_map_{i}")(x)
    x = conv(x, d, 1, "expanding")
    x = _prelu(name="prelu_expand")(x)
    out = layers.Conv2DTranspose(channels, 9, strides=scale, padding="same", kernel_initializer=deconv_init,
                                 name="deconvolution")(x)
    model = keras.Model(inp, out, name=f"fsrcnn_d{d}_s{s}_m{m}_x{scale}")
    if carry:  # a fresh FSRCNN is bicubic upsampling (converters.interpolator)
        start_as_interpolator(model, noise=1.0 if paper else INTERP_NOISE)
    return model


# He initialisation keeps the signal alive through 18 ReLU convolutions; with Keras' default
# Glorot init the activations shrink ~2x per layer and training from scratch never starts.
_HE = "he_normal"


def _conv(x, filters: int, kernel: int, name: str, bn: bool, strides: int = 1, padding: str = "valid"):
    """Conv + ReLU; with `bn` a BatchNormalization sits between them (training only: it is folded
    into the convolution afterwards, see converters.training.fold_batchnorm)."""
    from tf_keras import layers

    if not bn:
        return layers.Conv2D(filters, kernel, strides=strides, padding=padding, activation="relu",
                             kernel_initializer=_HE, name=name)(x)
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, kernel_initializer=_HE, name=name)(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _fire(x, squeeze: int, expand: int, name: str, bn: bool = False):
    from tf_keras import layers

    s = _conv(x, squeeze, 1, f"{name}_squeeze", bn)
    e1 = _conv(s, expand, 1, f"{name}_expand1x1", bn)
    e3 = _conv(s, expand, 3, f"{name}_expand3x3", bn, padding="same")
    return layers.Concatenate(name=f"{name}_concat")([e1, e3])


def squeezenet(size: int = 224, classes: int = 1000, version: str = "1.1", channels: int = 3,
               batchnorm: bool = False) -> keras.Model:
    """SqueezeNet 1.0 / 1.1 (Iandola et al. 2016) for any input size and class count.

    `batchnorm=True` builds the training twin (BN after every convolution), which learns from
    scratch in a few hundred steps where the plain network stalls; its layer names match.
    """
    import tf_keras as keras
    from tf_keras import layers

    bn = batchnorm
    inp = keras.Input((size, size, channels), name="image")
    if version == "1.1":
        x = _conv(inp, 64, 3, "conv1", bn, strides=2)
        x = layers.MaxPooling2D(3, 2, name="pool1")(x)
        x = _fire(x, 16, 64, "fire2", bn)
        x = _fire(x, 16, 64, "fire3", bn)
        x = layers.MaxPooling2D(3, 2, name="pool3")(x)
        x = _fire(x, 32, 128, "fire4", bn)
        x = _fire(x, 32, 128, "fire5", bn)
        x = layers.MaxPooling2D(3, 2, name="pool5")(x)
        for i, (sq, ex) in enumerate([(48, 192), (48, 192), (64, 256), (64, 256)], start=6):
            x = _fire(x, sq, ex, f"fire{i}", bn)
    elif version == "1.0":
        x = _conv(inp, 96, 7, "conv1", bn, strides=2)
        x = layers.MaxPooling2D(3, 2, name="pool1")(x)
        x = _fire(x, 16, 64, "fire2", bn)
        x = _fire(x, 16, 64, "fire3", bn)
        x = _fire(x, 32, 128, "fire4", bn)
        x = layers.MaxPooling2D(3, 2, name="pool4")(x)
        x = _fire(x, 32, 128, "fire5", bn)
        x = _fire(x, 48, 192, "fire6", bn)
        x = _fire(x, 48, 192, "fire7", bn)
        x = _fire(x, 64, 256, "fire8", bn)
        x = layers.MaxPooling2D(3, 2, name="pool8")(x)
        x = _fire(x, 64, 256, "fire9", bn)
    else:
        raise ValueError(f"unknown SqueezeNet version {version!r} (1.0 or 1.1)")
    x = layers.Dropout(0.5, name="drop9")(x)
    x = _conv(x, classes, 1, "conv10", bn)
    x = layers.GlobalAveragePooling2D(name="pool10")(x)
    out = layers.Softmax(name="probs")(x)
    return keras.Model(inp, out, name=f"squeezenet{version.replace('.', '_')}")


ZOO: dict[str, ModelSpec] = {
    "srcnn": ModelSpec("srcnn", "super_resolution", srcnn, {"f2": 1}, "SRCNN 9-1-5, 64/32 filters, 192x192 in"),
    "srcnn_955": ModelSpec("srcnn_955", "super_resolution", srcnn, {"f2": 5}, "SRCNN 9-5-5, 192x192 in"),
    "fsrcnn": ModelSpec("fsrcnn", "super_resolution", fsrcnn, {}, "FSRCNN(56,12,4) x3, 64x64 in, 192x192 out"),
    "fsrcnn_s": ModelSpec(
        # init=paper (with SR_MODEL_RECIPE's rotations/flips): +0.11 dB over the Glorot start, 3 seeds (issue 23)
        "fsrcnn_s", "super_resolution", fsrcnn, {"d": 32, "s": 5, "m": 1, "init": "paper"},
        "FSRCNN-s(32,5,1) x3, 64x64 in",
    ),
    "squeezenet": ModelSpec(
        "squeezenet", "classification", squeezenet, {"version": "1.1"}, "SqueezeNet 1.1, 224x224, 1000 classes"
    ),
    "squeezenet1_0": ModelSpec(
        "squeezenet1_0", "classification", squeezenet, {"version": "1.0"}, "SqueezeNet 1.0, 224x224"
    ),
}

def faster_rcnn(**kwargs: Setting) -> keras.Model:
    """Faster R-CNN from converters/detection.py, imported only when asked for."""
    from converters.detection import faster_rcnn as build

    return build(**kwargs)


ZOO["faster_rcnn"] = ModelSpec("faster_rcnn", "detection", faster_rcnn, {},
                               "Faster R-CNN, small VGG-style backbone, 128x128 in, generated shapes")


def faster_rcnn_seed(**kwargs: Setting) -> keras.Model:
    """Seed-scale Faster R-CNN (ZF or VGG16 backbone, 600 px, 300 proposals), imported only when asked for."""
    from converters.detection import faster_rcnn_seed as build

    return build(**kwargs)


for _bb, _what in (("zf", "ZF"), ("vgg16", "VGG16")):
    ZOO[f"faster_rcnn_{_bb}"] = ModelSpec(
        f"faster_rcnn_{_bb}", "detection", faster_rcnn_seed, {"backbone": _bb},
        f"Faster R-CNN {_what} at the paper's scale: 600x600 in, 300 proposals, fc 4096; untrained "
        "(accuracy not measured)", trainable=False)

def faster_rcnn_proxy(**kwargs: Setting) -> keras.Model:
    """The trainable ZF-shaped proxy (converters/detection_proxy.py), imported only when asked for."""
    from converters.detection_proxy import faster_rcnn_proxy as build

    return build(**kwargs)


ZOO["faster_rcnn_proxy"] = ModelSpec(
    "faster_rcnn_proxy", "detection", faster_rcnn_proxy, {},
    "Faster R-CNN proxy for ZF (a proxy, not ZF): ZF topology at 1/8 width, stride 16, 6x6 RoI pooling, fc 1024, "
    "600x600 in, 300 proposals, 12 classes of generated objects on photos")
ZOO["faster_rcnn_proxy_400"] = ModelSpec(
    "faster_rcnn_proxy_400", "detection", faster_rcnn_proxy, {"size": 400},
    "the Faster R-CNN proxy fine-tuned for 400x400 in (from its 600 px weights)")

# x2 and x4 siblings: FSRCNN keeps a 192x192 output (LR 96 / 48); SRCNN keeps its 192x192 input.
for _scale, _lr in ((2, 96), (4, 48)):
    for _base, _extra in (("fsrcnn", {}), ("fsrcnn_s", {"d": 32, "s": 5, "m": 1})):
        ZOO[f"{_base}_x{_scale}"] = ModelSpec(
            f"{_base}_x{_scale}", "super_resolution", fsrcnn, {**_extra, "scale": _scale, "size": _lr},
            f"{ZOO[_base].description.split(' x3')[0]} x{_scale}, {_lr}x{_lr} in, 192x192 out")
    for _base in ("srcnn", "srcnn_955"):
        ZOO[f"{_base}_x{_scale}"] = ModelSpec(
            f"{_base}_x{_scale}", "super_resolution", srcnn, {**ZOO[_base].kwargs, "scale": _scale},
            f"{ZOO[_base].description} (trained for x{_scale})")

DEFAULT_MODELS = ("srcnn", "fsrcnn", "squeezenet")


_BOOLS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _parse_value(text: str) -> Setting:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def get_spec(name: str) -> ModelSpec:
    """A zoo entry; `name@key=value@...` overrides its arguments (e.g. squeezenet@size=96@classes=6).

    `@` rather than `,` keeps such names usable inside comma-separated --models lists.
    """
    base, _, args = name.partition("@")
    try:
        spec = ZOO[base]
    except KeyError:
        import difflib

        near = difflib.get_close_matches(base, list(ZOO), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise KeyError(f"unknown model {base[:60]!r} ({hint}known: {', '.join(sorted(ZOO))})") from None
    if not args:
        return spec
    overrides: dict[str, Setting] = {}
    for item in args.split("@"):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise KeyError(f"model {name!r}: overrides are key=value pairs, each after an @")
        overrides[key.strip()] = _parse_value(value.strip())
    import inspect

    params = inspect.signature(spec.build).parameters
    known = set(params)
    bad = sorted(set(overrides) - known)
    if bad and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        raise KeyError(f"model {name!r}: unknown argument {bad[0]!r} (known: {', '.join(sorted(known))})")
    for key, value in overrides.items():  # a yes/no argument: `@carry=False` was the string "False", i.e. true
        if key in params and isinstance(params[key].default, bool):
            word = str(value).lower()
            if word not in _BOOLS:
                raise KeyError(f"model {name[:80]!r}: {key} is yes/no (true, false, 1 or 0), not {str(value)[:20]!r}")
            overrides[key] = _BOOLS[word]
    return replace(spec, name=name, kwargs={**spec.kwargs, **overrides}, description=f"{spec.description} {args}")
