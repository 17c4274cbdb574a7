"""Box labels a user brings for `--task detect`: YOLO text files beside the images.

The YOLO layout (Ultralytics, Roboflow and CVAT exports) is the commonest way detection data sits in a
folder: `img.jpg` has `img.txt`, either beside it or in a sibling `labels/` folder when the images are in
`images/`; each line is `class cx cy w h`, class a 0-based integer, the box normalized to [0, 1] of the
image's width and height; an image with no text file (or an empty one) shows no object. Boxes come out as
[ymin, xmin, ymax, xmax] normalized, the layout the detection metric (converters.detection_data) uses.
Pure numpy, no TensorFlow: the plan checks the labels before anything is converted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from errors import clean

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
LAYOUT = ("one YOLO .txt per image, same name, beside it or in ../labels/ "
          "(lines 'class cx cy w h', box normalized to 0-1)")
FIELDS = ("class", "cx", "cy", "w", "h")
MAX_LINE = 10_000  # characters: a label line is short; a huge one is not a label file


class LabelError(ValueError):
    """Bad box labels: the message is one line naming the file, its line and field."""


@dataclass(frozen=True)
class LabelledImages:
    """The user's detection eval set: image files and, per image, its boxes and 0-based classes."""

    images: tuple[Path, ...]
    boxes: tuple[np.ndarray, ...]  # [n, 4] ymin, xmin, ymax, xmax in [0, 1]
    classes: tuple[np.ndarray, ...]  # [n] int

    @property
    def objects(self) -> int:
        return int(sum(len(c) for c in self.classes))


def label_file(image: Path) -> Path | None:
    """The YOLO text file of `image`: beside it, or in ../labels/ when the image sits in an images/ folder."""
    beside = image.with_suffix(".txt")
    if beside.is_file():
        return beside
    if image.parent.name == "images":
        sibling = image.parent.parent / "labels" / f"{image.stem}.txt"
        if sibling.is_file():
            return sibling
    return None


def read_yolo(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One YOLO label file as (boxes [n, 4] ymin, xmin, ymax, xmax; classes [n]); LabelError names the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise LabelError(f"{clean(path)}: not a text label file (not UTF-8)") from None
    except OSError as exc:
        raise LabelError(f"{clean(path)}: cannot read ({clean(exc.strerror or exc, 80)})") from None
    boxes, classes = [], []
    for n, line in enumerate(text.splitlines(), 1):
        where = f"{clean(path)} line {n}"
        if len(line) > MAX_LINE:
            raise LabelError(f"{where}: {len(line)} characters; expected 'class cx cy w h'")
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            extra = " (polygons and keypoints are not boxes)" if len(parts) > 5 else ""
            raise LabelError(f"{where}: {len(parts)} fields; expected 5: class cx cy w h{extra}")
        try:
            cls = int(parts[0])
        except ValueError:
            raise LabelError(f"{where}: field class {clean(parts[0], 40)} is not a whole number") from None
        if cls < 0:
            raise LabelError(f"{where}: field class is {cls}; classes count from 0")
        vals = []
        for name, raw in zip(FIELDS[1:], parts[1:]):
            try:
                v = float(raw)
            except ValueError:
                raise LabelError(f"{where}: field {name} {clean(raw, 40)} is not a number") from None
            if not math.isfinite(v) or not 0.0 <= v <= 1.0:
                hint = " (pixels? YOLO boxes are fractions of the image size)" if math.isfinite(v) and v > 1 else ""
                raise LabelError(f"{where}: field {name} is {clean(raw, 40)}; expected 0 to 1{hint}")
            vals.append(v)
        cx, cy, w, h = vals
        if w <= 0 or h <= 0:
            raise LabelError(f"{where}: field {'w' if w <= 0 else 'h'} is 0; a box needs a width and a height")
        boxes.append([max(0.0, cy - h / 2), max(0.0, cx - w / 2), min(1.0, cy + h / 2), min(1.0, cx + w / 2)])
        classes.append(cls)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int64)


def read_labelled(image_dir: str | Path) -> LabelledImages:
    """Every image of the folder with its labels; LabelError when the folder holds no label at all or one is bad."""
    root = Path(image_dir)
    images = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise LabelError(f"{clean(root)}: no images (.png, .jpg, .bmp, .tif) for --task detect")
    files = [label_file(p) for p in images]
    if not any(files):
        raise LabelError(f"{clean(root)}: no box labels for --task detect; expected {LAYOUT}")
    boxes, classes = [], []
    for f in files:
        b, c = read_yolo(f) if f is not None else (np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
        boxes.append(b)
        classes.append(c)
    if not any(len(c) for c in classes):
        raise LabelError(f"{clean(root)}: the label files hold no box; mAP needs at least one object")
    return LabelledImages(tuple(images), tuple(boxes), tuple(classes))
