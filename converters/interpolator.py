"""FSRCNN's bicubic start: a path that carries the LR image to a bicubic deconvolution, kept fixed
while the recipe trains the rest.

SRCNN-style models see the bicubic image and start at bicubic quality; FSRCNN maps the LR image
itself, and from random weights a short recipe spends most of its steps learning to interpolate
(FSRCNN-s stayed ~0.15 dB under SRCNN 9-5-5 after 3000-10000 steps). Here channel c of every
convolution copies input channel c through its centre tap (PReLU passes the non-negative image
unchanged) into a bicubic 9x9 deconvolution kernel, so the fresh model is bicubic upsampling and
training learns only the detail on top: a residual connection with the graph, MACs and ops of the
paper's FSRCNN.

The recipe re-imposes the carry after every step (`keep_carry`). Left free, it drifts by small
amounts around its centre taps, which per-channel int8 weights cannot hold, and the error compounds
through every layer: full FSRCNN dr_int8 fell 29.36 -> 27.95 dB (measured). Kept exact, the carry
quantizes exactly (taps of 1 and 0): dr_int8 29.65, int8 29.02 dB (random start: 29.36, 29.15).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # TensorFlow and tf_keras ship no type information: mypy cannot check these names
    import tensorflow as tf
    import tf_keras

# The deconvolution's random weights beside the carry start at this fraction of their init, so they
# do not swamp the interpolation at step 0.
INTERP_NOISE = 0.1


def _cubic(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel (a = -0.5, what bicubic resizing uses) at offsets t in pixels."""
    t = np.abs(t)
    return np.where(t <= 1, (a + 2) * t**3 - (a + 3) * t**2 + 1,
                    np.where(t < 2, a * (t**3 - 5 * t**2 + 8 * t - 4), 0.0))


def interpolation_kernel(size: int, scale: int) -> np.ndarray:
    """The (size, size) transpose-convolution kernel that upsamples by `scale` with bicubic weights.

    A stride-`scale` "same" Conv2DTranspose writes LR pixel i times tap k at HR pixel
    scale*i + k - (size - scale)//2; skimage's resize (datasets.py) puts HR pixel o at LR
    coordinate (o + 0.5)/scale - 0.5, so tap k carries the weight of LR offset
    (k - (size - scale)//2 + 0.5)/scale - 0.5. Each output phase's taps are normalised to sum to 1
    (flat areas stay flat even where the taps cut the cubic's tails).
    """
    k = np.arange(size)
    pad = (size - scale) // 2
    w = _cubic((k - pad + 0.5) / scale - 0.5)
    phase = (k - pad) % scale
    for p in range(scale):
        w[phase == p] /= w[phase == p].sum()
    return np.outer(w, w).astype(np.float32)


def carry_masks(model: tf_keras.Model) -> list[tuple[tf.Variable, np.ndarray, np.ndarray]]:
    """(variable, mask, fixed) for every weight the carry pins: the variable's value is to be
    value * mask + fixed. Convolutions: output channel c reads only input channel c, centre tap 1,
    bias 0; the deconvolution: output c reads input c through the bicubic kernel."""
    channels = int(model.input_shape[-1])
    out: list[tuple[tf.Variable, np.ndarray, np.ndarray]] = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in ("Conv2D", "Conv2DTranspose"):
            continue
        kernel, bias = layer.kernel, layer.bias
        shape = tuple(int(d) for d in kernel.shape)
        mask, fixed = np.ones(shape, np.float32), np.zeros(shape, np.float32)
        if kind == "Conv2DTranspose":  # (kh, kw, out, in)
            bicubic = interpolation_kernel(shape[0], int(layer.strides[0]))
            for c in range(channels):
                mask[:, :, :, c] = 0.0
                fixed[:, :, c, c] = bicubic
            out.append((kernel, mask, fixed))
            continue
        kh, kw = shape[:2]  # (kh, kw, in, out)
        bmask = np.ones(tuple(int(d) for d in bias.shape), np.float32)
        for c in range(channels):
            mask[:, :, :, c] = 0.0
            fixed[kh // 2, kw // 2, c, c] = 1.0
            bmask[c] = 0.0
        out += [(kernel, mask, fixed), (bias, bmask, np.zeros_like(bmask))]
    return out


def start_as_interpolator(model: tf_keras.Model, noise: float = INTERP_NOISE) -> None:
    """Set the carry in a freshly built FSRCNN; the deconvolution's other weights are scaled by
    `noise`, the convolutions' other weights keep their random init."""
    deconv = [layer for layer in model.layers if type(layer).__name__ == "Conv2DTranspose"][-1]
    deconv.kernel.assign(deconv.kernel.numpy() * noise)
    for var, mask, fixed in carry_masks(model):
        var.assign(var.numpy() * mask + fixed)


def keep_carry() -> tf_keras.callbacks.Callback:
    """A Keras callback that re-imposes the carry after every training step (a constraint on part
    of a kernel, which Keras' per-variable constraints cannot say without a custom, serialized class)."""
    import tensorflow as tf
    import tf_keras as keras

    class KeepCarry(keras.callbacks.Callback):  # type: ignore[misc]
        def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
            self.pins = [(v, tf.constant(m), tf.constant(f)) for v, m, f in carry_masks(self.model)]

        def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
            for var, mask, fixed in self.pins:
                var.assign(var * mask + fixed)

    return KeepCarry()
