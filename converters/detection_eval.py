"""mAP@0.5 of a user's detector .tflite on their own labelled images (`--task detect --images DIR`).

A detector's outputs are read where their layout is known; anything else is "not measured" with the reason:
- named outputs `boxes` [1, N, 4], `scores` [1, N], `classes` [1, N] (optionally `num_detections` [1]), in
  the serving signature; `detection_` prefixes allowed (the project's Faster R-CNN, a tf_keras model whose
  output layers carry those names, the TF Object Detection API's signatures);
- the TF Object Detection API's TFLite SSD export: the four outputs of TFLite_Detection_PostProcess in their
  fixed order (boxes, classes, scores, count).
Boxes are [ymin, xmin, ymax, xmax] normalized to the input, classes 0-based (compared as the model gives
them with the labels' class ids), images resized to the input and fed in [0, 1]. Raw heads that need a
model-specific decoding and NMS (YOLO's [1, 4 + C, N], SSD before post-processing) are not decoded.
Scored with the project's VOC mAP (converters.detection_data); no TensorFlow import.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from converters.box_labels import read_labelled
from converters.detection_data import matched_detections, mean_average_precision
from converters.tensor_io import dequantize_output, quantize_input

if TYPE_CHECKING:
    from rpi.runner import TensorDetail

SCORE_MIN = 0.05  # detections below this score are dropped before matching (as for the zoo's detector)
POSTPROCESS = "TFLite_Detection_PostProcess"
SUPPORTED = ("outputs named boxes [1,N,4], scores [1,N], classes [1,N] (optional num_detections), or the "
             "TF Object Detection API's TFLite_Detection_PostProcess outputs")


def _role(name: str) -> str | None:
    n = name.lower().split(":")[0].rsplit("/", 1)[-1]
    n = n[len("detection_"):] if n.startswith("detection_") else n
    return {"boxes": "boxes", "scores": "scores", "classes": "classes", "num_detections": "count",
            "num": "count"}.get(n)


def _layout(interp: Any) -> tuple[Any, dict[str, Any]]:
    """(how to run the model, {role: output detail}) or ValueError saying why the outputs are not readable."""
    for key in interp.get_signature_list():
        runner = interp.get_signature_runner(key)
        outs = runner.get_output_details()
        roles = {r: (name, d) for name, d in outs.items() if (r := _role(name))}
        if {"boxes", "scores", "classes"} <= set(roles):
            _check_shapes({r: d for r, (_, d) in roles.items()})
            return ("signature", runner), {r: name for r, (name, _) in roles.items()}
    details = interp.get_output_details()
    post = [d for d in details if d["name"].split(":")[0] == POSTPROCESS]
    if len(post) == 4:
        order = sorted(post, key=lambda d: int(d["name"].split(":")[1]) if ":" in d["name"] else 0)
        outputs = dict(zip(("boxes", "classes", "scores", "count"), order))
        _check_shapes(outputs)
        return ("plain", interp), {r: d["index"] for r, d in outputs.items()}
    shapes = ", ".join(f"{d['name'][:40]} {[int(v) for v in d['shape']]}" for d in details[:4])
    raise ValueError(f"outputs ({shapes}{', ...' if len(details) > 4 else ''}) are not a supported detection "
                     f"layout: {SUPPORTED}")


def _check_shapes(roles: Mapping[str, TensorDetail]) -> None:
    b, s, c = ([int(v) for v in roles[r]["shape"]] for r in ("boxes", "scores", "classes"))
    if len(b) != 3 or b[-1] != 4 or s != b[:2] or c != b[:2] or b[0] != 1:
        raise ValueError(f"detection outputs of unexpected shapes (boxes {b}, scores {s}, classes {c}; "
                         "expected [1, N, 4], [1, N], [1, N])")


def layout_problem(path: str | Path) -> str | None:
    """Why this .tflite's detections cannot be read (None: they can). Run in a child process (converters.isolate)."""
    from rpi.runner import interpreter_module

    mod, _, _ = interpreter_module()
    try:
        _layout(mod.Interpreter(model_path=str(path)))
    except ValueError as exc:
        return str(exc)
    return None


def _image(path: Path, h: int, w: int, channels: int) -> np.ndarray:
    from skimage import io
    from skimage.color import gray2rgb, rgb2gray, rgba2rgb
    from skimage.transform import resize
    from skimage.util import img_as_float32

    img = np.asarray(io.imread(path))
    if img.ndim == 2:
        img = gray2rgb(img)
    elif img.shape[-1] == 4:
        img = rgba2rgb(img)
    img = resize(img_as_float32(img), (h, w), anti_aliasing=True).astype(np.float32)
    return rgb2gray(img)[..., None].astype(np.float32) if channels == 1 else img[..., :channels]


def predict(path: str | Path, images: list[Path], threads: int = 2) -> list[tuple[np.ndarray, ...]]:
    """(boxes, scores, classes) per image, padding and low scores dropped, from the real LiteRT interpreter."""
    from rpi.runner import interpreter_module

    mod, _, _ = interpreter_module()
    interp = mod.Interpreter(model_path=str(path), num_threads=threads)
    (how, runner), roles = _layout(interp)
    if how == "signature":
        (in_name, inp), = runner.get_input_details().items()
        outs = runner.get_output_details()
    else:
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]
        outs = {d["index"]: d for d in interp.get_output_details()}
    _, h, w, c = (int(v) for v in inp["shape"])
    results = []
    for p in images:
        x = quantize_input(_image(p, h, w, c)[None], inp)
        if how == "signature":
            raw = runner(**{in_name: x})
        else:
            interp.set_tensor(inp["index"], x)
            interp.invoke()
            raw = {i: interp.get_tensor(i) for i in roles.values()}
        got = {r: dequantize_output(raw[k], outs[k]) for r, k in roles.items()}
        boxes, scores, classes = got["boxes"][0], got["scores"][0], np.round(got["classes"][0]).astype(int)
        if "count" in got:
            n = int(np.asarray(got["count"]).ravel()[0])
            boxes, scores, classes = boxes[:n], scores[:n], classes[:n]
        keep = scores > SCORE_MIN
        results.append((boxes[keep], scores[keep], classes[keep]))
    return results


class UserDetections(TypedDict):
    """A user's detector scored on their labelled images."""

    map50: float
    images: int
    objects: int  # ground-truth boxes
    eval_ms_per_image: float
    classes: int  # classes the labels use
    matched: list[tuple[np.ndarray, dict[int, int]]]  # per image, for a paired mAP bootstrap


def evaluate_user(path: str | Path, image_dir: str | Path) -> UserDetections:
    """mAP@0.5 on every labelled image of `image_dir` (YOLO or COCO labels, converters.box_labels)."""
    data = read_labelled(image_dir)
    t0 = time.monotonic()
    preds = predict(path, list(data.images))
    elapsed = time.monotonic() - t0
    boxes, scores, classes = ([p[i] for p in preds] for i in range(3))
    n = len(data.images)
    return {"map50": mean_average_precision(boxes, scores, classes, data.boxes, data.classes, 0.5),
            "images": n, "objects": data.objects, "eval_ms_per_image": 1000 * elapsed / n,
            "classes": len({int(c) for cl in data.classes for c in cl}),
            "matched": matched_detections(boxes, scores, classes, data.boxes, data.classes, 0.5)}
