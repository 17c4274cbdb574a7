"""Training and evaluation data for the recipes, all made offline and small enough for 2 CPU cores.

Super-resolution pairs come from the images scikit-image ships (or a user's folder), split into
training and held-out images so accuracy is never measured on what a model trained on.
Classification data is real: patches of ten of scikit-image's photos and textures, the class being the
photo (converters.texture_patches), held-out patches from quadrants training never sees. A patch keeps the
photo's pixel scale, so a classifier trained on small canvases (fast) still works on the model's full input
size. A user folder with one sub-folder per class replaces them. The generated shapes (`shapes`) are kept
for callers that want a trivially separable set; the recipes scored 1.000 on them (saturated).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from converters.data import as_rgb as _as_rgb, load_images, luminance

# Held out from training: PSNR/SSIM are measured on crops of these only.
SR_EVAL_IMAGES = ("astronaut", "camera", "coffee", "rocket")
SHAPE_CLASSES = ("disk", "square", "triangle", "ring", "plus", "diamond")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class TaskInfo:
    """What a model does, as far as its data is concerned."""

    kind: str  # super_resolution | classification | detection | unknown
    scale: int = 1  # super-resolution factor
    upsampled_input: bool = False  # SRCNN-style: input is the bicubic-upscaled image
    channels: int = 1
    classes: int = 0


def task_info(task: str, input_shape: Sequence[int | None], output_shape: Sequence[int | None],
              scale_hint: int | None = None) -> TaskInfo:
    """Infer the data a model wants from its task (when known) and its input/output shapes."""
    in_shape, out_shape = tuple(input_shape), tuple(output_shape)
    if task == "detection":
        return TaskInfo("detection", channels=int(in_shape[-1]))
    if len(in_shape) == 4 and len(out_shape) == 2 and task in ("classification", "unknown"):
        return TaskInfo("classification", channels=int(in_shape[-1]), classes=int(out_shape[-1]))
    if len(in_shape) == 4 and len(out_shape) == 4 and task in ("super_resolution", "unknown"):
        if in_shape[1] and out_shape[1] and out_shape[-1] == in_shape[-1] and out_shape[1] % in_shape[1] == 0:
            ratio = out_shape[1] // in_shape[1]
            if ratio == 1:
                return TaskInfo("super_resolution", scale=int(scale_hint or 3), upsampled_input=True,
                                channels=int(in_shape[-1]))
            if ratio in (2, 3, 4, 8):
                return TaskInfo("super_resolution", scale=ratio, channels=int(in_shape[-1]))
    return TaskInfo("unknown", channels=int(in_shape[-1]) if in_shape else 0)


# ---------------------------------------------------------------- super-resolution


@lru_cache(maxsize=4)
def _sr_images(image_dir: str | None, held_out: bool) -> tuple[np.ndarray, ...]:
    """RGB images in [0, 1]: the held-out or the training split."""
    if image_dir is None:
        from skimage import data as skdata

        from converters.data import SKIMAGE_IMAGES

        names = [n for n in SKIMAGE_IMAGES if hasattr(skdata, n) and (n in SR_EVAL_IMAGES) == held_out]
        images = []
        for name in names:
            images.extend(_as_rgb(getattr(skdata, name)()))
        return tuple(images)
    images = load_images(image_dir)
    if len(images) < 2:  # one image: train and evaluate on different halves of it
        img = images[0]
        half = img.shape[1] // 2
        return (img[:, half:] if held_out else img[:, :half],)
    return tuple(img for i, img in enumerate(images) if (i % 4 == 0) == held_out)


def _channels(rgb: np.ndarray, channels: int) -> np.ndarray:
    return luminance(rgb)[..., None] if channels == 1 else rgb[..., :channels]


def rescaled(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`resize(rgb, shape, order=3, anti_aliasing=True)` channel by channel. The 3-D resize zooms the channel
    axis by 1 with a cubic spline too: about 5x the CPU (the scale-augmented recipe's photos at 4 scales: 34 CPU-s,
    nearly all that zoom) for values within 3e-4 of these (its spline's edge handling on a 3-sample axis; no
    channel leaks into another either way). Only the scale-augmented recipe (no shipped weights) uses it."""
    from skimage.transform import resize

    return np.stack([resize(rgb[..., c], shape, order=3, anti_aliasing=True) for c in range(rgb.shape[-1])], axis=-1)


def _rescaled_side(rgb: np.ndarray, rescale: float) -> tuple[int, int]:
    """An image's (height, width) after `rescale` (1.0: as it is)."""
    h, w = int(rgb.shape[0]), int(rgb.shape[1])
    return (max(1, int(round(h * rescale))), max(1, int(round(w * rescale)))) if rescale != 1.0 else (h, w)


def _sides(image_dir: str | None, held_out: bool, rescale: float) -> list[tuple[int, int]]:
    """Each image's (height, width) as `_degraded` takes it, after `rescale`."""
    return [_rescaled_side(rgb, rescale) for rgb in _sr_images(image_dir, held_out)]


def degraded(image_dir: str | None, held_out: bool, scale: int, channels: int, min_side: int,
             rescale: float = 1.0) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
    """`_degraded`, with `min_side` dropped from the cache key when no image is smaller than it (it only picks
    which images are scaled up): crops of 24 and 48 px from one split share one set of cubic resizes (3.7 CPU-s
    each for the bundled training photos; the converter tests built both in one process)."""
    if all(min(h, w) >= min_side for h, w in _sides(image_dir, held_out, rescale)):
        min_side = 0
    return _degraded(image_dir, held_out, scale, channels, min_side, rescale)


@lru_cache(maxsize=8)
def _degraded(image_dir: str | None, held_out: bool, scale: int, channels: int, min_side: int,
              rescale: float = 1.0) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
    """(HR, LR, bicubic) triples per image: LR by bicubic downscaling, bicubic = LR upscaled back; `rescale`
    < 1 first downscales the image itself (anti-aliased), which then stands as the HR image."""
    from skimage.transform import resize

    out = []
    for rgb in _sr_images(image_dir, held_out):
        h, w = _rescaled_side(rgb, rescale)
        if rescale != 1.0:
            rgb = np.clip(rescaled(rgb, (h, w)), 0, 1)
        if min(h, w) < min_side:  # small images are scaled up so a crop fits
            f = min_side / min(h, w)
            rgb = resize(rgb, (int(np.ceil(h * f)), int(np.ceil(w * f))), order=3, anti_aliasing=False)
            h, w = rgb.shape[:2]
        h, w = h - h % scale, w - w % scale
        hr = np.clip(_channels(rgb[:h, :w], channels), 0, 1).astype(np.float32)
        lr = resize(hr, (h // scale, w // scale), order=3, anti_aliasing=True).astype(np.float32)
        bic = np.clip(resize(lr, (h, w), order=3), 0, 1).astype(np.float32)
        out.append((hr, lr, bic))
    return tuple(out)


def sr_pairs(info: TaskInfo, out_size: int, count: int, seed: int = 0, image_dir: str | None = None,
             held_out: bool = False, scales: Sequence[float] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(model input, HR target, bicubic baseline) crops with an HR side of `out_size`.

    The input is the LR crop (FSRCNN) or the bicubic-upscaled crop (SRCNN-style models). `scales`: the images
    downscaled by each factor join the originals as further HR images (the FSRCNN paper's scale augmentation).
    """
    s = info.scale
    folder = None if image_dir is None else str(image_dir)
    triples = degraded(folder, held_out, s, info.channels, out_size)
    for f in scales:
        triples = triples + degraded(folder, held_out, s, info.channels, out_size, float(f))
    rng = np.random.default_rng(seed)
    lr_size = out_size // s
    x = np.empty((count, *((out_size, out_size) if info.upsampled_input else (lr_size, lr_size)), info.channels),
                 np.float32)
    hr = np.empty((count, out_size, out_size, info.channels), np.float32)
    bic = np.empty_like(hr)
    for i in range(count):
        t_hr, t_lr, t_bic = triples[i % len(triples)] if held_out else triples[rng.integers(len(triples))]
        y0 = rng.integers(0, (t_hr.shape[0] - out_size) // s + 1) * s
        x0 = rng.integers(0, (t_hr.shape[1] - out_size) // s + 1) * s
        hr[i] = t_hr[y0:y0 + out_size, x0:x0 + out_size]
        bic[i] = t_bic[y0:y0 + out_size, x0:x0 + out_size]
        x[i] = bic[i] if info.upsampled_input else t_lr[y0 // s:y0 // s + lr_size, x0 // s:x0 // s + lr_size]
    return x, hr, bic


# ---------------------------------------------------------------- classification


def _shape_mask(kind: int, yy: np.ndarray, xx: np.ndarray, r: float) -> np.ndarray:
    ay, ax = np.abs(yy), np.abs(xx)
    name = SHAPE_CLASSES[kind]
    if name == "disk":
        return yy**2 + xx**2 <= r * r
    if name == "square":
        return (ay <= r * 0.85) & (ax <= r * 0.85)
    if name == "triangle":
        return (yy <= r * 0.8) & (yy >= -r) & (ax <= (yy + r) * 0.55)
    if name == "ring":
        d2 = yy**2 + xx**2
        return (d2 <= r * r) & (d2 >= (r * 0.55) ** 2)
    if name == "plus":
        return ((ay <= r * 0.3) & (ax <= r)) | ((ax <= r * 0.3) & (ay <= r))
    return ay + ax <= r  # diamond


SHAPE_RADIUS = (8.0, 13.0)  # pixels, whatever the canvas size
SHAPE_AREA = 1600  # one shape per this many pixels


def shapes(count: int, size: int, seed: int = 0, classes: int = len(SHAPE_CLASSES),
           channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Images of scattered shapes (8-13 px radius, random colours, noisy background) and their class.

    Every shape in an image has the same type; the number of shapes grows with the area, so the
    statistics of a 64x64 image and a 224x224 one match.
    """
    classes = min(classes, len(SHAPE_CLASSES))
    rng = np.random.default_rng(seed)
    x = np.empty((count, size, size, 3), np.float32)
    y = rng.integers(0, classes, count)
    for i in range(count):
        bg = rng.uniform(0.0, 1.0, 3)
        img = np.broadcast_to(bg, (size, size, 3)) + rng.normal(0, 0.04, (size, size, 3))
        n = max(1, int(round(size * size / SHAPE_AREA * rng.uniform(0.7, 1.3))))
        for _ in range(n):
            r = rng.uniform(*SHAPE_RADIUS)
            cy, cx = rng.uniform(0, size, 2)
            y0, y1 = int(max(0, cy - r - 1)), int(min(size, cy + r + 2))
            x0, x1 = int(max(0, cx - r - 1)), int(min(size, cx + r + 2))
            yy, xx = np.mgrid[y0:y1, x0:x1]
            mask = _shape_mask(int(y[i]), yy - cy, xx - cx, r)
            colour = (bg + rng.uniform(0.35, 0.65, 3) * rng.choice([-1, 1], 3)) % 1.0
            img[y0:y1, x0:x1][mask] = colour
        x[i] = np.clip(img, 0, 1)
    if channels == 1:
        x = luminance(x)[..., None].astype(np.float32)
    return x, y.astype(np.int64)


def class_folders(image_dir: str | Path) -> list[Path]:
    """Sub-folders holding images: a user's labelled classification data, in name order."""
    root = Path(image_dir)
    return [d for d in sorted(root.iterdir()) if d.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES
                                                                   for p in d.iterdir())]


@lru_cache(maxsize=4)
def _folder_dataset(image_dir: str, size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    from skimage import io
    from skimage.transform import resize

    xs, ys = [], []
    for label, folder in enumerate(class_folders(image_dir)):
        for p in sorted(folder.iterdir()):
            if p.suffix.lower() in IMAGE_SUFFIXES:
                rgb = _as_rgb(io.imread(p))[0]
                xs.append(_channels(resize(rgb, (size, size), anti_aliasing=True), channels))
                ys.append(label)
    return np.asarray(xs, np.float32), np.asarray(ys, np.int64)


def classification_data(info: TaskInfo, size: int, count: int, seed: int = 0,
                        image_dir: str | None = None, held_out: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Labelled images: a user's class folders (every 5th image held out) or patches of scikit-image's
    photos (converters.texture_patches; held out: other quadrants of the photos)."""
    if image_dir is not None and class_folders(image_dir):
        x, y = _folder_dataset(str(image_dir), size, info.channels)
        keep = (np.arange(len(y)) % 5 == 0) == held_out
        x, y = x[keep], y[keep]
        if not len(y):
            raise ValueError(f"{image_dir}: too few images to hold some out for evaluation")
        idx = np.random.default_rng(seed).integers(0, len(y), count) if not held_out else np.arange(len(y))
        return x[idx], y[idx]
    from converters.texture_patches import CLASSES, texture_patches

    return texture_patches(count, size, seed, held_out, max(1, min(info.classes or len(CLASSES), len(CLASSES))),
                           info.channels)


def calibration_inputs(info: TaskInfo, input_shape, count: int, seed: int = 0,
                       image_dir: str | None = None) -> np.ndarray | None:
    """Representative inputs drawn from the task's own data (None: use generic image patches)."""
    _, h, w, _ = input_shape
    if info.kind == "classification" and h == w:
        return classification_data(info, int(h), count, seed + 777, image_dir)[0]
    if info.kind == "super_resolution" and h == w:
        out = int(h) if info.upsampled_input else int(h) * info.scale
        return sr_pairs(info, out, count, seed + 777, image_dir)[0]
    return None
