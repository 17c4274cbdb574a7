"""Box labels for `--task detect`: YOLO text files beside the images, read into the detection metric's layout,
and refused at the flag (one line naming the file, its line and field; exit 2) before anything is converted."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from converters.box_labels import LabelError, read_labelled, read_yolo
from harness.cli import main


def _png(path: Path) -> None:
    from skimage.io import imsave

    imsave(path, np.zeros((8, 8, 3), np.uint8), check_contrast=False)


def test_yolo_lines_become_normalized_corner_boxes(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("2 0.5 0.25 0.2 0.1\n\n0 0.1 0.9 0.2 0.2\n")
    boxes, classes = read_yolo(f)
    np.testing.assert_allclose(boxes, [[0.2, 0.4, 0.3, 0.6], [0.8, 0.0, 1.0, 0.2]], atol=1e-6)
    assert classes.tolist() == [2, 0]


def test_images_without_a_file_show_no_object_and_labels_may_sit_in_a_sibling_folder(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for name in ("a", "b"):
        _png(images / f"{name}.png")
    (labels / "a.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    data = read_labelled(images)
    assert [p.name for p in data.images] == ["a.png", "b.png"]
    assert [len(c) for c in data.classes] == [1, 0] and data.objects == 1


@pytest.mark.parametrize("line, words", [
    ("0 0.5 1.7 0.1 0.1", ["line 2", "field cy is 1.7", "expected 0 to 1"]),
    ("0 0.5 0.5 0.1", ["line 2", "4 fields", "class cx cy w h"]),
    ("car 0.5 0.5 0.1 0.1", ["line 2", "field class car is not a whole number"]),
    ("0 0.5 0.5 0 0.1", ["line 2", "field w is 0"]),
    ("0 0.5 0.5 nan 0.1", ["line 2", "field w is nan"]),
    ("0 320 240 50 60", ["line 2", "field cx is 320", "pixels?"]),
])
def test_a_bad_label_line_names_file_line_and_field(tmp_path, line, words):
    _png(tmp_path / "img.png")
    (tmp_path / "img.txt").write_text("1 0.5 0.5 0.2 0.2\n" + line + "\n")
    with pytest.raises(LabelError) as err:
        read_labelled(tmp_path)
    msg = str(err.value)
    assert "img.txt" in msg and all(w in msg for w in words), msg


@pytest.fixture()
def keras_file(tmp_path) -> Path:
    """Enough of a .keras archive for the plan's file check (the labels are refused before it is loaded)."""
    p = tmp_path / "det.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("config.json", "{}")
    return p


@pytest.mark.parametrize("files, words", [
    ({"img.txt": "0 0.5 0.5 1.5 0.2\n"}, ["--task detect --images", "img.txt line 1", "field w is 1.5"]),
    ({}, ["--task detect --images", "no box labels", "YOLO .txt per image"]),
    ({"img.txt": "\n"}, ["--task detect --images", "hold no box"]),
    ({"img.txt": "0 0.5 0.5 0.2 0.2 0.9 0.9\n"}, ["img.txt line 1", "7 fields", "polygons"]),
])
def test_bad_labels_stop_run_and_convert_with_one_line(tmp_path, keras_file, capsys, files, words):
    d = tmp_path / "eval"
    d.mkdir()
    _png(d / "img.png")
    for name, text in files.items():
        (d / name).write_text(text)
    base = ["--models", str(keras_file), "--task", "detect", "--images", str(d)]
    for argv in (["run", *base, "--db", str(tmp_path / "r.db")], ["convert", *base, "--out", str(tmp_path / "o")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err and all(w in err for w in words), err
    assert not (tmp_path / "r.db").exists()  # refused before anything ran


def test_a_label_file_with_control_characters_is_echoed_escaped(tmp_path, keras_file, capsys):
    d = tmp_path / "eval"
    d.mkdir()
    _png(d / "img.png")
    (d / "img.txt").write_text("0 \x1b[31m 0.5 0.2 0.2\n")
    assert main(["convert", "--models", str(keras_file), "--task", "detect", "--images", str(d)]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "field cx" in err
