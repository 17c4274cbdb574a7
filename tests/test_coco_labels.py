"""COCO instances JSON as `--task detect` labels: read into the same boxes and classes as the YOLO files of the
same dataset (pixels -> normalized corners, category ids -> the model's 0-based class indices in id order,
crowd boxes left out), and refused at the flag with one line naming the file and the field (exit 2)."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from converters.box_labels import LabelError, read_labelled
from converters.detection_data import generate_shapes
from harness.cli import main

CATEGORY_IDS = (1, 5, 9)  # COCO's ids have gaps: the model's classes are 0, 1, 2


def write_dataset(root: Path, n: int = 6, size: int = 48, widths: tuple[int, int] = (48, 48)) -> dict:
    """Generated images as PNG with YOLO .txt files in yolo/ and the same boxes as one COCO JSON in coco/."""
    from skimage.io import imsave

    images, boxes, labels = generate_shapes(n, size, seed=7)
    yolo, coco = root / "yolo", root / "coco"
    yolo.mkdir(parents=True)
    coco.mkdir(parents=True)
    doc: dict = {"info": {"description": "generated"}, "images": [], "annotations": [],
                 "categories": [{"id": c, "name": f"shape{c}", "supercategory": "shape"}
                                for c in reversed(CATEGORY_IDS)]}  # any order: the ids decide
    for i, (img, b, lab) in enumerate(zip(images, boxes, labels)):
        name = f"img_{i:03d}.png"
        for d in (yolo, coco):
            imsave(d / name, np.round(img * 255).astype(np.uint8), check_contrast=False)
        (yolo / f"img_{i:03d}.txt").write_text("".join(
            f"{c} {(x0 + x1) / 2:.6f} {(y0 + y1) / 2:.6f} {x1 - x0:.6f} {y1 - y0:.6f}\n"
            for (y0, x0, y1, x1), c in zip(b, lab)))
        doc["images"].append({"id": 100 + i, "file_name": f"val/{name}", "width": size, "height": size})
        for (y0, x0, y1, x1), c in zip(b, lab):
            doc["annotations"].append({"id": len(doc["annotations"]) + 1, "image_id": 100 + i, "iscrowd": 0,
                                       "category_id": CATEGORY_IDS[int(c)], "area": 1.0, "bbox": [
                                           float(v) * size for v in (x0, y0, x1 - x0, y1 - y0)]})
    doc["annotations"].append({"id": 999, "image_id": 100, "category_id": 9, "iscrowd": 1,
                               "bbox": [0, 0, size, size]})  # a crowd region: not an object to find
    (coco / "_annotations.coco.json").write_text(json.dumps(doc))
    return doc


def test_coco_json_reads_as_the_same_boxes_and_classes_as_yolo_files(tmp_path):
    write_dataset(tmp_path)
    y, c = read_labelled(tmp_path / "yolo"), read_labelled(tmp_path / "coco")
    assert [p.name for p in c.images] == [p.name for p in y.images] and c.objects == y.objects > 0
    for by, bc, ky, kc in zip(y.boxes, c.boxes, y.classes, c.classes):
        np.testing.assert_allclose(bc, by, atol=1e-5)
        assert kc.tolist() == ky.tolist()  # ids 1, 5, 9 -> 0, 1, 2; the crowd box left out


def test_cocos_own_layout_annotations_folder_beside_the_images(tmp_path):
    doc = write_dataset(tmp_path)
    val = tmp_path / "coco"
    (val / "_annotations.coco.json").unlink()
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_coco.json").write_text(json.dumps(doc))
    assert read_labelled(val).objects == len(doc["annotations"]) - 1


def _broken(doc: dict, change: str) -> object:
    if change == "not json":
        return "{not json"
    if change == "no categories":
        del doc["categories"]
    elif change == "bbox normalized":  # each box alone fits the image; all of them in [0, 1] does not
        for a in doc["annotations"]:
            a["bbox"] = [v / 48 for v in a["bbox"]]
    elif change == "bbox empty":
        doc["annotations"][2]["bbox"] = [10, 10, 0.0, 5]
    elif change == "bbox outside":
        doc["annotations"][1]["bbox"] = [40, 40, 30, 30]
    elif change == "bbox three":
        doc["annotations"][0]["bbox"] = [1, 2, 3]
    elif change == "unknown category":
        doc["annotations"][3]["category_id"] = 2
    elif change == "unknown image":
        doc["annotations"][0]["image_id"] = 7
    elif change == "missing file":
        doc["images"][1]["file_name"] = "nowhere.jpg"
    elif change == "width text":
        doc["images"][0]["width"] = "wide"
    elif change == "list":
        return [1, 2]
    return doc


@pytest.mark.parametrize("change, words", [
    ("not json", ["not valid JSON", "line 1"]),
    ("no categories", ["categories: missing"]),
    ("bbox normalized", ["annotations: every bbox", "normalized?", "pixels"]),
    ("bbox empty", ["annotations[2].bbox", "width and a height"]),
    ("bbox outside", ["annotations[1].bbox", "outside the 48 x 48 image"]),
    ("bbox three", ["annotations[0].bbox", "4 numbers"]),
    ("unknown category", ["annotations[3].category_id", "2 is not an id in categories"]),
    ("unknown image", ["annotations[0].image_id", "7 is not an id in images"]),
    ("missing file", ["images[1].file_name", "nowhere.jpg is not in"]),
    ("width text", ["images[0].width", "wide is not a number"]),
    ("list", ["top level", "a list"]),
])
def test_bad_coco_labels_stop_run_and_convert_with_one_line(tmp_path, capsys, change, words):
    doc = write_dataset(tmp_path, n=4)
    label = tmp_path / "coco" / "_annotations.coco.json"
    broken = _broken(doc, change)
    label.write_text(broken if isinstance(broken, str) else json.dumps(broken))
    with pytest.raises(LabelError):
        read_labelled(label.parent)
    model = tmp_path / "det.keras"
    with zipfile.ZipFile(model, "w") as z:  # enough for the plan's file check: the labels are refused first
        z.writestr("config.json", "{}")
    base = ["--models", str(model), "--task", "detect", "--images", str(label.parent)]
    for argv in (["run", *base, "--db", str(tmp_path / "r.db")], ["convert", *base, "--out", str(tmp_path / "o")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert "_annotations.coco.json" in err and all(w in err for w in words), err
    assert not (tmp_path / "r.db").exists()


def test_two_coco_files_in_one_folder_are_refused(tmp_path):
    doc = write_dataset(tmp_path, n=2)
    (tmp_path / "coco" / "other.json").write_text(json.dumps(doc))
    with pytest.raises(LabelError, match="2 COCO label files"):
        read_labelled(tmp_path / "coco")
