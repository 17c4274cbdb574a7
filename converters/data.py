"""Data made offline: patches of the images scikit-image ships, shaped for a model's input.

Representative data for full-integer quantization and evaluation data both come from here, so
nothing is downloaded at run time. A user can point `image_dir` at a folder of their own images.
"""
from __future__ import annotations

from pathlib import Path
from collections.abc import Iterator

import numpy as np

# Natural images shipped inside scikit-image (no network needed).
SKIMAGE_IMAGES = (
    "astronaut", "camera", "cat", "chelsea", "coffee", "coins", "horse", "hubble_deep_field",
    "immunohistochemistry", "moon", "page", "rocket", "text", "grass", "gravel", "brick",
    "colorwheel", "retina", "motorcycle_left", "logo", "clock",
)


def load_images(image_dir: str | Path | None = None, limit: int | None = None) -> list[np.ndarray]:
    """RGB float images in [0, 1] from a user folder or from scikit-image's bundled samples."""
    from skimage import io, data as skdata
    from skimage.color import gray2rgb, rgba2rgb
    from skimage.util import img_as_float32

    images: list[np.ndarray] = []
    if image_dir is not None:
        paths = sorted(p for p in Path(image_dir).iterdir()
                       if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
        if not paths:
            raise FileNotFoundError(f"{image_dir}: no .png/.jpg/.bmp/.tif images")
        raw = (io.imread(p) for p in paths)
    else:
        raw = (getattr(skdata, name)() for name in SKIMAGE_IMAGES if hasattr(skdata, name))
    for img in raw:
        if isinstance(img, tuple):  # stereo pairs and the like
            img = img[0]
        img = np.asarray(img)
        if img.ndim == 2:
            img = gray2rgb(img)
        elif img.shape[-1] == 4:
            img = rgba2rgb(img)
        images.append(img_as_float32(img))
        if limit and len(images) >= limit:
            break
    return images


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Y of YCbCr in [0, 1], the channel SRCNN and FSRCNN work on."""
    return (rgb[..., 0] * 65.481 + rgb[..., 1] * 128.553 + rgb[..., 2] * 24.966 + 16.0) / 255.0


def random_patches(images: list[np.ndarray], size: int, count: int, seed: int = 0) -> np.ndarray:
    """`count` random size x size x 3 crops (images smaller than `size` are resized up)."""
    from skimage.transform import resize

    rng = np.random.default_rng(seed)
    out = np.empty((count, size, size, 3), np.float32)
    for i in range(count):
        img = images[rng.integers(len(images))]
        h, w = img.shape[:2]
        if h < size or w < size:
            scale = size / min(h, w)
            img = resize(img, (int(np.ceil(h * scale)), int(np.ceil(w * scale))), anti_aliasing=True)
            h, w = img.shape[:2]
        y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        out[i] = img[y : y + size, x : x + size, :3]
    return out


def representative_batches(input_shape: tuple[int, ...], count: int = 32, seed: int = 0,
                           image_dir: str | Path | None = None) -> Iterator[list[np.ndarray]]:
    """Calibration samples for full-integer quantization, matched to the input's channels."""
    _, h, w, c = input_shape
    patches = random_patches(load_images(image_dir), max(h, w), count, seed)
    for p in patches:
        p = p[:h, :w]
        x = luminance(p)[..., None] if c == 1 else p[..., :c]
        yield [x[None].astype(np.float32)]


def as_rgb(img: np.ndarray | tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """One scikit-image picture (a frame tuple, grey or RGBA) as a float32 RGB array, in a list."""
    from skimage.color import gray2rgb, rgba2rgb
    from skimage.util import img_as_float32

    img = np.asarray(img[0] if isinstance(img, tuple) else img)
    if img.ndim == 2:
        img = gray2rgb(img)
    elif img.shape[-1] == 4:
        img = rgba2rgb(img)
    return [img_as_float32(img)]
