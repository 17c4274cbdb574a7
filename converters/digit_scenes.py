"""Classification data from real images a package ships: scikit-learn's handwritten digits on photos.

The generated shapes the recipes used before were saturated (SqueezeNet scored 1.000 on them), so a
compressed variant could not lose anything measurable. Here each image holds one real handwritten digit
(scikit-learn's `load_digits`: 1797 scans of 8x8 pixels, 10 classes, from 43 writers) drawn at a fixed
pixel size (20-34 px, whatever the canvas) in a random colour, at a random place, over a low-contrast
crop of one of scikit-image's photos, with sensor-like noise. A digit is small against the clutter at
224x224, so a model trained within minutes on 2 cores stays well below the ceiling.

No overlap between training and evaluation: a fixed permutation holds 1000 of the 1797 digits out
(they are never drawn for training), and the held-out images' backgrounds come from photos the
training images never use (the super-resolution split's held-out photos). Everything is seeded.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

DIGIT_CLASSES = 10
HELD_OUT_DIGITS = 1000  # of scikit-learn's 1797: the evaluation set, one image per digit
DIGIT_PX = (20, 34)  # drawn height/width in pixels, whatever the canvas size
SPLIT_SEED = 2023
DATA_NAME = "scikit-learn handwritten digits (real scans) on scikit-image photos"
DATA_VERSION = 1  # bump when the images change: shipped weights key on it (converters.shipped)
BG_MIN_SIDE = 256  # backgrounds are scaled so a 224x224 crop fits


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, held-out images, held-out labels): 8x8 in [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images / 16.0).astype(np.float32)
    labels = d.target.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    held, train = np.sort(order[:HELD_OUT_DIGITS]), np.sort(order[HELD_OUT_DIGITS:])
    return images[train], labels[train], images[held], labels[held]


def digit_split(held_out: bool) -> tuple[np.ndarray, np.ndarray]:
    """The training or the held-out digits (8x8 in [0, 1]) and their labels."""
    tx, ty, hx, hy = _digits()
    return (hx, hy) if held_out else (tx, ty)


@lru_cache(maxsize=2)
def _backgrounds(held_out: bool) -> tuple[np.ndarray, ...]:
    """Grey photos in [0, 1], at least BG_MIN_SIDE on each side: held-out or training photos."""
    from skimage import data as skdata
    from skimage.color import rgb2gray
    from skimage.transform import resize

    from converters.data import SKIMAGE_IMAGES
    from converters.datasets import SR_EVAL_IMAGES, _as_rgb

    out = []
    for name in SKIMAGE_IMAGES:
        if not hasattr(skdata, name) or (name in SR_EVAL_IMAGES) != held_out:
            continue
        grey = rgb2gray(_as_rgb(getattr(skdata, name)())[0]).astype(np.float32)
        h, w = grey.shape
        if min(h, w) < BG_MIN_SIDE:
            f = BG_MIN_SIDE / min(h, w)
            grey = resize(grey, (int(np.ceil(h * f)), int(np.ceil(w * f))), anti_aliasing=True)
        out.append(np.asarray(grey, np.float32))
    return tuple(out)


def _glyph(digit: np.ndarray, height: int, width: int) -> np.ndarray:
    from skimage.transform import resize

    return np.clip(resize(digit, (height, width), order=1, anti_aliasing=False), 0.0, 1.0).astype(np.float32)


def digit_scenes(count: int, size: int, seed: int = 0, held_out: bool = False, classes: int = DIGIT_CLASSES,
                 channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """`count` size x size images, each one handwritten digit over a photo crop, and the digit's class.

    Held out: image i shows held-out digit i (cycling when `count` exceeds them), so the first
    HELD_OUT_DIGITS images are that many distinct digits. Training images draw training digits at random.
    `classes` < 10 keeps the digits 0..classes-1 only.
    """
    from converters.data import luminance

    classes = max(1, min(int(classes), DIGIT_CLASSES))
    pool_x, pool_y = digit_split(held_out)
    keep = pool_y < classes
    pool_x, pool_y = pool_x[keep], pool_y[keep]
    backgrounds = _backgrounds(held_out)
    rng = np.random.default_rng(seed + (1_000_003 if held_out else 0))
    x = np.empty((count, size, size, 3), np.float32)
    y = np.empty(count, np.int64)
    top = max(8, min(DIGIT_PX[1], int(size * 0.8)))
    bottom = min(DIGIT_PX[0], top)
    for i in range(count):
        k = i % len(pool_y) if held_out else int(rng.integers(len(pool_y)))
        bg = backgrounds[int(rng.integers(len(backgrounds)))]
        by = int(rng.integers(0, bg.shape[0] - size + 1))
        bx = int(rng.integers(0, bg.shape[1] - size + 1))
        crop = bg[by:by + size, bx:bx + size]
        tint = rng.uniform(0.0, 1.0, 3).astype(np.float32)
        contrast = rng.uniform(0.25, 0.6)
        img = tint + contrast * (crop[..., None] - crop.mean())
        h = int(rng.integers(bottom, top + 1))
        w = int(np.clip(round(h * rng.uniform(0.7, 1.0)), 6, top))
        glyph = _glyph(pool_x[k], h, w)
        gy, gx = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
        colour = ((tint + rng.uniform(0.3, 0.6, 3) * rng.choice([-1.0, 1.0], 3)) % 1.0).astype(np.float32)
        region = img[gy:gy + h, gx:gx + w]
        alpha = glyph[..., None] * rng.uniform(0.6, 1.0)
        img[gy:gy + h, gx:gx + w] = region * (1.0 - alpha) + colour * alpha
        img = img + rng.normal(0.0, 0.05, img.shape).astype(np.float32)
        x[i] = np.clip(img, 0.0, 1.0)
        y[i] = pool_y[k]
    if channels == 1:
        x = luminance(x)[..., None].astype(np.float32)
    return x, y
