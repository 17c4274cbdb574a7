"""The zoo's default-recipe weights shipped with the package: a new machine trains nothing; they are what
the recipe produces (a re-training here reaches the same accuracy); `--retrain` trains instead."""
from __future__ import annotations

import json

import numpy as np
import pytest

from converters import shipped, training
from converters.build import VariantBuilder
from converters.zoo import DEFAULT_MODELS, get_spec


@pytest.fixture(autouse=True)
def default_recipes(monkeypatch):
    """The shipped weights are the default recipe's: the session's short-recipe fixture (quick_recipes), once
    another file has used it, and a leftover --retrain must not decide what these tests see."""
    monkeypatch.delenv(training.RECIPE_ENV, raising=False)
    monkeypatch.delenv(shipped.RETRAIN_ENV, raising=False)


def test_every_shipped_model_has_its_recipes_weights_in_the_package():
    manifest = json.loads(shipped.MANIFEST.read_text())
    assert set(DEFAULT_MODELS) <= set(shipped.SHIPPED) == set(manifest)
    for name in shipped.SHIPPED:
        spec = get_spec(name)
        assert manifest[name]["identity"] == shipped.recipe_identity(spec), f"{name}: re-run --write"
        model = spec.create()
        before = [w.copy() for w in model.get_weights()]
        assert shipped.load(spec, model, None), name
        assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights())), name


def test_shipped_weights_are_not_used_where_they_are_not_the_recipes_result(monkeypatch):
    spec = get_spec("srcnn")
    assert not shipped.load(spec, spec.create(), "/some/images")  # the user's images: their own recipe
    assert not shipped.load(get_spec("srcnn@n1=32"), get_spec("srcnn@n1=32").create(), None)  # another model
    monkeypatch.setenv(training.RECIPE_ENV, "quick")
    assert not shipped.load(spec, spec.create(), None)
    monkeypatch.setenv(training.RECIPE_ENV, "default")
    monkeypatch.setenv(shipped.RETRAIN_ENV, "1")
    assert not shipped.load(spec, spec.create(), None)


def test_changing_a_recipe_constant_changes_the_identity(monkeypatch):
    spec = get_spec("srcnn")
    before = shipped.recipe_identity(spec)
    monkeypatch.setattr(training, "SR_STEPS", training.SR_STEPS + 1)
    assert shipped.recipe_identity(spec) != before


def test_a_task_s_recipe_change_leaves_the_other_tasks_identities(monkeypatch):
    """Lengthening the classification recipe or changing its data re-makes SqueezeNet's weights only."""
    names = ("squeezenet", "srcnn", "fsrcnn_s", "faster_rcnn")
    before = {n: shipped.recipe_identity(get_spec(n)) for n in names}
    monkeypatch.setattr(training, "CLS_STEPS", training.CLS_STEPS + 1)
    after = {n: shipped.recipe_identity(get_spec(n)) for n in names}
    assert after["squeezenet"] != before["squeezenet"]
    assert all(after[n] == before[n] for n in names[1:])


@pytest.mark.slow
def test_retraining_here_reaches_the_shipped_accuracy(tmp_path, monkeypatch):
    """SRCNN 9-1-5 (about 15-30 s of training on 2 cores): shipped and re-trained within 0.1 dB PSNR."""
    monkeypatch.delenv(training.RECIPE_ENV, raising=False)
    monkeypatch.delenv(shipped.RETRAIN_ENV, raising=False)
    ran = len(training.RECIPES_RUN)
    first = VariantBuilder(tmp_path / "a").build("srcnn", "fp32").metrics
    assert len(training.RECIPES_RUN) == ran  # loaded, not trained
    assert not list((tmp_path / "a" / "weights").glob("*.npz"))
    monkeypatch.setenv(shipped.RETRAIN_ENV, "1")
    again = VariantBuilder(tmp_path / "b").build("srcnn", "fp32").metrics
    assert training.RECIPES_RUN[ran:] == ["srcnn"]
    assert list((tmp_path / "b" / "weights").glob("*-retrained.npz"))
    assert first["psnr_db"] > first["psnr_bicubic_db"]  # the recipe's result, not an untrained net
    assert abs(first["psnr_db"] - again["psnr_db"]) < 0.1, (first["psnr_db"], again["psnr_db"])
