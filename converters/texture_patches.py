"""Classification data from real images a package ships: patches of ten of scikit-image's photos and
textures, the class being the photo a patch was cut from.

The generated shapes the recipes used before were saturated (SqueezeNet scored 1.000 on them), so a
compressed variant could not lose anything measurable. Patches of real photos are not all telling: a
smooth patch of `moon` looks like one of `camera`'s sky, lines of `text` like lines of `page`, so even a
well-trained model stays under the ceiling. Colour says nothing (every photo is made grey, then tinted at
random), nor does brightness or contrast (jittered), and each patch gets sensor-like noise, a random flip
and quarter turn. A patch keeps the photo's pixel scale (within +-25 %) whatever the canvas, so a model
trained on 64x64 canvases (fast) sees the same textures on 224x224.

No overlap between training and evaluation: each photo, scaled to at least QUADRANT_SIDE per quadrant, is cut
into quadrants; training patches come from the top-left and bottom-right quadrants only, held-out patches
from the other two (20 regions in all). How the held-out set is drawn (the evaluation uses 3000,
converters.accuracy.CLS_EVAL_IMAGES): patch i is its own seeded draw (its own generator from seed and i,
so the first n patches are the same whatever the count), of class i mod classes, from that class's two
regions in turn (each region gets the same share), at a uniformly random place, scale, quarter turn,
flip, contrast, tint and noise. No patch is a copy of another (tests check every patch is distinct), but
at 224 px a region of at least 320 px holds about one patch without overlap, so the held-out patches are
independent draws of views of these 20 regions, not 3000 independent photos: an interval over them says
how a change holds on these regions, not on photos never seen. Everything is seeded.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

CLASSES = ("brick", "grass", "gravel", "moon", "camera", "coins", "text", "page", "hubble_deep_field",
           "immunohistochemistry")
DATA_NAME = "patches of 10 scikit-image photos and textures (real; class = source photo)"
DATA_VERSION = 1  # bump when the images change: shipped weights key on it (converters.shipped)
QUADRANT_SIDE = 320  # every quadrant at least this many pixels a side (a 224 patch at 1.25x: 280)
SCALE = (0.8, 1.25)  # patch side / canvas side: the photo's pixel scale within +-25 %
NOISE = (0.02, 0.08)


@lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    """Each class's photo in grey [0, 1], scaled so every quadrant is at least QUADRANT_SIDE a side."""
    from skimage import data as skdata
    from skimage.color import rgb2gray
    from skimage.transform import resize

    from converters.data import as_rgb as _as_rgb

    out = []
    for name in CLASSES:
        grey = rgb2gray(_as_rgb(getattr(skdata, name)())[0])
        h, w = grey.shape
        f = max(1.0, 2 * QUADRANT_SIDE / min(h, w))
        if f > 1.0:
            grey = resize(grey, (int(np.ceil(h * f)), int(np.ceil(w * f))), order=1, anti_aliasing=False)
        out.append(np.asarray(grey, np.float32))
    return tuple(out)


def quadrants(held_out: bool) -> list[tuple[int, np.ndarray]]:
    """(class, grey region) pairs: the training quadrants (top-left, bottom-right) or the held-out ones."""
    out: list[tuple[int, np.ndarray]] = []
    for label, photo in enumerate(_photos()):
        h2, w2 = photo.shape[0] // 2, photo.shape[1] // 2
        tl, tr = photo[:h2, :w2], photo[:h2, w2:2 * w2]
        bl, br = photo[h2:2 * h2, :w2], photo[h2:2 * h2, w2:2 * w2]
        out.extend((label, q) for q in ((tr, bl) if held_out else (tl, br)))
    return out


def texture_patches(count: int, size: int, seed: int = 0, held_out: bool = False, classes: int = len(CLASSES),
                    channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """`count` size x size patches and their class (the photo they come from), classes 0..classes-1.

    Held out: patch i comes from class i mod classes (balanced) and from that class's regions in turn, each
    patch from its own generator (seed, i); training patches from a random class, one generator for all.
    """
    from converters.data import luminance

    classes = max(1, min(int(classes), len(CLASSES)))
    regions = [(c, q) for c, q in quadrants(held_out) if c < classes]
    rng = np.random.default_rng(seed)  # the training stream, unchanged since DATA_VERSION 1
    x = np.empty((count, size, size, 3), np.float32)
    y = np.empty(count, np.int64)
    for i in range(count):
        if held_out:
            label = i % classes
            options = [q for c, q in regions if c == label]
            region = options[(i // classes) % len(options)]
            x[i] = _patch(region, size, np.random.default_rng([seed, 1_000_003, i]))
        else:
            label = int(rng.integers(classes))
            options = [q for c, q in regions if c == label]
            x[i] = _patch(options[int(rng.integers(len(options)))], size, rng)
        y[i] = label
    if channels == 1:
        x = luminance(x)[..., None].astype(np.float32)
    return x, y


def _patch(region: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """One size x size view of a grey region: random place and scale, quarter turn, flip, contrast, tint, noise."""
    from skimage.transform import resize

    side = int(round(size * rng.uniform(*SCALE)))
    side = max(4, min(side, region.shape[0], region.shape[1]))
    y0 = int(rng.integers(0, region.shape[0] - side + 1))
    x0 = int(rng.integers(0, region.shape[1] - side + 1))
    patch = region[y0:y0 + side, x0:x0 + side]
    if side != size:
        patch = resize(patch, (size, size), order=1, anti_aliasing=side > size)
    patch = np.rot90(patch, int(rng.integers(4)))
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    patch = (patch - patch.mean()) * rng.uniform(0.5, 1.5) + rng.uniform(0.3, 0.7)
    tint = rng.uniform(0.6, 1.4, 3).astype(np.float32)
    img = patch[..., None] * tint + rng.normal(0.0, rng.uniform(*NOISE), (size, size, 3))
    return np.clip(img, 0.0, 1.0)


def held_out_region(index: int, classes: int = len(CLASSES)) -> int:
    """Which of the 2 x classes held-out regions held-out patch `index` was cut from (class x 2 + its turn):
    what an interval that resamples regions rather than patches groups by."""
    classes = max(1, min(int(classes), len(CLASSES)))
    return (index % classes) * 2 + (index // classes) % 2
