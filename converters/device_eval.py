"""Accuracy measured on the device: evaluation inputs for the phone, and scores for what it computed.

Core ML variants cannot run on the Linux host, so their accuracy comes from the iPhone: the host writes
the task's held-out inputs (the same ones converters/accuracy.py scores .tflite variants on) as raw
little-endian float32, the app predicts each one and writes the outputs back, and `score` turns them into
the same metrics (PSNR/SSIM beside bicubic, top-1 beside chance), marked accuracy_source = "device".
Detection (mAP) is not scored from device outputs yet.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converters import accuracy
from converters.passes import Source
from converters.variant_metrics import TaskScores


@dataclass(frozen=True)
class EvalSet:
    """Inputs on disk for the phone, and what their outputs are scored against (kept in memory)."""

    kind: str
    path: Path  # raw float32, count x sample_shape
    sample_shape: tuple[int, ...]  # the model's input, batch 1
    count: int
    truth: np.ndarray  # HR crops (super-resolution) or labels (classification)
    baseline: np.ndarray | None = None  # bicubic crops for super-resolution
    scale: int = 1


# Classification images pushed to a phone: the first 1000 of the host's held-out patches (classes in turn, so
# balanced). The host scores 3000 (accuracy.CLS_EVAL_IMAGES) for a narrow interval; 3000 float32 224 px inputs
# are 1.8 GB, too much to push to a phone for every model. The row's `eval_images` says which count it is.
DEVICE_CLS_IMAGES = 1000


def device_share(x: np.ndarray, truth: np.ndarray, limit: int = DEVICE_CLS_IMAGES) -> tuple[np.ndarray, np.ndarray]:
    """The leading `limit` examples of a held-out set (all of a smaller one)."""
    return x[:limit], truth[:limit]


def prepare(src: Source, folder: Path, image_dir: str | None = None) -> EvalSet | None:
    """The held-out set for a Keras source of a known task; None when there is none (detection, unknown,
    SavedModels without shapes)."""
    km = src.keras_model
    if km is None:
        return None
    info = src.task_info()
    if info.kind == "super_resolution":
        x, hr, bic = accuracy._sr_data(info, int(km.output_shape[1]), image_dir)
        truth, baseline = hr, bic
    elif info.kind == "classification":
        x, labels = device_share(*accuracy._cls_data(info, int(km.input_shape[1]), image_dir))
        truth, baseline = labels, None
    else:
        return None
    data = np.ascontiguousarray(x, dtype="<f4")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data.tobytes()).hexdigest()[:16]}.f32"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data.tobytes())
        tmp.replace(path)
    return EvalSet(info.kind, path, (1, *data.shape[1:]), int(data.shape[0]), truth, baseline, int(info.scale))


def score(ev: EvalSet, outputs: np.ndarray) -> TaskScores:
    """Metrics of the device's outputs, under the same keys as the host's .tflite scores."""
    outputs = np.asarray(outputs, dtype=np.float32)
    if outputs.shape[0] != ev.count:
        raise ValueError(f"{outputs.shape[0]} outputs for {ev.count} inputs")
    m: TaskScores = {"accuracy_source": "device"}
    if ev.kind == "super_resolution":
        if ev.baseline is None:
            raise ValueError("a super-resolution eval set has no bicubic baseline")
        out = outputs.reshape(ev.truth.shape)
        s = ev.scale
        m.update({"psnr_db": accuracy._mean([accuracy.psnr(o, h, s) for o, h in zip(out, ev.truth)]),
                  "ssim": accuracy._mean([accuracy.ssim(o, h, s) for o, h in zip(out, ev.truth)]),
                  "psnr_bicubic_db": accuracy._mean([accuracy.psnr(b, h, s) for b, h in zip(ev.baseline, ev.truth)]),
                  "ssim_bicubic": accuracy._mean([accuracy.ssim(b, h, s) for b, h in zip(ev.baseline, ev.truth)]),
                  "eval_crops": ev.count})
        m["psnr_gain_bicubic_db"] = round(m["psnr_db"] - m["psnr_bicubic_db"], 4)
        m["accuracy"] = m["psnr_db"]
    else:
        pred = outputs.reshape(ev.count, -1).argmax(-1)
        labels = np.asarray(ev.truth)
        m.update({"top1": round(float(np.mean(pred == labels)), 4),
                  "top1_chance": round(float(np.bincount(labels).max() / len(labels)), 4), "eval_images": ev.count})
        m["accuracy"] = m["top1"]
    return m
