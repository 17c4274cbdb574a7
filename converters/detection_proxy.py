"""A trainable stand-in for the seed's ZF Faster R-CNN: the ladder's accuracy is measured on it.

The seed-scale model (converters.detection.faster_rcnn_seed, "faster_rcnn_zf") has no weights here
(nothing is downloaded), and the old 3-class twin (128 px, stride 8, a 128-unit head) did not stand
for it: its smaller input alone cost 0.12 mAP and its SVD head 0.11, which say nothing of a head 32x
wider. The proxy keeps what decides those costs and shrinks the rest:

- ZF's topology (conv 7x7/2, pool, conv 5x5/2, pool, three 3x3 convs): stride 16, at PROXY_WIDTH of
  ZF's channels (12-32-48-48-32), with BatchNormalization so it trains from scratch in minutes;
- 6x6 RoI pooling (ZF's), 300 proposals after NMS of 6000, as the seed;
- fc6/fc7 of PROXY_HEAD (1024) units, so Fast R-CNN's SVD ranks (1/4 and 1/16 of the units: 256 and
  64) are the same fractions of a head as at 4096;
- trained at 600 px on 12 classes of cluttered scenes (converters.detection_scenes), and fine-tuned
  for 400 px (zoo "faster_rcnn_proxy_400": the 600 px weights, PROXY_TUNE_STEPS more at 400 px), as
  a detector run at a smaller input would be.

It is a proxy: narrower than ZF, on generated data, and its figures are the proxy's, not ZF's on VOC.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

PROXY_SIZE = 600
PROXY_WIDTH = 0.125  # of ZF's channel counts (96-256-384-384-256 -> 12-32-48-48-32)
PROXY_HEAD = 1024  # fc6/fc7 units (ZF: 4096)
PROXY_CROP = 6  # ZF's RoI pooling
PROXY_SCALES = (32, 64, 128)  # anchor sides in pixels at any input size (objects are 21-168 px at 600)
# The recipe: from scratch at 600 px (Adam, cosine decay to 5 % of the rate: converters.detection.train), a
# second phase at a quarter of the rate on fresh scenes, then the 400 px sibling fine-tuned from those weights.
# Issue 23: after the first phase alone (1000 steps) the ladder's control (the same weights fine-tuned 200 more
# steps at 5e-4, nothing compressed) beat fp32 by +0.044 mAP@0.5 on the 500 held-out scenes: fp32 was no fair
# baseline. benchmarks/ladder_baseline.py checks the recipe the same way.
PROXY_STEPS, PROXY_BATCH, PROXY_LR = 1000, 2, 2e-3
PROXY_FINISH_STEPS, PROXY_FINISH_LR = 400, 5e-4
# Issue 23, fifth round: after those two phases the control still gained +0.038 (95% +0.032 to +0.045) for 200
# more steps, so a third phase anneals: PROXY_ANNEAL_STEPS at PROXY_ANNEAL_LR, cosine to zero, on scenes of its own.
PROXY_ANNEAL_STEPS, PROXY_ANNEAL_LR = 1500, 1e-3
PROXY_TUNE_STEPS, PROXY_TUNE_LR = 100, 5e-4


def faster_rcnn_proxy(size: int = PROXY_SIZE, proposals: int = 300, width: float = PROXY_WIDTH,
                      head_units: int = PROXY_HEAD, classes: int | None = None, detections: int = 100,
                      pre_nms: int = 6000) -> Any:
    """The proxy's Keras model at `size` px (the same weights at any size: fixed 6x6 RoI crops)."""
    from converters.detection import faster_rcnn_seed
    from converters.detection_scenes import CLUTTER_CLASSES

    if size < 64 or size % 8:
        raise ValueError(f"faster_rcnn_proxy: size {size} must be a multiple of 8, at least 64")
    model = faster_rcnn_seed("zf", size, proposals, width, classes or len(CLUTTER_CLASSES), detections, head_units,
                             pre_nms, crop=PROXY_CROP, scales=PROXY_SCALES, batchnorm=True)
    model._name = f"faster_rcnn_proxy_{size}"  # noqa: SLF001 (Keras has no setter)
    return model


def recipe_constants() -> list[Any]:
    """What decides the proxy recipe's result (converters.shipped.recipe_identity)."""
    return [PROXY_STEPS, PROXY_BATCH, PROXY_LR, PROXY_TUNE_STEPS, PROXY_TUNE_LR, PROXY_FINISH_STEPS, PROXY_FINISH_LR,
            PROXY_ANNEAL_STEPS, PROXY_ANNEAL_LR]


def base_name(spec: Any) -> str | None:
    """The zoo name of the 600 px spec whose weights a smaller-input proxy is fine-tuned from (None: it is one)."""
    if int(spec.kwargs.get("size", PROXY_SIZE)) == PROXY_SIZE:
        return None
    rest = "".join(f"@{k}={v}" for k, v in sorted(spec.kwargs.items()) if k not in ("size", "proposals"))
    return f"faster_rcnn_proxy{rest}"


def train_recipe(spec: Any, model: Any, scaled: Callable[[int], int],
                 callbacks: Callable[[str, int], list[Any]], base_weights: Callable[[str], list[Any]]) -> None:
    """Train the proxy: from scratch at 600 px, or (another size) from the 600 px weights fine-tuned at this
    size. `base_weights(name)` gives those weights (shipped, cached, else trained first): the caller
    (converters.training) reaches the zoo and the shipped weights, so this module imports neither.
    Weights are updated in place."""
    from converters import detection

    base = base_name(spec)
    if base is None:
        steps = scaled(PROXY_STEPS)
        detection.train(model, steps=steps, batch=PROXY_BATCH, learning_rate=PROXY_LR,
                        callbacks=callbacks("train", steps))
        finish(model, scaled, callbacks)
        anneal(model, scaled, callbacks)
        return
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    weights = base_weights(base)
    model.set_weights(weights)
    steps = scaled(PROXY_TUNE_STEPS)
    detection.train(model, steps=steps, batch=PROXY_BATCH, learning_rate=PROXY_TUNE_LR, seed=1,
                    callbacks=callbacks("fine-tune", steps))


def finish(model: Any, scaled: Callable[[int], int], callbacks: Callable[[str, int], list[Any]]) -> None:
    """The recipe's second phase on the first phase's weights: PROXY_FINISH_STEPS at PROXY_FINISH_LR, on scenes
    of their own (seed 2: the first phase draws seed 0, the ladder's fine-tunes and controls seed 1)."""
    from converters import detection

    steps = scaled(PROXY_FINISH_STEPS)
    detection.train(model, steps=steps, batch=PROXY_BATCH, learning_rate=PROXY_FINISH_LR, seed=2,
                    callbacks=callbacks("finish", steps))


def anneal(model: Any, scaled: Callable[[int], int], callbacks: Callable[[str, int], list[Any]]) -> None:
    """The recipe's last phase: PROXY_ANNEAL_STEPS from PROXY_ANNEAL_LR down to zero (cosine), on scenes of their
    own (seed 3), so the weights end where a further fine-tune at the ladder's rate has little left to find."""
    from converters import detection

    steps = scaled(PROXY_ANNEAL_STEPS)
    detection.train(model, steps=steps, batch=PROXY_BATCH, learning_rate=PROXY_ANNEAL_LR, seed=3, final_lr=0.0,
                    callbacks=callbacks("anneal", steps))
