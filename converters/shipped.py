"""Trained weights of the zoo's default recipes, shipped with the package (converters/weights/).

A new machine's first run loads them instead of training: `harness run --quick` gives its first
number in about a minute rather than the ~14 min the recipes take on 2 cores. They are produced by
the project's own recipes (`python -m converters.shipped --write NAME...`), and a test re-trains one
and compares. They are used only where they are what the recipe would produce: the default recipe
length, no user image folder, the same recipe identity (RECIPE_VERSION and the recipe constants) and
the same weight shapes. `--retrain` (HARNESS_RETRAIN=1) ignores them and trains from scratch.

The identity deliberately leaves out the source text and TensorFlow version that the local cache
keys on (training.weights_key): editing a comment must not send every new user back to training.
Whoever changes what a recipe produces bumps RECIPE_VERSION and re-runs --write.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # tf_keras ships no type information: mypy cannot check that name
    import tf_keras

    from converters.zoo import ModelSpec

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"
RECIPE_VERSION = 2  # 2: identities per task; classification on patches of real photos
RETRAIN_ENV = "HARNESS_RETRAIN"
# The zoo entries whose weights are shipped: the default plan's models and their small siblings.
SHIPPED = ("srcnn", "srcnn_955", "fsrcnn", "fsrcnn_s", "squeezenet", "faster_rcnn", "faster_rcnn_proxy",
           "faster_rcnn_proxy_400")


def retrain_requested() -> bool:
    return os.environ.get(RETRAIN_ENV, "") not in ("", "0")


def recipe_identity(spec: ModelSpec) -> str:
    """What decides a default recipe's result, short of the code itself."""
    from converters import training as t

    from converters.texture_patches import DATA_VERSION

    # Each task's identity covers its own recipe only: lengthening the classification recipe leaves the
    # super-resolution and detection weights valid (they need no re-training to stay shipped).
    recipes: dict[str, dict[str, object]] = {
        "super_resolution": {"sr": [t.SR_STEPS, t.SR_BATCH, t.SR_CROPS], "sr_lr": [t.SR_LR_STEPS, t.SR_LR_BATCH,
                                                                                 t.SR_LR_CROPS],
                             "sr_rate": sorted(t.SR_LR.items())},
        "classification": {"cls": [t.CLS_STEPS, t.CLS_BATCH, t.CLS_LR, t.CLS_SIDE, t.CLS_NATIVE_STEPS],
                           "data": DATA_VERSION},
        "detection": {"det": t.DET_STEPS},
    }
    recipe = recipes.get(spec.task, {})
    own_steps = t.sr_model_steps(spec.name) if spec.task == "super_resolution" else None
    if own_steps is not None:  # its own recipe length; the other SR entries' identities unchanged
        recipe = {**recipe, "sr_own_steps": own_steps}
    own_options = t.sr_model_recipe(spec.name) if spec.task == "super_resolution" else {}
    if own_options:  # its own recipe options (augmentation, per-layer rate): that entry's identity only
        recipe = {**recipe, "sr_own_recipe": own_options}
        if own_options.get("scale"):  # the factors too: changing them changes the result
            recipe = {**recipe, "sr_scales": list(t.SR_SCALES)}
    if spec.build.__name__ == "faster_rcnn_proxy":  # its own recipe; the other entries' identities unchanged
        from converters.detection_proxy import recipe_constants

        recipe = {**recipe, "det_proxy": recipe_constants()}
    blob = json.dumps({"version": RECIPE_VERSION, "name": spec.name, "kwargs": spec.kwargs, "task": spec.task,
                       "recipe": recipe}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _manifest() -> dict[str, object]:
    try:
        data = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load(spec: ModelSpec, keras_model: tf_keras.Model, image_dir: str | Path | None) -> bool:
    """Set the shipped weights on `keras_model` when they are the recipe's result; False otherwise."""
    from converters.training import recipe_mode

    if image_dir is not None or recipe_mode() != "default" or retrain_requested():
        return False
    entry = _manifest().get(spec.name)
    if not isinstance(entry, dict) or entry.get("identity") != recipe_identity(spec):
        return False
    path = WEIGHTS_DIR / str(entry.get("file", ""))
    try:
        with np.load(path) as data:
            arrays = [data[f"w{i}"] for i in range(len(data.files))]
    except (OSError, ValueError, KeyError):
        return False
    current = keras_model.get_weights()
    if len(arrays) != len(current) or any(a.shape != c.shape for a, c in zip(arrays, current)):
        return False
    keras_model.set_weights([a.astype(c.dtype) for a, c in zip(arrays, current)])
    return True


def write(names: list[str]) -> None:
    """Train each named zoo entry by its default recipe and store its weights and the manifest entry."""
    import tf_keras as keras

    from converters import training
    from converters.zoo import get_spec

    os.environ.pop(training.RECIPE_ENV, None)
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    for name in names:
        spec = get_spec(name)
        keras.utils.set_random_seed(0)  # as converters.build.load_source does
        model = spec.create()
        t0 = time.monotonic()
        training._train_recipe(spec, model, None, base_weights=_shipped_weights)
        seconds = time.monotonic() - t0
        file = f"{name}.npz"
        # The proxy's 2.3 M weights in half precision (4 MB rather than 9; load() casts them back).
        half = spec.build.__name__ == "faster_rcnn_proxy"
        np.savez_compressed(WEIGHTS_DIR / file, **{f"w{i}": w.astype(np.float16) if half else w
                                                   for i, w in enumerate(model.get_weights())})
        manifest = _manifest()  # re-read: several writers may run one after another
        manifest[name] = {"identity": recipe_identity(spec), "file": file, "train_s": round(seconds, 1),
                          "tensorflow": _tf_version(), "written": time.strftime("%Y-%m-%d")}
        MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        print(f"{name}: trained in {seconds:.0f} s -> {file} ({(WEIGHTS_DIR / file).stat().st_size} bytes)",
              flush=True)


def _shipped_weights(name: str) -> list[np.ndarray]:
    """A base entry's shipped weights, for a recipe that starts from them (the 400 px proxy is tuned from the
    600 px one's): write the base first, in the same command or before."""
    from converters.zoo import get_spec

    base = get_spec(name)
    source = base.create()
    if not load(base, source, None):
        raise SystemExit(f"shipped: {name}: no shipped weights of this recipe yet; write them first "
                         f"(python -m converters.shipped --write {name})")
    weights: list[np.ndarray] = source.get_weights()
    return weights


def _tf_version() -> str:
    from importlib import metadata

    return metadata.version("tensorflow")


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] != "--write":
        print("usage: python -m converters.shipped --write [NAME...]", file=sys.stderr)
        raise SystemExit(2)
    write(args[1:] or list(SHIPPED))
