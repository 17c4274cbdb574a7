"""Fixtures for the converter tests: tiny zoo models, quick recipes and one shared builder.

Real TensorFlow conversions and the real LiteRT interpreter throughout; the models are made small
through zoo overrides (srcnn@size=24) and the recipes short (HARNESS_RECIPE=quick), so a pass
trains for seconds. One session builder keeps trained sources, so each model trains once.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

TINY_SR = "srcnn@size=24"
TINY_FSRCNN = "fsrcnn@size=16@d=16@s=8@m=1"
TINY_CLS = "squeezenet@size=48@classes=6"


@pytest.fixture(scope="session")
def quick_recipes():
    """Short recipes for the whole session (restored afterwards)."""
    old = os.environ.get("HARNESS_RECIPE")
    os.environ["HARNESS_RECIPE"] = "quick"
    yield "quick"
    if old is None:
        os.environ.pop("HARNESS_RECIPE", None)
    else:
        os.environ["HARNESS_RECIPE"] = old


@pytest.fixture(scope="session")
def converter_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="session")
def builder(quick_recipes, converter_cache):
    """A VariantBuilder over a private cache, shared so each tiny model trains once. Without controls
    (each fine-tuned variant would train its control too); tests/test_accuracy_change_build.py builds them."""
    from converters.build import VariantBuilder

    return VariantBuilder(converter_cache, controls=False)


@pytest.fixture(scope="session")
def dense_keras_file(tmp_path_factory) -> Path:
    """A user's Keras file whose input is a vector, not an image: int8 has no calibration data."""
    import tf_keras as keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(4)])
    path = tmp_path_factory.mktemp("user") / "vector_model.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def conv_keras_file(tmp_path_factory) -> Path:
    """A user's small image model saved as a Keras file (no zoo name, no recipe)."""
    import tf_keras as keras

    keras.utils.set_random_seed(4)
    inp = keras.Input((20, 20, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(5)(x))
    path = tmp_path_factory.mktemp("user") / "conv_model.keras"
    model.save(path)
    return path
