"""Box labels a user brings for `--task detect`: YOLO text files beside the images, or a COCO instances JSON.

The YOLO layout (Ultralytics, Roboflow and CVAT exports) is the commonest way detection data sits in a
folder: `img.jpg` has `img.txt`, either beside it or in a sibling `labels/` folder when the images are in
`images/`; each line is `class cx cy w h`, class a 0-based integer, the box normalized to [0, 1] of the
image's width and height; an image with no text file (or an empty one) shows no object. Boxes come out as
[ymin, xmin, ymax, xmax] normalized, the layout the detection metric (converters.detection_data) uses.
The COCO layout (COCO itself, Roboflow, CVAT, Label Studio exports) is one instances JSON for the folder:
`images` (id, file_name, width, height), `annotations` (image_id, category_id, bbox [x, y, w, h] in pixels
from the top-left corner; iscrowd ones left out, as COCO's own evaluation does) and `categories` (id, name).
It is found in the image folder (one .json holding those keys) or as ../annotations/instances_FOLDER.json
(COCO's own layout). COCO's category ids are not class indices (1 to 90 with gaps for COCO): the model's
class index of a category is its place among the categories sorted by id, 0-based (COCO's 80 classes in
their usual order, as Ultralytics and TFLite's COCO models number them).
Pure numpy, no TensorFlow: the plan checks the labels before anything is converted.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np

from errors import clean

T = TypeVar("T")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
LAYOUT = ("one YOLO .txt per image, same name, beside it or in ../labels/ "
          "(lines 'class cx cy w h', box normalized to 0-1)")
FIELDS = ("class", "cx", "cy", "w", "h")
MAX_LINE = 10_000  # characters: a label line is short; a huge one is not a label file
MAX_JSON_BYTES = 1 << 30  # COCO train2017's instances file is 450 MB; a larger one is not read
COCO_KEYS = ("images", "annotations", "categories")


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
    """Every image of the folder with its labels (COCO JSON when the folder has one, else YOLO text files);
    LabelError when the folder holds no label at all or one is bad."""
    root = Path(image_dir)
    images = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise LabelError(f"{clean(root)}: no images (.png, .jpg, .bmp, .tif) for --task detect")
    coco = coco_file(root, images)
    if coco is not None:
        return read_coco(coco, root)
    files = [label_file(p) for p in images]
    if not any(files):
        raise LabelError(f"{clean(root)}: no box labels for --task detect; expected {LAYOUT}, "
                         "or a COCO instances .json in the folder")
    boxes, classes = [], []
    for f in files:
        b, c = read_yolo(f) if f is not None else (np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
        boxes.append(b)
        classes.append(c)
    if not any(len(c) for c in classes):
        raise LabelError(f"{clean(root)}: the label files hold no box; mAP needs at least one object")
    return LabelledImages(tuple(images), tuple(boxes), tuple(classes))


def coco_outside(root: Path) -> Path | None:
    """COCO's own layout, the labels outside the image folder: ../annotations/instances_FOLDER.json."""
    standard = root.parent / "annotations" / f"instances_{root.name}.json"
    return standard if standard.is_file() else None


def coco_file(root: Path, images: list[Path]) -> Path | None:
    """The folder's COCO instances JSON: ../annotations/instances_FOLDER.json; else the one .json in the
    folder whose top level names images or annotations (LabelError when two do); else, when no image has a
    YOLO file, the folder's only .json (so a broken one is named, not passed over)."""
    standard = coco_outside(root)
    if standard is not None:
        return standard
    candidates, found = sorted(p for p in root.glob("*.json") if p.is_file()), []
    for p in candidates:
        try:
            with p.open("rb") as f:
                head = f.read(1 << 20).decode("utf-8", "replace")
        except OSError:
            continue
        if '"annotations"' in head or '"images"' in head:
            found.append(p)
    if len(found) > 1:
        raise LabelError(f"{clean(root)}: {len(found)} COCO label files ({clean(found[0].name, 60)}, "
                         f"{clean(found[1].name, 60)}); keep one for --task detect")
    if found:
        return found[0]
    if len(candidates) == 1 and not any(label_file(p) for p in images):
        return candidates[0]
    return None


def _fail(path: Path, field: str, problem: str) -> LabelError:
    return LabelError(f"{clean(path)}: {field}: {problem}")


def _entries(path: Path, data: Mapping[str, object], key: str) -> list[object]:
    value = data.get(key)
    if not isinstance(value, list):
        what = "missing" if value is None else f"a {type(value).__name__}, not a list"
        raise _fail(path, key, f"{what} (COCO instances JSON has {', '.join(COCO_KEYS)})")
    return value


def _field(path: Path, where: str, entry: object, name: str, kind: type[T] | tuple[type[T], ...]) -> T:
    if not isinstance(entry, dict):
        raise _fail(path, where, "not an object")
    value = entry.get(name)
    if value is None:
        raise _fail(path, f"{where}.{name}", "missing")
    if not isinstance(value, kind) or isinstance(value, bool):
        wanted = "text" if kind is str else "a list" if kind is list else "a number"
        raise _fail(path, f"{where}.{name}", f"{clean(value, 40)} is not {wanted}")
    return value


def read_coco(path: Path, root: Path) -> LabelledImages:
    """A COCO instances JSON as the folder's labels: the images it lists (each must be in `root`), their
    non-crowd boxes normalized to corners, categories as 0-based indices in id order."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise LabelError(f"{clean(path)}: {path.stat().st_size / 1e9:.1f} GB; larger than a label file")
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise LabelError(f"{clean(path)}: not a text label file (not UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise LabelError(f"{clean(path)}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
    except OSError as exc:
        raise LabelError(f"{clean(path)}: cannot read ({clean(exc.strerror or exc, 80)})") from None
    if not isinstance(data, dict):
        raise _fail(path, "top level", f"a {type(data).__name__}; expected an object with {', '.join(COCO_KEYS)}")
    ids: set[int] = set()
    for i, c in enumerate(_entries(path, data, "categories")):
        cid = int(_field(path, f"categories[{i}]", c, "id", int))
        if cid in ids:
            raise _fail(path, f"categories[{i}].id", f"{cid} is given twice")
        ids.add(cid)
    index = {cid: n for n, cid in enumerate(sorted(ids))}  # the model's class index of each category id
    listed: dict[int, tuple[Path, float, float]] = {}
    for i, im in enumerate(_entries(path, data, "images")):
        where = f"images[{i}]"
        iid = int(_field(path, where, im, "id", int))
        name = str(_field(path, where, im, "file_name", str))
        w, h = (float(_field(path, where, im, k, (int, float))) for k in ("width", "height"))
        if not (w > 0 and h > 0 and math.isfinite(w * h)):
            raise _fail(path, f"{where}.width/height", f"{clean(w, 20)} x {clean(h, 20)}; expected sizes in pixels")
        image = root / Path(name).name
        if not image.is_file():
            raise _fail(path, f"{where}.file_name", f"{clean(name, 80)} is not in {clean(root)}")
        if iid in listed:
            raise _fail(path, f"{where}.id", f"{iid} is given twice")
        listed[iid] = (image, w, h)
    if not listed:
        raise _fail(path, "images", "empty; mAP needs labelled images")
    per_image: dict[int, tuple[list[list[float]], list[int]]] = {iid: ([], []) for iid in listed}
    far = 0.0  # the farthest box corner, in pixels: all within 1 pixel is a normalized file
    for i, a in enumerate(_entries(path, data, "annotations")):
        where = f"annotations[{i}]"
        if isinstance(a, dict) and a.get("iscrowd") in (1, True):
            continue
        iid = int(_field(path, where, a, "image_id", int))
        cid = int(_field(path, where, a, "category_id", int))
        if iid not in listed:
            raise _fail(path, f"{where}.image_id", f"{iid} is not an id in images")
        if cid not in index:
            raise _fail(path, f"{where}.category_id", f"{cid} is not an id in categories")
        bbox = _field(path, where, a, "bbox", list)
        if len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
            raise _fail(path, f"{where}.bbox", "expected 4 numbers [x, y, width, height] in pixels")
        x, y, bw, bh = (float(v) for v in bbox)
        _, w, h = listed[iid]
        if not all(math.isfinite(v) for v in (x, y, bw, bh)) or bw <= 0 or bh <= 0:
            raise _fail(path, f"{where}.bbox", f"[{x:g}, {y:g}, {bw:g}, {bh:g}]: a box needs a width and a height")
        if x < -1 or y < -1 or x + bw > w + 1 or y + bh > h + 1:  # a pixel of slack: exports round
            raise _fail(path, f"{where}.bbox", f"[{x:g}, {y:g}, {bw:g}, {bh:g}] lies outside the "
                        f"{w:g} x {h:g} image")
        far = max(far, x + bw, y + bh)
        per_image[iid][0].append([max(0.0, y / h), max(0.0, x / w), min(1.0, (y + bh) / h), min(1.0, (x + bw) / w)])
        per_image[iid][1].append(index[cid])
    if 0 < far <= 1.0 < max(max(w, h) for _, w, h in listed.values()):
        raise _fail(path, "annotations", "every bbox lies within 1 x 1 pixel of the corner: normalized? "
                    "COCO boxes are in pixels [x, y, width, height]")
    if not any(c for _, c in per_image.values()):
        raise _fail(path, "annotations", "no box (crowd boxes are left out); mAP needs at least one object")
    order = sorted(listed, key=lambda iid: listed[iid][0].name)
    return LabelledImages(tuple(listed[i][0] for i in order),
                          tuple(np.asarray(per_image[i][0], np.float32).reshape(-1, 4) for i in order),
                          tuple(np.asarray(per_image[i][1], np.int64) for i in order))
