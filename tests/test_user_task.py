"""Accuracy only where the task is known: a user's model is scored only for the task its owner names
(`--task sr|classify|detect`) on their eval data (`--images DIR`); shapes alone never choose a task."""
from __future__ import annotations

from pathlib import Path

import pytest

from converters.build import VariantBuilder
from harness.cli import main


@pytest.fixture(scope="module")
def image_to_image(tmp_path_factory) -> Path:
    """An untrained 32x32x3 -> 32x32x3 network: image-shaped output, but nobody said it upscales anything."""
    import tf_keras as keras

    keras.utils.set_random_seed(5)
    inp = keras.Input((32, 32, 3))
    out = keras.layers.Conv2D(3, 3, padding="same")(keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp))
    path = tmp_path_factory.mktemp("user") / "image_to_image.keras"
    keras.Model(inp, out).save(path)
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    from skimage import data
    from skimage.io import imsave

    d = tmp_path_factory.mktemp("photos")
    for name in ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left"):
        if hasattr(data, name):
            imsave(d / f"{name}.png", getattr(data, name)()[:96, :96])
    return d


def test_without_a_task_there_is_no_accuracy_only_agreement_with_fp32(image_to_image, tmp_path):
    builder = VariantBuilder(tmp_path)
    fp32, dr = (builder.build(str(image_to_image), v).metrics for v in ("fp32", "dr_int8"))
    for m in (fp32, dr):
        assert m["accuracy"] is None and m["accuracy_note"].startswith("not measured: name the model's task")
        assert not {"psnr_db", "psnr_bicubic_db", "ssim", "top1"} & set(m)  # no invented super-resolution score
    assert dr["psnr_vs_fp32_db"] > 20  # what the variant keeps of fp32's output is still shown


def test_a_named_task_without_its_eval_data_is_not_measured(image_to_image, tmp_path):
    m = VariantBuilder(tmp_path, task="super_resolution").build(str(image_to_image), "fp32").metrics
    assert m["accuracy"] is None and "--task sr needs its eval data (--images DIR)" in m["accuracy_note"]


def test_a_named_task_with_eval_data_is_scored(image_to_image, photos, tmp_path):
    m = VariantBuilder(tmp_path, image_dir=photos, task="super_resolution").build(str(image_to_image), "fp32").metrics
    assert isinstance(m["accuracy"], float) and m["accuracy"] == m["psnr_db"] and "psnr_bicubic_db" in m


def test_classify_needs_labelled_folders(image_to_image, photos, tmp_path):
    m = VariantBuilder(tmp_path, image_dir=photos, task="classification").build(str(image_to_image), "fp32").metrics
    assert m["accuracy"] is None and "one folder per class" in m["accuracy_note"]


@pytest.mark.parametrize("argv, words", [
    (["--task", "segment", "--models", "X"], ["--task", "unknown task", "sr, classify, detect"]),
    (["--task", "sr", "--models", "srcnn"], ["--task", "your own model files"]),
])
def test_bad_task_is_one_line(argv, words, image_to_image, capsys, tmp_path):
    argv = [str(image_to_image) if a == "X" else a for a in argv]
    assert main(["run", *argv, "--db", str(tmp_path / "r.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err
    assert main(["convert", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err


def test_the_task_is_part_of_the_stored_plan():
    from harness.planning.config import local_only
    from harness.planning.plan import Plan

    p = Plan(("m.keras",), ("fp32",), local_only(), task="super_resolution")
    assert Plan.from_dict(p.to_dict()).task == "super_resolution"
