"""Short training recipes for the zoo, and the fine-tuning the compression passes share.

A zoo model is trained once by its task's recipe (super-resolution on image patches, classification
on generated shapes, detection through converters.detection) and its weights are cached by content:
model definition, recipe code, TensorFlow version, the user's image folder and the recipe length.
A second run loads the weights and trains nothing.

Recipes are sized for 2 CPU cores: about a minute each by default (FSRCNN-style models a few
minutes, see SR_LR_STEPS; they start as bicubic upsampling, converters.interpolator). `HARNESS_RECIPE=long` trains
ten times longer (better accuracy); `HARNESS_RECIPE=quick` a tenth (tests, smoke runs).
Fully convolutional models train on small crops (SRCNN on 32x32, SqueezeNet on 64x64) and the
weights are copied into the full-size model, which costs a fraction of full-size training.
"""
from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Sequence

import numpy as np

from converters.datasets import TaskInfo, classification_data, sr_pairs
from converters.distill import CLS_DISTILL_T, distillation_loss, softmax_output, teacher_logits
from converters.interpolator import keep_carry
from converters.cache import default_cache_dir
from converters.passes import ConversionError
from converters.progress import progress_callbacks
from converters.tasks import model_task

if TYPE_CHECKING:  # tf_keras ships no type information: mypy cannot check these names
    import tf_keras

    from converters.passes import Source
    from converters.zoo import ModelSpec

RECIPE_ENV = "HARNESS_RECIPE"
STEP_FACTOR = {"quick": 0.1, "default": 1.0, "long": 10.0}
CONVERTERS_DIR = Path(__file__).resolve().parent

# Default recipe lengths (steps before STEP_FACTOR) and crop sides. Measured on 2 busy cores:
# SRCNN 9-1-5 reaches bicubic +0.3 dB in 1500 steps (~25 s), SqueezeNet ~95% top-1 on held-out
# shapes in 500 steps (~45 s; the shapes are no longer the recipe's data). FSRCNN (LR input, no bicubic
# start) is only at bicubic after the
# same 1500 steps of 16 crops (FSRCNN-s 29.19 dB against bicubic 29.14 and SRCNN 9-5-5's 29.64);
# its 16x16 LR crops are so cheap that batches of 64 cost little more per step, so its recipe is
# SR_LR_STEPS of SR_LR_BATCH over SR_LR_CROPS distinct crops. FSRCNN-s with batches of 64 at 3e-3:
# 3000 steps 29.55 dB, 6000 steps 29.61 dB (~300 s on 7x-loaded cores); 5e-3 and 1e-2 did worse,
# as did 32x32 crops and the paper's Gaussian (std 0.001) deconvolution init. 10000 steps gave
# 29.52 dB in the recipe run (394 s loaded): seeds move FSRCNN-s by ~0.1 dB, still short of 9-5-5.
# 10000 steps cost full FSRCNN ~670 s on loaded cores and the default plan trains it, so the
# default is 3000 steps (`long`: 30000); PReLU slopes start at 0.25 (zoo.py). All of that from random
# weights; FSRCNN now starts as bicubic upsampling with that path kept fixed (converters.interpolator,
# spec.carry), which the same 3000 steps take to FSRCNN-s 29.61 dB and full FSRCNN 29.75 dB.
# SRCNN-style models: 1500 steps left SRCNN 9-1-5 0.23 dB short of the same model trained 1500 steps more
# (29.80 vs 30.03 dB, 48 held-out crops); 6000 steps reach 30.13 dB (+0.65 over bicubic) and 1500 more add
# -0.004 dB: a fair fp32 baseline for the controls (184 s at load 28 on 2 cores).
SR_STEPS, SR_BATCH, SR_CROPS = 6000, 16, 4000
SR_LR_STEPS, SR_LR_BATCH, SR_LR_CROPS = 3000, 64, 40000  # LR-input (FSRCNN-style) models
SR_LR = {True: 1e-3, False: 3e-3}  # upsampled-input (SRCNN) models diverge above 1e-3
# Per-model recipe lengths (steps before STEP_FACTOR) where the task's default leaves a zoo entry under-trained
# (issue 23; `name@overrides` of that entry too). FSRCNN-s at SR_LR_STEPS: the same recipe twice as long gained
# +0.06 dB (+0.03 to +0.09, 48 held-out crops; benchmarks/recipe_length.py), so its fp32 was no fair baseline.
# SRCNN 9-5-5 at SR_STEPS: its 6000-step fine-tuned control (nothing compressed) beat its fp32 by +0.09 dB
# (+0.05 to +0.12, 48 held-out crops; README, issue 23), so it was under-trained; at 9000 steps still +0.06
# (+0.02 to +0.09), at 15000 +0.02 (-0.00 to +0.03): 15000 steps.
# Only these entries' shipped identities carry it (converters.shipped): the others keep their weights.
SR_MODEL_STEPS = {"fsrcnn_s": 6000, "srcnn_955": 15000}
# Per-model recipe options beside the length (issue 23, the FSRCNN paper's training; benchmarks/fsrcnn_paper.py):
# "augment": each training crop turned by a random one of the 8 rotations/flips (the paper rotates its 91 images);
# "deconv_lr": the deconvolution's updates scaled by this factor (the paper: 1e-4 against the convolutions' 1e-3;
# Adam's step is proportional to its rate, so scaling the update is a per-layer rate); "scale": crops drawn also
# from the training photos downscaled by SR_SCALES (the paper scales its 91 images by 0.9-0.6). In the shipped identity.
# FSRCNN-s: the paper's initialisation (zoo entry, init=paper) and rotations/flips at its 6000 steps: against the
# Glorot start without turns, seeds 0/1/2 +0.12/+0.04/+0.17 dB, their per-crop mean +0.11 (+0.06 to +0.16), 48 held-out
# crops (benchmarks/fsrcnn_paper.py; README, issue 23, sixth round).
SR_MODEL_RECIPE: dict[str, dict[str, float | bool]] = {"fsrcnn_s": {"augment": True}}
SR_SCALES = (0.9, 0.8, 0.7, 0.6)
# Classification (patches of real photos, converters.texture_patches): 500 steps gave SqueezeNet 0.53 top-1
# on the 1000 held-out 224 px patches (154 s at load 51), three classes still near 0: 1500 steps.
CLS_STEPS, CLS_BATCH, CLS_LR, CLS_SIDE, CLS_NATIVE_STEPS = 1500, 32, 1e-3, 64, 20
# A fine-tune of at most this many steps runs eagerly: tracing the train step costs more than the steps do
# (one thread, `python benchmarks/short_fine_tune.py`: MobileNetV3Small 32x32 2 steps 5.3 CPU-s traced vs 1.0 eager,
# 8 steps 5.4 vs 3.1, 16 steps 5.2 vs 5.9; the tiny SqueezeNet 8 steps 1.8 vs 1.4, 16 steps 2.1 vs 2.7).
EAGER_STEPS = 8
DET_STEPS = 400
# How long a compression pass (prune, prune_sparse, deep_compression, prune_channels, factorize) fine-tunes
# when its `steps` is not given, by task (steps before STEP_FACTOR). Its control (converters.control) gets the
# same steps. Not part of the shipped weights' identity (converters.shipped): only the compressed variants and
# their controls change with it, never the fp32 recipes. Issue 23: 400 steps (prune, prune_channels) and 1500
# (factorize) left every seed goal missed on the unsaturated data, mostly from under-tuning: SqueezeNet as long
# as its own recipe (CLS_STEPS), SRCNN-style models half their recipe (the split/pruned model starts from trained
# weights). Detection keeps the prune passes' earlier 400 (the ladder gives its own).
# Super-resolution 3000 -> 6000 (issue 23, fourth round): SRCNN 9-1-5 factorized (9x9 extraction split at rank 2)
# lost 0.07 dB against its control after 3000 steps and 0.00 (-0.04 to +0.03) after 6000, 84% -> 91% of fp32's gain.
COMPRESSION_STEPS = {"classification": 1500, "super_resolution": 6000, "detection": 400}
# Fine-tuning after a compression pass. Classification trains its BatchNorm twin (see bn_twin),
# which wants the recipe's rate: at 5e-4 a 90%-pruned SqueezeNet stays near chance, at 2e-3 it
# recovers 98% top-1 in 400 steps.
FINE_TUNE_LR = {"classification": 2e-3, "super_resolution": 5e-4, "detection": 5e-4}
# Knowledge distillation in that fine-tune (`@distill=W`, CLS_DISTILL): converters/distill.py.


def recipe_mode() -> str:
    mode = os.environ.get(RECIPE_ENV, "default")
    if mode not in STEP_FACTOR:
        raise ConversionError(f"${RECIPE_ENV}={mode!r}: expected one of {', '.join(STEP_FACTOR)}")
    return mode


def scaled(steps: int) -> int:
    """Steps for the current recipe length (never fewer than 2)."""
    return max(2, int(round(steps * STEP_FACTOR[recipe_mode()])))


def compression_steps(steps: object, info: TaskInfo) -> int:
    """A compression pass's fine-tuning steps for this recipe length: the user's `steps` when given (0: none),
    else the task's COMPRESSION_STEPS."""
    if steps is None or steps == "":
        return scaled(COMPRESSION_STEPS.get(info.kind, COMPRESSION_STEPS["detection"]))
    if not isinstance(steps, (int, float, str)):
        raise ValueError(f"steps: expected a whole number, got {type(steps).__name__}")
    n = int(steps)
    return scaled(n) if n > 0 else 0


def spec_task(spec: ModelSpec | None, keras_model: tf_keras.Model) -> TaskInfo:
    return model_task(spec.task, keras_model, spec.kwargs.get("scale"))


# ---------------------------------------------------------------- resizing and fine-tuning


_KEEP = object()


def copy_at(model: tf_keras.Model, side: int | None = None, batch: int | None | object = _KEEP) -> tf_keras.Model:
    """A copy of `model` with its weights, on a side x side input (None: the same size).

    `batch=None` frees a fixed batch dimension (zoo models fix it to 1 so the converter folds
    shapes; training needs real batches). Raises ValueError when weights depend on the size.
    """
    import tf_keras as keras

    shape = tuple(model.input_shape)
    new_shape = shape[1:] if side is None else (side, side, *shape[3:])
    inp = keras.Input(new_shape, batch_size=shape[0] if batch is _KEEP else batch, name=model.input_names[0])
    try:
        clone = keras.models.clone_model(model, input_tensors=inp)
    except Exception as exc:  # Flatten + Dense and the like: weights tied to the input size
        raise ValueError(f"{model.name}: cannot rebuild on {new_shape}: {str(exc).splitlines()[0][:200]}") from None
    old, new = model.get_weights(), clone.get_weights()
    if [w.shape for w in old] != [w.shape for w in new]:
        raise ValueError(f"{model.name}: weights depend on the input size")
    clone.set_weights(old)
    return clone


def train_side(info: TaskInfo, input_shape: Sequence[int | None]) -> int | None:
    """The input side to train on: a small crop for convolutional SR and classification models."""
    if len(input_shape) != 4 or input_shape[1] != input_shape[2] or input_shape[1] is None:
        return None
    side = int(input_shape[1])
    if info.kind == "super_resolution":
        small = 32 if info.upsampled_input else 16
    elif info.kind == "classification":
        small = CLS_SIDE
    else:
        return None
    return small if small < side else None


def fine_tune(model: tf_keras.Model, info: TaskInfo, steps: int, image_dir: str | None = None, lr: float = 5e-4,
              callbacks: Sequence[tf_keras.callbacks.Callback] = (), seed: int = 1, batch: int | None = None,
              teacher: tf_keras.Model | None = None, distill: float = 0.0, crops: int | None = None,
              augment: bool = False, scales: Sequence[float] = (), eager: bool | None = None) -> None:
    """Train `model` in place on its task's data at its own input size.

    With a `teacher` (same input and output size) and `distill` > 0, knowledge distillation (Hinton et al.
    2015). Super-resolution: the target is distill * teacher output + (1 - distill) * ground truth: the MSE to
    that blend is, up to a constant, the sum of the two weighted MSEs; the teacher's output is smoother than
    the ground truth, so a compressed student follows it faster. Classification: distillation_loss at
    CLS_DISTILL_T, the teacher's logits computed once on the same training patches.
    `crops`: how many distinct super-resolution crops to draw at most (SR_CROPS by default). `augment`
    (super-resolution): every crop and its target turned by a random one of the 8 rotations/flips. `scales`
    (super-resolution): crops drawn also from the training images downscaled by each factor (datasets.sr_pairs).
    `eager`: run the steps eagerly or traced; by default eagerly up to EAGER_STEPS steps.
    """
    import tensorflow as tf
    import tf_keras as keras

    if steps <= 0:
        return
    shape = tuple(model.input_shape)
    if info.kind == "detection":
        from converters import detection

        detection.train(model, image_dir, steps=steps, callbacks=list(callbacks) + progress_callbacks("train", steps),
                        learning_rate=lr, seed=seed)
        return
    if info.kind == "super_resolution":
        batch = batch or SR_BATCH
        out_side = int(model.output_shape[1])
        x, y, _ = sr_pairs(info, out_side, min(crops or SR_CROPS, steps * batch), seed, image_dir, scales=scales)
        if augment:
            x, y = dihedral(x, y, seed)
        if teacher is not None and distill > 0:
            y = (distill * teacher.predict(x, batch_size=64, verbose=0) + (1.0 - distill) * y).astype(np.float32)
        loss: Any = "mse"
    elif info.kind == "classification":
        batch = batch or (CLS_BATCH if int(shape[1]) <= 96 else 8)
        x, y = classification_data(info, int(shape[1]), min(3000, steps * batch), seed, image_dir)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax_output(model))
        if teacher is not None and distill > 0:  # the teacher term over the data's classes (CLS_DISTILL)
            k = int(y.max()) + 1
            y = np.concatenate([y[:, None].astype(np.float32), teacher_logits(teacher, x)[:, :k]], axis=1)
            loss = distillation_loss(distill, CLS_DISTILL_T, from_logits=not softmax_output(model))
    else:
        raise ConversionError(f"{model.name}: no training recipe for this model (task unknown from its shapes)")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed).repeat().batch(batch)
    schedule = keras.optimizers.schedules.CosineDecay(lr, steps, alpha=0.1)
    model.compile(keras.optimizers.Adam(schedule), loss, run_eagerly=steps <= EAGER_STEPS if eager is None else eager)
    prebuild_optimizer(model)
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0,
              callbacks=list(callbacks) + progress_callbacks("train", steps))


def prebuild_optimizer(model: tf_keras.Model) -> None:
    """The compiled optimizer's slot variables made now, not in the first training step: a train step that makes
    variables is traced twice by tf.function (once making them, once without), and tracing is most of a short
    fine-tune's cost (MobileNetV3Small, 2 steps: traced twice 7.4 CPU-s, once 4.6). Same initial values, so the
    same weights after training, bit for bit."""
    model.optimizer.build(model.trainable_variables)


def dihedral(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each (input, target) pair turned by the same random one of the 8 rotations/flips of the square."""
    rng = np.random.default_rng(seed + 7919)
    x, y = x.copy(), y.copy()
    for i, k in enumerate(rng.integers(0, 8, len(x))):
        for a in (x, y):
            t = np.rot90(a[i], k % 4, axes=(0, 1))
            a[i] = t[:, ::-1] if k >= 4 else t
    return x, y


def scaled_updates(layer_type: str, factor: float) -> tf_keras.callbacks.Callback:
    """A callback that scales every training step's update of the layers of `layer_type` by `factor`: with
    Adam (whose step is proportional to its rate) a per-layer learning rate, which Keras' optimizers lack."""
    import tf_keras as keras

    class ScaledUpdates(keras.callbacks.Callback):  # type: ignore[misc]
        def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
            self.vars = [v for layer in self.model.layers if type(layer).__name__ == layer_type
                         for v in layer.trainable_weights]
            self.before = [v.numpy() for v in self.vars]

        def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
            for i, v in enumerate(self.vars):
                v.assign(self.before[i] + factor * (v.numpy() - self.before[i]))
                self.before[i] = v.numpy()

    return ScaledUpdates()


def tuned_copy(model: tf_keras.Model, info: TaskInfo, transform: Callable[[tf_keras.Model], tf_keras.Model], steps: int,
               image_dir: str | None = None, lr: float = 5e-4, callbacks: Callable[[], list] = list,
               finish: Callable[[tf_keras.Model], None] | None = None, distill: float = 0.0,
               batch: int | None = None, crops: int | None = None, augment: bool = False, seed: int = 1,
               scales: Sequence[float] = ()) -> tf_keras.Model:
    """transform(a copy of model), fine-tuned: on small crops when the model allows, then copied back.

    The same transform is applied to a trainee (small input, free batch) and to a full-size copy;
    both hold identical weights (pruning masks, cluster centroids, quantizer ranges included), so
    training the trainee and copying its weights gives the trained full-size model at a fraction
    of the cost. `finish` runs on the full-size model afterwards. `distill` > 0 distills the untransformed
    model into the transformed one (fine_tune).
    """
    native = transform(copy_at(model))
    if info.kind == "detection":  # fixed anchors: trains at its own size through its own graph
        fine_tune(native, info, steps, image_dir, lr, callbacks())
    else:
        trainee = teacher = None
        side = train_side(info, tuple(model.input_shape))
        for s in ((side, None) if side else (None,)):
            try:
                # the full-size copy trains itself when it already is what a trainee would be (same side, free
                # batch: a user's model): the transform is not made twice (TF-MOT's QAT on MobileNetV3Small
                # 32x32 costs about 20 CPU-s a time)
                trainee = native if s is None and model.input_shape[0] is None else transform(
                    copy_at(model, s, batch=None))
                if distill > 0 and info.kind in ("super_resolution", "classification"):
                    teacher = copy_at(model, s, batch=None)
                break
            except ValueError:
                continue
        if trainee is None or [w.shape for w in trainee.get_weights()] != [w.shape for w in native.get_weights()]:
            raise ConversionError(f"{model.name}: cannot make a trainable copy of this model")
        fine_tune(trainee, info, steps, image_dir, lr, callbacks(), teacher=teacher, distill=distill,
                  batch=batch, crops=crops, augment=augment, seed=seed, scales=scales)
        if trainee is not native:
            native.set_weights(trainee.get_weights())
    if finish is not None:
        finish(native)
    return native


def bn_twin(spec: ModelSpec | None, model: tf_keras.Model, side: int | None = None) -> tf_keras.Model | None:
    """The zoo builder's BatchNorm twin carrying `model`'s weights, with identity batch norms.

    Fine-tuning a deep ReLU network without normalization after a big change (90% of weights
    pruned, kernels factorized) loses the signal and never recovers; in the twin, batch norm
    rescales every layer while it trains, and folding afterwards keeps zeros zero.
    None when the model has no twin (only SqueezeNet does).
    """
    import inspect

    if spec is None or "batchnorm" not in inspect.signature(spec.build).parameters:
        return None
    side = side or int(model.input_shape[1])
    twin = spec.create(batchnorm=True, size=side)
    for layer in twin.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([np.ones_like(gamma), np.zeros_like(beta), np.zeros_like(mean), np.ones_like(var)])
        elif layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return twin


def fine_tuned(src: Source, transform: Callable[[tf_keras.Model], tf_keras.Model], steps: int, lr: float,
               callbacks: Callable[[], list[tf_keras.callbacks.Callback]] = list,
               strip: Callable[[tf_keras.Model], tf_keras.Model] = lambda m: m,
               target: Callable[[tf_keras.Model], tf_keras.Model] = lambda m: m, use_twin: bool = True,
               distill: float = 0.0) -> tf_keras.Model:
    """A compression pass's trained model: transform, fine-tune, strip the training wrappers.

    With a BatchNorm twin (and `use_twin`), the twin is transformed and trained instead, then
    folded into `target(copy of the plain model)`, which must have the stripped twin's layers.
    `distill` > 0: the untransformed model (at the training side) is the teacher (fine_tune).
    """
    model, info = src.keras_model, src.task_info()
    spec = getattr(src, "spec", None)
    native_twin = bn_twin(spec, model) if use_twin and info.kind == "classification" else None
    if native_twin is None:
        return strip(tuned_copy(model, info, transform, steps, src.image_dir, lr, callbacks, distill=distill))
    side = train_side(info, tuple(model.input_shape))
    native = transform(native_twin)
    trainee = transform(bn_twin(spec, model, side))
    teacher = copy_at(model, side, batch=None) if distill > 0 else None
    fine_tune(trainee, info, steps, src.image_dir, lr, callbacks(), teacher=teacher, distill=distill)
    native.set_weights(trainee.get_weights())
    plain = target(copy_at(model))
    fold_batchnorm(strip(native), plain)
    return plain


# ---------------------------------------------------------------- the cached zoo recipes


def _tree_digest(path: str | Path | None) -> str:
    if path is None:
        return "none"
    h = hashlib.sha256()
    p = Path(path)
    for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
        if f.is_file():
            h.update(str(f.relative_to(p) if p.is_dir() else f.name).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def weights_key(spec: ModelSpec, image_dir: str | Path | None) -> str:
    """Content key of a recipe's result: definition, recipe code, TF version, data and length."""
    h = hashlib.sha256()
    files = ["zoo.py", "training.py", "distill.py", "datasets.py", "data.py"]  # distill.py: softmax_output
    if spec.task == "detection":
        files += ["detection.py", "detection_data.py", "detection_scenes.py", "detection_proxy.py"]
    for name in files:
        p = CONVERTERS_DIR / name
        if p.exists():
            h.update(name.encode())
            h.update(p.read_bytes())
    try:
        tf_version = metadata.version("tensorflow")
    except metadata.PackageNotFoundError:
        tf_version = "none"
    h.update(json.dumps({"name": spec.name, "kwargs": spec.kwargs, "task": spec.task, "tf": tf_version,
                         "mode": recipe_mode(), "images": _tree_digest(image_dir)},
                        sort_keys=True, default=str).encode())
    return h.hexdigest()[:24]


RECIPES_RUN: list[str] = []  # names of the recipes this process trained (a warm cache leaves it empty)


def _train_recipe(spec: ModelSpec, model: tf_keras.Model, image_dir: str | None,
                  base_weights: Callable[[str], list[np.ndarray]] | None = None, seed: int = 0) -> None:
    """Train `model` by its zoo entry's recipe. `seed` (super-resolution; 0 = the shipped recipe's) moves the
    recipe's random draws: its crops, their order and turns (a seed check, benchmarks/fsrcnn_paper.py)."""
    import tf_keras as keras

    RECIPES_RUN.append(spec.name)
    info = spec_task(spec, model)
    keras.utils.set_random_seed(seed)
    if info.kind == "detection":
        from converters import detection, detection_proxy

        if spec.build.__name__ == "faster_rcnn_proxy":  # 600 px from scratch, other sizes fine-tuned from it
            if base_weights is None:
                raise ConversionError(f"{spec.name}: its recipe needs another entry's weights (call trained())")
            detection_proxy.train_recipe(spec, model, scaled, progress_callbacks, base_weights)
            return
        detection.train(model, image_dir, quick=recipe_mode() == "quick", steps=scaled(DET_STEPS),
                        callbacks=progress_callbacks("train", scaled(DET_STEPS)))
        return
    if info.kind == "super_resolution":
        steps, batch, crops = sr_recipe(info, spec.name)
        options = sr_model_recipe(spec.name)
        deconv_lr = float(options.get("deconv_lr", 1.0))

        def keep() -> list[tf_keras.callbacks.Callback]:  # the update scaled first, then the carry re-imposed
            scale = [scaled_updates("Conv2DTranspose", deconv_lr)] if deconv_lr != 1.0 else []
            return scale + ([keep_carry()] if getattr(spec, "carry", False) else [])

        tuned = tuned_copy(model, info, lambda m: m, steps, image_dir, SR_LR[info.upsampled_input],
                           callbacks=keep, batch=batch, crops=crops, augment=bool(options.get("augment", False)),
                           seed=1 + seed, scales=SR_SCALES if options.get("scale") else ())
        model.set_weights(tuned.get_weights())
    elif info.kind == "classification":
        _train_classifier(spec, model, info, image_dir)
    else:
        raise ConversionError(f"{spec.name}: no training recipe for task {spec.task!r}")


def sr_recipe(info: TaskInfo, name: str = "") -> tuple[int, int, int]:
    """(steps, batch, crops) of a super-resolution recipe: SRCNN-style models on upsampled 32x32
    crops, LR-input (FSRCNN-style) models longer on bigger batches of their 16x16 LR crops; a zoo
    entry named in SR_MODEL_STEPS trains its own number of steps."""
    own = sr_model_steps(name)
    if info.upsampled_input:
        return scaled(own or SR_STEPS), SR_BATCH, SR_CROPS
    return scaled(own or SR_LR_STEPS), SR_LR_BATCH, SR_LR_CROPS


def sr_model_steps(name: str) -> int | None:
    """The zoo entry's own super-resolution recipe length (SR_MODEL_STEPS), None when it has none."""
    return SR_MODEL_STEPS.get(name.partition("@")[0])


def sr_model_recipe(name: str) -> dict[str, float | bool]:
    """The zoo entry's own super-resolution recipe options (SR_MODEL_RECIPE), empty when it has none."""
    return dict(SR_MODEL_RECIPE.get(name.partition("@")[0], {}))


def _train_classifier(spec: ModelSpec, model: tf_keras.Model, info: TaskInfo, image_dir: str | None) -> None:
    """Train the BatchNorm twin on small crops when the builder has one, fold it, then a few
    full-size steps so the statistics of the full input size are seen once."""
    import inspect

    side = train_side(info, tuple(model.input_shape))
    if "batchnorm" in inspect.signature(spec.build).parameters:
        twin = spec.create(batchnorm=True, **({"size": side} if side else {}))
        fine_tune(twin, info, scaled(CLS_STEPS), image_dir, CLS_LR)
        fold_batchnorm(twin, model)
    else:
        model.set_weights(tuned_copy(model, info, lambda m: m, scaled(CLS_STEPS), image_dir, CLS_LR).get_weights())
    if side:  # a few steps at the full size (a free-batch copy; weights copied back)
        trainee = copy_at(model, None, batch=None)
        fine_tune(trainee, info, scaled(CLS_NATIVE_STEPS), image_dir, CLS_LR / 20, seed=2)
        model.set_weights(trainee.get_weights())


def fold_batchnorm(twin: tf_keras.Model, plain: tf_keras.Model) -> None:
    """Copy a BatchNorm-trained twin into the plain network: each conv absorbs the BN after it.

    y = gamma (Wx + b - mean) / sqrt(var + eps) + beta, so W' = W s and b' = (b - mean) s + beta
    with s = gamma / sqrt(var + eps), per output channel.
    """
    names = {layer.name for layer in twin.layers}
    for layer in plain.layers:
        if not layer.weights:
            continue
        weights = twin.get_layer(layer.name).get_weights()
        if f"{layer.name}_bn" in names:
            bn = twin.get_layer(f"{layer.name}_bn")
            gamma, beta, mean, var = bn.get_weights()
            s = gamma / np.sqrt(var + bn.epsilon)
            kernel, bias = weights[0] * s, (weights[1] if len(weights) > 1 else 0.0)
            weights = [kernel, (bias - mean) * s + beta]
        layer.set_weights(weights)


# (spec, keras model) -> loaded the shipped weights into it
ShippedLoader = Callable[["ModelSpec", "tf_keras.Model"], bool]


def trained(spec: ModelSpec, keras_model: tf_keras.Model, image_dir: str | Path | None,
            cache_dir: str | Path | None = None, retrained: bool = False,
            load_shipped: ShippedLoader | None = None) -> tf_keras.Model:
    """The zoo model with its recipe's weights from the local cache, else trained here and stored (the
    shipped weights are tried first by the caller: converters.shipped imports this module, not the reverse).
    `retrained` (--retrain) keeps weights trained here apart from those trained without it. `load_shipped`
    (converters.shipped.load, from the caller) serves a recipe that starts from another entry's weights."""
    if not getattr(spec, "trainable", True):  # no recipe: its own initial weights (seeded), never trained
        return keras_model
    if cache_dir is None:
        cache_dir = default_cache_dir()
    folder = Path(cache_dir) / "weights"
    folder.mkdir(parents=True, exist_ok=True)
    key = weights_key(spec, image_dir)
    if retrained:  # trained here, kept apart from weights trained without --retrain
        key = f"{key}-retrained"
    path = folder / f"{spec.name.replace('/', '_')}-{key}.npz"
    if path.exists():
        with np.load(path) as data:
            keras_model.set_weights([data[f"w{i}"] for i in range(len(data.files))])
        return keras_model
    def base_weights(name: str) -> list[np.ndarray]:
        """Another zoo entry's recipe weights (the proxy's 600 px base): shipped, cached, else trained."""
        from converters.zoo import get_spec

        base = get_spec(name)
        source = base.create()
        if not (load_shipped is not None and load_shipped(base, source)):
            trained(base, source, None, retrained=retrained, load_shipped=load_shipped)
        weights: list[np.ndarray] = source.get_weights()
        return weights

    _train_recipe(spec, keras_model, None if image_dir is None else str(image_dir), base_weights)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{f"w{i}": w for i, w in enumerate(keras_model.get_weights())})
    tmp.replace(path)
    return keras_model
