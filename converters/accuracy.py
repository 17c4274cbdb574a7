"""Accuracy of a .tflite on held-out data, run through the real LiteRT interpreter on the host.

Every variant is scored twice: against the task's ground truth (PSNR/SSIM for super-resolution,
beside bicubic upscaling; top-1 for classification, beside always guessing the commonest class;
mAP@0.5 for detection) and against the fp32 model's own outputs, so a quantized variant shows
both how good it is and how far it drifted from the model it came from.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from converters.datasets import TaskInfo, classification_data, sr_pairs
from converters.texture_patches import DATA_NAME
from converters.tensor_io import dequantize_output, quantize_input
from converters.variant_metrics import MapScores, MatchedImage, MeanScores, VariantMetrics

__all__ = ["dequantize_output", "quantize_input"]  # kept importable from here for older callers

SR_EVAL_CROPS = 48  # HR crops from the held-out images (enough for a paired interval)
# Issue 23: 1000 patches gave a paired interval of about +-2.3 points on a top-1 change, wider than the 1-point
# goal it judges; 3000 (converters.texture_patches says how they are drawn) narrow it by sqrt(3).
CLS_EVAL_IMAGES = 3000
DET_EVAL_IMAGES = 500


def run_tflite(path: str | Path, inputs: np.ndarray, threads: int = 2) -> np.ndarray:
    """Outputs of the first output tensor for each input (batch 1 models), dequantized to float."""
    from rpi.runner import interpreter_module

    mod, _, _ = interpreter_module()
    interp = mod.Interpreter(model_path=str(path), num_threads=threads)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    want = tuple(int(d) for d in inp["shape"][1:])
    if tuple(inputs.shape[1:]) != want:
        raise ValueError(f"{Path(path).name}: input shape {want} does not match the data {inputs.shape[1:]}")
    results = []
    for x in inputs:
        interp.set_tensor(inp["index"], quantize_input(x[None], inp))
        interp.invoke()
        results.append(dequantize_output(interp.get_tensor(out["index"]), out)[0])
    return np.stack(results)


def psnr(a: np.ndarray, b: np.ndarray, shave: int = 0) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1], ignoring a `shave`-pixel border."""
    if shave:
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    mse = float(np.mean((np.clip(a, 0, 1).astype(np.float64) - np.clip(b, 0, 1)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def ssim(a: np.ndarray, b: np.ndarray, shave: int = 0) -> float:
    from skimage.metrics import structural_similarity

    if shave:
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    return float(structural_similarity(np.clip(a, 0, 1), np.clip(b, 0, 1), data_range=1.0, channel_axis=-1))


def _mean(values: list[float]) -> float:
    return round(float(np.mean(values)), 4)


# Kept between variants by the isolate worker: the eval sets of the model being scored (a model's variants are
# scored one after another), not every model's (3000 classification images of 224x224 are 1.8 GB).
@lru_cache(maxsize=4)
def _sr_data(info: TaskInfo, out_side: int, image_dir: str | None):
    return sr_pairs(info, out_side, SR_EVAL_CROPS, seed=0, image_dir=image_dir, held_out=True)


@lru_cache(maxsize=1)  # one side at a time: 1.8 GB at 224 px
def _cls_data(info: TaskInfo, side: int, image_dir: str | None):
    return classification_data(info, side, CLS_EVAL_IMAGES, seed=0, image_dir=image_dir, held_out=True)


@lru_cache(maxsize=8)
def _outputs(path: str, kind: str, info: TaskInfo, side: int, image_dir: str | None) -> np.ndarray:
    """A model's outputs on the eval set (cached: the fp32 reference is asked for by every variant)."""
    x = _sr_data(info, side, image_dir)[0] if kind == "sr" else _cls_data(info, side, image_dir)[0]
    return run_tflite(path, x)


def _io_sides(path: str | Path) -> tuple[int, int]:
    from rpi.runner import interpreter_module

    mod, _, _ = interpreter_module()
    interp = mod.Interpreter(model_path=str(path))
    return int(interp.get_input_details()[0]["shape"][1]), int(interp.get_output_details()[0]["shape"][1])


def super_resolution(path: Path, info: TaskInfo, image_dir: str | None, ref: Path | None) -> VariantMetrics:
    _, out_side = _io_sides(path)
    _, hr, bic = _sr_data(info, out_side, image_dir)
    out = _outputs(str(path), "sr", info, out_side, image_dir)
    s = info.scale
    per_crop = [round(psnr(o, h, s), 4) for o, h in zip(out, hr)]
    m: VariantMetrics = {
        "psnr_db": _mean(per_crop),
        "ssim": _mean([ssim(o, h, s) for o, h in zip(out, hr)]),
        "psnr_bicubic_db": _mean([psnr(b, h, s) for b, h in zip(bic, hr)]),
        "ssim_bicubic": _mean([ssim(b, h, s) for b, h in zip(bic, hr)]),
        "eval_crops": len(hr),
    }
    m["psnr_gain_bicubic_db"] = round(m["psnr_db"] - m["psnr_bicubic_db"], 4)
    data = f"{len(hr)} crops of held-out {'user' if image_dir else 'scikit-image'} photos"
    per: MeanScores = {"metric": "psnr_db", "kind": "mean", "data": data, "variant": per_crop,
                       "bicubic": [round(psnr(b, h, s), 4) for b, h in zip(bic, hr)]}
    m["per_example"] = per
    if ref is not None:
        ref_out = _outputs(str(ref), "sr", info, out_side, image_dir)
        ref_crop = [round(psnr(r, h, s), 4) for r, h in zip(ref_out, hr)]
        m["psnr_vs_fp32_db"] = _mean([min(psnr(o, r, s), 99.0) for o, r in zip(out, ref_out)])
        m["psnr_delta_fp32_db"] = round(m["psnr_db"] - _mean(ref_crop), 4)
        per["fp32"] = ref_crop
    m["accuracy"] = m["psnr_db"]
    return m


def classification(path: Path, info: TaskInfo, image_dir: str | None, ref: Path | None,
                   labelled: bool = True) -> VariantMetrics:
    """Top-1 (when the labels are the model's own) and agreement with the fp32 model."""
    side, _ = _io_sides(path)
    _, labels = _cls_data(info, side, image_dir)
    pred = _outputs(str(path), "cls", info, side, image_dir).argmax(-1)
    m: VariantMetrics = {"eval_images": len(labels)}
    if labelled:
        m["top1"] = round(float(np.mean(pred == labels)), 4)
        m["top1_chance"] = round(float(np.bincount(labels).max() / len(labels)), 4)  # the commonest class
        data = (f"{len(labels)} held-out images of the user's class folders" if image_dir else
                f"{len(labels)} held-out images: {DATA_NAME}, {len(np.unique(labels))} classes")
        per: MeanScores = {"metric": "top1", "kind": "mean", "data": data,
                           "variant": (pred == labels).astype(int).tolist()}
        m["per_example"] = per
    if ref is not None:
        ref_pred = _outputs(str(ref), "cls", info, side, image_dir).argmax(-1)
        m["top1_agreement_fp32"] = round(float(np.mean(pred == ref_pred)), 4)
        if labelled:
            m["top1_delta_fp32"] = round(m["top1"] - float(np.mean(ref_pred == labels)), 4)
            per["fp32"] = (ref_pred == labels).astype(int).tolist()
    m["accuracy"] = m.get("top1")
    return m


@lru_cache(maxsize=16)
def _detection_scores(path: str, classes: int = 0, boxes_dir: str | None = None) -> tuple[tuple[str, Any], ...]:
    """The zoo's detector on generated scenes (`classes` picks which); a user's (boxes_dir) on their images."""
    if boxes_dir is not None:
        from converters import detection_eval

        return tuple(sorted(detection_eval.evaluate_user(path, boxes_dir).items()))
    from converters import detection
    from converters.detection_data import CLASSES

    got = detection.evaluate_tflite(path, n=DET_EVAL_IMAGES, classes=classes or len(CLASSES))
    return tuple(sorted(got.items()))


def matched_json(matched: Sequence[tuple[np.ndarray, Mapping[int, int]]]) -> list[MatchedImage]:
    """`detection_data.matched_detections` as JSON: per image its detections [class, score, tp]
    and its ground-truth count per class (what a paired mAP bootstrap needs, no model run)."""
    return [{"dets": [[int(c), round(float(s), 4), int(t)] for c, s, t in rows],
             "gt": {str(k): v for k, v in g.items()}} for rows, g in matched]


def detection_map(path: Path, ref: Path | None, classes: int = 0, boxes_dir: str | None = None) -> VariantMetrics:
    """mAP@0.5 on the held-out data of a detector with `classes` classes (0: the small twin's shapes), or on a
    user's folder of images with YOLO or COCO box labels (`boxes_dir`)."""
    got = dict(_detection_scores(str(path), classes, boxes_dir))
    m: VariantMetrics = {}
    if "images" in got:
        m["images"] = got["images"]
    if "map50" in got:
        m["map50"] = got["map50"]
    if "objects" in got:
        m["objects"] = got["objects"]
    data = (f"{got['images']} of the user's labelled images, {got.get('objects', '?')} boxes, "
            f"{got.get('classes', '?')} classes" if boxes_dir else
            f"{got['images']} held-out images, {got.get('data', 'generated')}")
    per: MapScores = {"metric": "map50", "kind": "map", "data": data, "variant": matched_json(got["matched"])}
    m["per_example"] = per
    if ref is not None:
        ref_got = dict(_detection_scores(str(ref), classes, boxes_dir))
        m["map50_delta_fp32"] = round(float(got["map50"]) - float(ref_got["map50"]), 4)
        per["fp32"] = matched_json(ref_got["matched"])
    m["accuracy"] = round(float(got["map50"]), 4)
    return m


def evaluate(path: str | Path, info: TaskInfo, image_dir: str | Path | None = None,
             ref: str | Path | None = None, labelled: bool = True, boxes: bool = False) -> VariantMetrics:
    """Accuracy metrics of one variant; `ref` is the fp32 variant's .tflite (None for fp32 itself).

    `labelled=False` (a user's classifier without class folders): only agreement with fp32.
    `boxes`: a user's detector, scored on the YOLO box labels beside the images in `image_dir`.
    """
    path = Path(path)
    ref_path = Path(ref) if ref is not None else None
    folder = None if image_dir is None else str(image_dir)
    if info.kind == "super_resolution":
        return super_resolution(path, info, folder, ref_path)
    if info.kind == "classification":
        return classification(path, info, folder, ref_path, labelled)
    if info.kind == "detection":
        return detection_map(path, ref_path, info.classes, folder if boxes else None)
    return {"accuracy_note": "no accuracy: the model's task is not known from its shapes"}
