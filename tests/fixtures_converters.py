"""Fixtures for the converter tests: tiny zoo models, quick recipes and one shared builder.

Real TensorFlow conversions and the real LiteRT interpreter throughout; the models are made small
through zoo overrides (srcnn@size=24) and the recipes short (HARNESS_RECIPE=quick), so a pass
trains for seconds. One session builder keeps trained sources, so each model trains once per test run:
the recipes' weights live in one folder shared by the run's xdist workers (`run_weights`), and a
worker that needs a model another worker is training waits for it instead of training it again.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

TINY_SR = "srcnn@size=24"
TINY_FSRCNN = "fsrcnn@size=16@d=16@s=8@m=1"
TINY_CLS = "squeezenet@size=48@classes=6"
TINY_PROXY = "faster_rcnn_proxy@size=128@head_units=64@pre_nms=256@proposals=16"


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


def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder this test run shares between its xdist workers (each worker's basetemp is a child of
    it, `pytest-N/popen-gwK`); without xdist, the run's own basetemp."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def lock_file(root: Path, name: str) -> Path:
    folder = root / "locks"
    folder.mkdir(exist_ok=True)
    return folder / f"{hashlib.sha256(name.encode()).hexdigest()[:16]}.lock"


@contextmanager
def run_lock(root: Path, name: str) -> Iterator[None]:
    """An exclusive lock on `name` across the processes sharing `root` (released when its holder exits, even
    killed: flock)."""
    with open(lock_file(root, name), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def run_weights(tmp_path_factory) -> Path:
    """The zoo recipes' trained weights, one folder for the whole test run (every worker): a tiny model's
    quick recipe is seeded, so the weights one worker trains are those another would train."""
    folder = run_root(tmp_path_factory) / "trained-weights"
    folder.mkdir(exist_ok=True)
    return folder


def share_weights(cache: Path, run_weights: Path) -> Path:
    """`cache` (a converter cache folder) with its `weights/` being the run's shared folder."""
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "weights").symlink_to(run_weights, target_is_directory=True)
    return cache


@pytest.fixture(scope="session")
def converter_cache(tmp_path_factory, run_weights) -> Path:
    """This worker's artifacts (built variants stay per worker); the trained weights are the run's."""
    return share_weights(tmp_path_factory.mktemp("artifacts"), run_weights)


@pytest.fixture(scope="session")
def builder(quick_recipes, converter_cache, tmp_path_factory):
    """A VariantBuilder over a private cache, shared so each tiny model trains once. Without controls
    (each fine-tuned variant would train its control too); tests/test_accuracy_change_build.py builds them."""
    return locked_builder(run_root(tmp_path_factory), converter_cache, controls=False)


def locked_builder(root: Path, cache: Path, controls: bool):
    """A VariantBuilder whose first load of a model holds the run's lock on that model: of two workers that
    need the same untrained model, one trains it and the other then loads its weights (training.trained)."""
    from converters.build import VariantBuilder

    class LockedBuilder(VariantBuilder):
        def source(self, model: str):
            if model in self._sources:
                return super().source(model)
            with run_lock(root, f"source:{model}"):
                return super().source(model)

    return LockedBuilder(cache, controls=controls)


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


@pytest.fixture(scope="session")
def tiny_proxy():
    """The ZF-shaped detection proxy's graph at 128 px with a small head, untrained (seed 0), as a pass Source:
    the fp32 and int8 tests convert the same one (tests/test_detection_proxy.py, test_detection_int8.py, one unit
    in tests/fixtures_tiers.py), so it is built, and saved as a SavedModel for the converter, once per run."""
    import tf_keras as keras

    from converters.passes import Source
    from converters.zoo import get_spec

    keras.utils.set_random_seed(0)
    spec = get_spec(TINY_PROXY)
    km = spec.create()
    return Source(spec.name, keras_model=km, task="detection", input_shape=tuple(km.input_shape), spec=spec)
