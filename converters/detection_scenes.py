"""Detection data that can tell variants apart: 12 classes of generated objects, many of them small, on
crops of scikit-image's photographs with line clutter drawn over them (generated: no package ships
labelled boxes).

The 3-class shapes of detection_data (large, plain backgrounds) saturate: the twin scores 0.96 mAP@0.5
on them and a variant's loss hides near the ceiling. Here every class is a silhouette in a random
colour (the outline is the only cue), object sides run from 3.5% to 28% of the image (21-168 px at
600 px, 14-112 px at 400 px, so below the stride-16 grid for the smallest), 3-8 of them per image, and
the background is a photograph with 4-10 thin strokes across it. Training and held-out images use
different photographs (HELD_OUT_PHOTOS) and different seeds.

A scene is drawn in normalized coordinates from its own generator (seed, index), then rendered at any
side: the same scene at 600 and at 400 px is the same picture at two resolutions (the ladder's "smaller
input" rung), and scene i does not depend on how many are asked for (streamed, never all in memory).
Boxes are tight around each object's rendered mask, [ymin, xmin, ymax, xmax] in [0, 1].
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache

import numpy as np

from converters.detection_data import iou_matrix

CLUTTER_CLASSES = ("disk", "square", "triangle", "inverted triangle", "diamond", "plus", "cross", "ring",
                   "frame", "star", "hexagon", "half disc")
# Backgrounds of the held-out images, never seen in training (the rest of converters.data.SKIMAGE_IMAGES).
HELD_OUT_PHOTOS = ("astronaut", "coffee", "rocket", "brick", "immunohistochemistry")
EVAL_SEED = 12345  # held-out scenes (training draws from other seeds)
SIDE_FRACTION = (0.035, 0.28)  # object side as a fraction of the image side (log-uniform)
OBJECTS = (3, 8)
STROKES = (4, 10)


def _mask(cls: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The class's silhouette in box coordinates u (left -1 .. right 1), v (top -1 .. bottom 1)."""
    r2 = u * u + v * v
    au, av = np.abs(u), np.abs(v)
    if cls == 0:
        return r2 <= 1.0
    if cls == 1:
        return np.ones_like(u, bool)
    if cls == 2:  # apex at the top
        return au <= (v + 1.0) / 2.0
    if cls == 3:  # apex at the bottom
        return au <= (1.0 - v) / 2.0
    if cls == 4:
        return au + av <= 1.0
    if cls == 5:
        return (au <= 0.3) | (av <= 0.3)
    if cls == 6:
        return (np.abs(u - v) <= 0.42) | (np.abs(u + v) <= 0.42)
    if cls == 7:
        return (r2 <= 1.0) & (r2 >= 0.36)
    if cls == 8:
        return np.maximum(au, av) >= 0.55
    if cls == 9:  # five points, one up
        k = np.cos(5.0 * (np.arctan2(v, u) + np.pi / 2))
        return np.sqrt(r2) <= 0.42 + 0.58 * ((k + 1.0) / 2.0) ** 2
    if cls == 10:
        return (av <= 0.866) & (au * 0.866 + av * 0.5 <= 0.866)
    return (r2 <= 1.0) & (v >= 0.0)  # half disc, flat side up


@lru_cache(maxsize=2)
def _photos(held_out: bool) -> tuple[np.ndarray, ...]:
    """RGB photographs in [0, 1] from scikit-image (shipped with the package, nothing downloaded)."""
    from skimage import data as skdata
    from skimage.color import gray2rgb, rgba2rgb
    from skimage.util import img_as_float32

    from converters.data import SKIMAGE_IMAGES

    out = []
    for name in SKIMAGE_IMAGES:
        if (name in HELD_OUT_PHOTOS) != held_out or not hasattr(skdata, name):
            continue
        img = getattr(skdata, name)()
        if isinstance(img, tuple):
            img = img[0]
        img = np.asarray(img)
        img = gray2rgb(img) if img.ndim == 2 else (rgba2rgb(img) if img.shape[-1] == 4 else img)
        out.append(img_as_float32(img)[..., :3])
    return tuple(out)


def _plan(rng: np.random.Generator, held_out: bool) -> dict:
    """One scene in normalized coordinates: background crop, strokes, objects (class, box, colour)."""
    photos = _photos(held_out)
    photo = int(rng.integers(len(photos)))
    side = float(rng.uniform(0.4, 1.0))
    crop = (float(rng.uniform(0, 1 - side)), float(rng.uniform(0, 1 - side)), side)
    strokes = []
    for _ in range(int(rng.integers(STROKES[0], STROKES[1] + 1))):
        p = rng.uniform(0, 1, 2)
        angle, length = rng.uniform(0, np.pi), rng.uniform(0.05, 0.4)
        q = p + length * np.array([np.sin(angle), np.cos(angle)])
        strokes.append((p, q, float(rng.uniform(0.003, 0.01)), rng.uniform(0, 1, 3)))
    objects: list[tuple[int, np.ndarray, np.ndarray]] = []
    lo, hi = np.log(SIDE_FRACTION[0]), np.log(SIDE_FRACTION[1])
    for _ in range(int(rng.integers(OBJECTS[0], OBJECTS[1] + 1))):
        cls = int(rng.integers(len(CLUTTER_CLASSES)))
        colour = rng.uniform(0, 1, 3)
        for _attempt in range(20):
            s, aspect = np.exp(rng.uniform(lo, hi)), np.exp(rng.uniform(-0.35, 0.35))
            h, w = min(s * np.sqrt(aspect), 0.95), min(s / np.sqrt(aspect), 0.95)
            y0, x0 = rng.uniform(0, 1 - h), rng.uniform(0, 1 - w)
            box = np.array([y0, x0, y0 + h, x0 + w], np.float32)
            if not objects or iou_matrix(box[None], np.stack([o[1] for o in objects])).max() <= 0.1:
                objects.append((cls, box, colour))
                break
    return {"photo": photo, "crop": crop, "flip": bool(rng.integers(2)), "contrast": float(rng.uniform(0.6, 1.0)),
            "strokes": strokes, "objects": objects, "noise_seed": int(rng.integers(2**31))}


def _background(plan: dict, size: int, held_out: bool) -> np.ndarray:
    """The photo crop at size x size, sampled at the pixel centres (nearest: 5 ms where skimage's
    resize took 100 ms a scene; the photo is clutter, its aliasing does not matter)."""
    img = _photos(held_out)[plan["photo"]]
    hh, ww = img.shape[:2]
    y, x, side = plan["crop"]
    m = min(hh, ww)
    c = max(2, int(side * m))
    room = max(1e-9, 1.0 - side)  # the crop's offsets were drawn in [0, 1 - side)
    y0, x0 = int(min(y / room, 1.0) * (hh - c)), int(min(x / room, 1.0) * (ww - c))
    idx = ((np.arange(size) + 0.5) * (c / size)).astype(int)
    bg = img[y0 + idx][:, x0 + idx]
    if plan["flip"]:
        bg = bg[:, ::-1]
    mean = bg.mean()
    return (mean + plan["contrast"] * (bg - mean)).astype(np.float32)


def _stroke(img: np.ndarray, p: np.ndarray, q: np.ndarray, width: float, colour: np.ndarray) -> None:
    size = img.shape[0]
    lo = np.clip(np.floor((np.minimum(p, q) - width) * size), 0, size).astype(int)
    hi = np.clip(np.ceil((np.maximum(p, q) + width) * size), 0, size).astype(int)
    if (hi <= lo).any():
        return
    yy, xx = np.mgrid[lo[0]:hi[0], lo[1]:hi[1]].astype(np.float32)
    pts = np.stack([(yy + 0.5) / size, (xx + 0.5) / size], -1)
    d = q - p
    t = np.clip(((pts - p) @ d) / max(float(d @ d), 1e-12), 0, 1)
    dist = np.linalg.norm(pts - (p + t[..., None] * d), axis=-1)
    img[lo[0]:hi[0], lo[1]:hi[1]][dist <= width] = colour


def render(plan: dict, size: int, held_out: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image [size, size, 3] in [0, 1], boxes [N, 4] tight around each mask, labels [N])."""
    img = _background(plan, size, held_out)
    for p, q, width, colour in plan["strokes"]:
        _stroke(img, p, q, width, colour)
    boxes, labels = [], []
    for cls, box, colour in plan["objects"]:
        r0, c0 = int(np.floor(box[0] * size)), int(np.floor(box[1] * size))
        r1, c1 = min(size, int(np.ceil(box[2] * size))), min(size, int(np.ceil(box[3] * size)))
        yy, xx = np.mgrid[r0:r1, c0:c1].astype(np.float32) + 0.5
        cy, cx = (box[0] + box[2]) / 2 * size, (box[1] + box[3]) / 2 * size
        hh, hw = (box[2] - box[0]) / 2 * size, (box[3] - box[1]) / 2 * size
        u, v = (xx - cx) / hw, (yy - cy) / hh
        mask = _mask(cls, u, v) & (np.abs(u) <= 1) & (np.abs(v) <= 1)
        if mask.sum() < 4:
            continue
        region = img[r0:r1, c0:c1]
        under = region[mask].mean(0)
        colour = np.asarray(colour, np.float32)
        if np.abs(colour - under).mean() < 0.3:  # stands out from what it covers: the far side of the range
            colour = np.where(under > 0.5, colour * 0.3, 0.7 + 0.3 * colour).astype(np.float32)
        region[mask] = colour
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        boxes.append([(r0 + rows[0]) / size, (c0 + cols[0]) / size, (r0 + rows[-1] + 1) / size,
                      (c0 + cols[-1] + 1) / size])
        labels.append(cls)
    img += np.float32(0.03) * np.random.default_rng(plan["noise_seed"]).standard_normal(img.shape, np.float32)
    return (np.clip(img, 0.0, 1.0), np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int32))


def scene(index: int, size: int, seed: int = EVAL_SEED, held_out: bool = True
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scene `index` of the stream `seed`, rendered at size x size (its own generator: [seed, index])."""
    return render(_plan(np.random.default_rng([seed, index]), held_out), size, held_out)


def scenes(n: int, size: int, seed: int = EVAL_SEED, held_out: bool = True
           ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The first `n` scenes of a stream, one at a time (500 at 600 px would be 2 GB as one array)."""
    for i in range(n):
        yield scene(i, size, seed, held_out)


def generate_scenes(n: int, size: int, seed: int, held_out: bool = False
                    ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """`n` scenes as one batch, the layout detection_data.generate_shapes returns (training batches)."""
    got = list(scenes(n, size, seed, held_out))
    return np.stack([g[0] for g in got]), [g[1] for g in got], [g[2] for g in got]


# ------------------------------------------------------------------------ which data a model is scored on

DataStream = Callable[[int, int, int, bool], Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]]


def _shape_stream(n: int, size: int, seed: int, held_out: bool) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    from converters.detection_data import generate_shapes

    del held_out  # the shapes' held-out images differ by seed only
    images, boxes, labels = generate_shapes(n, size, seed)
    yield from zip(images, boxes, labels)


def data_for(classes: int) -> tuple[str, DataStream]:
    """The data a detector with `classes` object classes trains and is scored on, and its name for tables:
    the 12-class cluttered scenes for the proxy, the 3-class shapes for the small twin (and any other)."""
    if classes == len(CLUTTER_CLASSES):
        return (f"generated: {len(CLUTTER_CLASSES)} classes of objects (many small) on scikit-image photos "
                "with clutter", scenes)
    from converters.detection_data import CLASSES

    return f"generated: {len(CLASSES)} classes of shapes on plain backgrounds", _shape_stream


def batch_for(classes: int, n: int, size: int, seed: int, held_out: bool = False
              ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """`n` training (or calibration) images of the detector's data as one batch."""
    got = list(data_for(classes)[1](n, size, seed, held_out))
    return np.stack([g[0] for g in got]), [g[1] for g in got], [g[2] for g in got]
