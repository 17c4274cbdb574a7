"""`--task detect` measured on a user's own detector: the project's trained Faster R-CNN proxy handed over as a
user's SavedModel and .tflite, scored with mAP@0.5 on images and YOLO box labels written here; an output layout
the harness cannot read is "not measured" with the reason."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from converters import shipped, training
from converters.build import VariantBuilder
from converters.detection_data import generate_shapes, mean_average_precision
from harness.cli import main

N_IMAGES = 30


def _clear_recipe_env() -> dict[str, str]:
    saved = {k: os.environ.pop(k) for k in (training.RECIPE_ENV, shipped.RETRAIN_ENV) if k in os.environ}
    return saved


@pytest.fixture(scope="module")
def detector(tmp_path_factory) -> Path:
    """The zoo's faster_rcnn with its shipped (trained) weights, saved as a user's SavedModel folder."""
    from converters.zoo import get_spec

    saved = _clear_recipe_env()  # the shipped weights are the default recipe's
    try:
        spec = get_spec("faster_rcnn")
        model = spec.create()
        assert shipped.load(spec, model, None)
    finally:
        os.environ.update(saved)
    path = tmp_path_factory.mktemp("user") / "my_detector"
    model.save(str(path))
    return path


def _write_eval_set(folder: Path, shift_classes: int = 0) -> tuple[np.ndarray, list, list]:
    """Images as PNG and one YOLO label file each (class cx cy w h, normalized), as a labelling tool writes."""
    from skimage.io import imsave

    folder.mkdir(parents=True, exist_ok=True)
    images, boxes, labels = generate_shapes(N_IMAGES, 128, seed=4242)
    for i, (img, b, lab) in enumerate(zip(images, boxes, labels)):
        imsave(folder / f"img_{i:03d}.png", np.round(img * 255).astype(np.uint8), check_contrast=False)
        lines = [f"{(c + shift_classes) % 3} {(x0 + x1) / 2:.6f} {(y0 + y1) / 2:.6f} {x1 - x0:.6f} {y1 - y0:.6f}"
                 for (y0, x0, y1, x1), c in zip(b, lab)]
        (folder / f"img_{i:03d}.txt").write_text("\n".join(lines) + "\n")
    return images, boxes, labels


@pytest.fixture(scope="module")
def eval_set(tmp_path_factory) -> tuple[Path, np.ndarray, list, list]:
    d = tmp_path_factory.mktemp("eval")
    return (d, *_write_eval_set(d))


@pytest.fixture(scope="module")
def built(detector, eval_set, tmp_path_factory):
    builder = VariantBuilder(tmp_path_factory.mktemp("cache"), image_dir=eval_set[0], task="detection")
    return {v: builder.build(str(detector), v) for v in ("fp32", "dr_int8")}


def test_a_users_detector_gets_map_on_their_labelled_images(built, eval_set):
    fp32, dr = built["fp32"].metrics, built["dr_int8"].metrics
    assert fp32["accuracy"] == pytest.approx(fp32["map50"], abs=1e-4) and fp32["accuracy"] > 0.8, fp32
    assert fp32["images"] == N_IMAGES and fp32["objects"] == sum(len(b) for b in eval_set[2])
    assert "user's labelled images" in fp32["per_example"]["data"]
    assert isinstance(dr["accuracy"], float) and abs(dr["map50_delta_fp32"]) < 0.1, dr
    assert len(dr["per_example"]["fp32"]) == N_IMAGES  # paired with fp32 on the same images


def test_the_map_is_the_projects_metric_on_the_same_images(built, eval_set):
    """The same model on the same images as floats, scored directly: the user path adds only PNG rounding."""
    from converters.detection import _run_tflite

    _, images, boxes, labels = eval_set
    preds = _run_tflite(built["fp32"].path, images)
    keep = [s > 0.05 for _, s, _ in preds]
    direct = mean_average_precision([b[k] for (b, _, _), k in zip(preds, keep)],
                                    [s[k] for (_, s, _), k in zip(preds, keep)],
                                    [c[k] for (_, _, c), k in zip(preds, keep)], boxes, labels)
    assert built["fp32"].metrics["map50"] == pytest.approx(direct, abs=0.03)


def test_wrong_labels_give_a_low_map(built, tmp_path):
    """The labels decide the figure: the same images with every class shifted score near zero."""
    d = tmp_path / "shifted"
    _write_eval_set(d, shift_classes=1)
    path = tmp_path / "det.tflite"
    shutil.copy(built["fp32"].path, path)
    m = VariantBuilder(tmp_path / "cache", image_dir=d, task="detection").build(str(path), "fp32").metrics
    assert m["accuracy"] is not None and m["accuracy"] < 0.2 < built["fp32"].metrics["accuracy"]


def test_a_users_tflite_is_scored_through_the_cli(built, eval_set, tmp_path, capsys):
    path = tmp_path / "det.tflite"
    shutil.copy(built["fp32"].path, path)
    out = tmp_path / "out"
    assert main(["convert", "--models", str(path), "--variants", "fp32", "--task", "detect", "--images",
                 str(eval_set[0]), "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]) == 0
    (row,) = json.loads((out / "variants.json").read_text())
    assert row["metrics"]["map50"] == pytest.approx(built["fp32"].metrics["map50"], abs=1e-6), row


def test_an_output_layout_it_cannot_read_is_not_measured_with_the_reason(eval_set, tmp_path):
    """A raw YOLO-style head ([1, N, 4 + classes], no decoding in the graph) is not guessed at."""
    import tf_keras as keras

    inp = keras.Input((32, 32, 3), batch_size=1)
    x = keras.layers.Conv2D(7, 3, strides=4, padding="same")(inp)
    path = tmp_path / "raw_head.keras"
    keras.Model(inp, keras.layers.Reshape((64, 7))(x)).save(path)
    m = VariantBuilder(tmp_path / "cache", image_dir=eval_set[0], task="detection").build(str(path), "fp32").metrics
    assert m["accuracy"] is None and "not a supported detection layout" in m["accuracy_note"], m
    assert "[1, 64, 7]" in m["accuracy_note"] and "boxes" in m["accuracy_note"]


def test_coco_json_labels_score_the_same_as_yolo_files(built, eval_set, tmp_path):
    """The same images and boxes as one COCO instances JSON (pixels, category ids 1, 5, 9 for classes 0, 1, 2):
    the same mAP as the YOLO files give."""
    from PIL import Image

    d, _, boxes, labels = eval_set
    coco = tmp_path / "coco"
    coco.mkdir()
    doc: dict = {"images": [], "annotations": [], "categories": [{"id": i, "name": str(i)} for i in (9, 5, 1)]}
    for i, png in enumerate(sorted(d.glob("*.png"))):
        shutil.copy(png, coco / png.name)
        w, h = Image.open(png).size
        doc["images"].append({"id": i, "file_name": png.name, "width": w, "height": h})
        for (y0, x0, y1, x1), c in zip(boxes[i], labels[i]):
            bbox = [float(x0) * w, float(y0) * h, float(x1 - x0) * w, float(y1 - y0) * h]
            doc["annotations"].append({"id": len(doc["annotations"]), "image_id": i, "iscrowd": 0,
                                       "category_id": (1, 5, 9)[int(c)], "bbox": bbox})
    (coco / "instances.json").write_text(json.dumps(doc))
    path = tmp_path / "det.tflite"
    shutil.copy(built["fp32"].path, path)
    m = VariantBuilder(tmp_path / "cache", image_dir=coco, task="detection").build(str(path), "fp32").metrics
    assert m["objects"] == built["fp32"].metrics["objects"]
    assert m["map50"] == pytest.approx(built["fp32"].metrics["map50"], abs=1e-6), m
