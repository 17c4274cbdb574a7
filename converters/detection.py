"""Faster R-CNN (Ren et al. 2015) in tf_keras that converts to TFLite with built-in ops only.

The ai-edge-litert wheel has no Flex (select TF) ops, so every step is written with built-ins:
anchors are constants, proposal decoding is arithmetic, NMS is NON_MAX_SUPPRESSION_V4 padded to a
fixed count, and the ROI crop (tf.image.crop_and_resize, a Flex op) is bilinear sampling written
as two batched matmuls with "tent" interpolation weights. Trainable layers are plain Conv2D,
BatchNormalization and Dense so tensorflow-model-optimization can prune them; the three custom
layers have no weights.
"""
from __future__ import annotations

import time
from pathlib import Path
from collections.abc import Iterable, Sequence

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tf_keras import layers

from converters.detection_data import (
    CLASSES, VARIANCES, head_targets, make_anchors, matched_detections, mean_average_precision,
    rpn_targets,
)

_LOG_CLIP = float(np.log(1000.0 / 16))  # largest log-scale change a delta may ask for


def _decode(deltas: tf.Tensor, refs: tf.Tensor) -> tf.Tensor:
    """Boxes from deltas relative to reference boxes (anchors or proposals), last axis 4."""
    d = deltas * VARIANCES
    rh, rw = refs[..., 2] - refs[..., 0], refs[..., 3] - refs[..., 1]
    cy, cx = refs[..., 0] + 0.5 * rh + d[..., 0] * rh, refs[..., 1] + 0.5 * rw + d[..., 1] * rw
    h = rh * tf.exp(tf.minimum(d[..., 2], _LOG_CLIP))
    w = rw * tf.exp(tf.minimum(d[..., 3], _LOG_CLIP))
    return tf.stack([cy - 0.5 * h, cx - 0.5 * w, cy + 0.5 * h, cx + 0.5 * w], -1)


def _nms(boxes: tf.Tensor, scores: tf.Tensor, count: int, iou: float, threshold: float):
    """Indices [count] and a 0/1 validity mask [count]: NMS v4 padded to a fixed size (a built-in)."""
    idx, valid = tf.raw_ops.NonMaxSuppressionV4(
        boxes=boxes, scores=scores, max_output_size=count, iou_threshold=iou,
        score_threshold=threshold, pad_to_max_output_size=True)
    return idx, tf.cast(tf.range(count) < valid, tf.float32)


def roi_crop(features: tf.Tensor, boxes: tf.Tensor, crop: int) -> tf.Tensor:
    """tf.image.crop_and_resize (bilinear, extrapolation 0) with built-in ops only.

    features [B, H, W, C], boxes [B, R, 4] normalized -> [B, R, crop, crop, C]. Sample points
    follow crop_and_resize: y = y1 * (H - 1) + i * (y2 - y1) * (H - 1) / (crop - 1). Bilinear
    weights are max(0, 1 - |y - h|) over the rows h (zero for points outside the map), so the
    crop is Wy @ F @ Wx^T: two batched matmuls instead of a Flex op.
    """
    h, w, c = (int(d) for d in features.shape[1:])
    r = int(boxes.shape[1])
    steps = np.arange(crop, dtype=np.float32) / max(crop - 1, 1) if crop > 1 else np.array([0.5], np.float32)

    def weights(lo: tf.Tensor, hi: tf.Tensor, n: int) -> tf.Tensor:
        pts = (lo[..., None] + (hi - lo)[..., None] * steps) * float(n - 1)  # B, R, crop
        inside = tf.cast((pts >= 0.0) & (pts <= float(n - 1)), tf.float32)
        grid = np.arange(n, dtype=np.float32)
        return tf.nn.relu(1.0 - tf.abs(pts[..., None] - grid)) * inside[..., None]  # B, R, crop, n

    wy = weights(boxes[..., 0], boxes[..., 2], h)
    wx = weights(boxes[..., 1], boxes[..., 3], w)
    rows = tf.matmul(tf.reshape(wy, [-1, r * crop, h]), tf.reshape(features, [-1, h, w * c]))  # B, R*crop, W*C
    rows = tf.transpose(tf.reshape(rows, [-1, crop, w, c]), [0, 2, 1, 3])  # B*R, W, crop_y, C
    out = tf.matmul(tf.reshape(wx, [-1, crop, w]), tf.reshape(rows, [-1, w, crop * c]))  # B*R, crop_x, crop_y*C
    out = tf.transpose(tf.reshape(out, [-1, crop, crop, c]), [0, 2, 1, 3])  # B*R, crop_y, crop_x, C
    return tf.reshape(out, [-1, r, crop, crop, c])


class _NoWeights(layers.Layer):
    """Base of the decoding layers: nothing to prune, which tfmot asks layers to say."""

    def get_prunable_weights(self) -> list:
        return []


class ProposalLayer(_NoWeights):
    """RPN maps -> a fixed number of proposals: top-k, decode against anchors, clip, NMS."""

    def __init__(self, image_size: int, feature_size: int, scales: Sequence[float], ratios: Sequence[float],
                 pre_nms: int = 256, proposals: int = 48, iou: float = 0.7, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.cfg = dict(image_size=image_size, feature_size=feature_size, scales=list(scales),
                        ratios=list(ratios), pre_nms=pre_nms, proposals=proposals, iou=iou)
        self.anchors = make_anchors(image_size, feature_size, scales, ratios)

    def call(self, inputs):
        cls_map, box_map = inputs
        logits = tf.reshape(cls_map, [-1])
        deltas = tf.reshape(box_map, [-1, 4])
        top = tf.math.top_k(logits, k=min(self.cfg["pre_nms"], len(self.anchors)))
        boxes = _decode(tf.gather(deltas, top.indices), tf.gather(self.anchors, top.indices))
        boxes = tf.clip_by_value(boxes, 0.0, 1.0)
        idx, valid = _nms(boxes, top.values, self.cfg["proposals"], self.cfg["iou"], -1e9)
        return tf.gather(boxes, idx)[None], valid[None]

    def get_config(self) -> dict:
        return {**super().get_config(), **self.cfg}


class RoiCrop(_NoWeights):
    """A fixed-size bilinear crop of the feature map for every proposal (see roi_crop)."""

    def __init__(self, crop: int = 7, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.crop = crop

    def call(self, inputs):
        features, boxes = inputs
        return roi_crop(features, boxes, self.crop)

    def get_config(self) -> dict:
        return {**super().get_config(), "crop": self.crop}


class DetectionLayer(_NoWeights):
    """Head outputs -> `detections` boxes, scores and classes after class-aware NMS."""

    def __init__(self, detections: int = 16, iou: float = 0.5, score_threshold: float = 0.05,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.cfg = dict(detections=detections, iou=iou, score_threshold=score_threshold)

    def call(self, inputs):
        proposals, valid, logits, deltas = inputs
        probs = tf.nn.softmax(logits[0], -1)[:, 1:]  # N, K (column 0 is background)
        scores = tf.reduce_max(probs, -1) * valid[0]
        classes = tf.cast(tf.argmax(probs, -1), tf.float32)
        boxes = tf.clip_by_value(_decode(deltas[0], proposals[0]), 0.0, 1.0)
        # Shifting each class to its own unit square makes one NMS call class-aware.
        idx, keep = _nms(boxes + 2.0 * classes[:, None], scores, self.cfg["detections"], self.cfg["iou"],
                         self.cfg["score_threshold"])
        return tf.gather(boxes, idx)[None], (tf.gather(scores, idx) * keep)[None], tf.gather(classes, idx)[None]

    def get_config(self) -> dict:
        return {**super().get_config(), **self.cfg}


CUSTOM_OBJECTS = {"ProposalLayer": ProposalLayer, "RoiCrop": RoiCrop, "DetectionLayer": DetectionLayer}


def faster_rcnn(size: int = 128, classes: int = len(CLASSES), proposals: int = 48, detections: int = 16,
                width: int = 32, crop: int = 7, head_units: int = 128, pre_nms: int = 256,
                scales: Sequence[float] = (20, 36, 60), ratios: Sequence[float] = (0.5, 1.0, 2.0)) -> keras.Model:
    """Faster R-CNN with a small stride-8 VGG-style backbone, batch 1, fixed-size outputs.

    Outputs: boxes [1, detections, 4] (ymin, xmin, ymax, xmax in [0, 1]), scores [1, detections]
    (0 for padding) and classes [1, detections] (float class index). `size` must be a multiple of 8.
    """
    if size % 8:
        raise ValueError(f"faster_rcnn: size {size} is not a multiple of 8 (the backbone stride)")
    inp = keras.Input((size, size, 3), batch_size=1, name="image")
    x = inp
    for i, (filters, stride) in enumerate([(width // 2, 2), (width, 2), (width, 1), (2 * width, 2), (2 * width, 1)]):
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"bb_conv{i + 1}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bb_bn{i + 1}")(x)
        x = layers.ReLU(name=f"bb_relu{i + 1}")(x)
    return _heads(inp, x, size, classes, proposals, detections, 2 * width, crop, head_units, pre_nms, scales,
                  ratios, f"faster_rcnn_{size}")


def _heads(inp: tf.Tensor, features: tf.Tensor, size: int, classes: int, proposals: int, detections: int,
           rpn_width: int, crop: int, head_units: int, pre_nms: int, scales: Sequence[float], ratios: Sequence[float],
           name: str) -> keras.Model:
    """RPN, proposals, RoI crops, the two-layer head and detection decoding on a feature map."""
    feature_size = int(features.shape[1])
    channels = int(features.shape[-1])
    n_anchors = len(scales) * len(ratios)
    r = layers.Conv2D(rpn_width, 3, padding="same", activation="relu", name="rpn_conv")(features)
    rpn_cls = layers.Conv2D(n_anchors, 1, name="rpn_cls")(r)
    rpn_box = layers.Conv2D(4 * n_anchors, 1, name="rpn_box", kernel_initializer="zeros")(r)
    rois, valid = ProposalLayer(size, feature_size, scales, ratios, pre_nms, proposals,
                                name="proposals")([rpn_cls, rpn_box])
    crops = RoiCrop(crop, name="roi_crop")([features, rois])
    y = layers.Reshape((-1, crop * crop * channels), name="roi_flatten")(crops)
    y = layers.Dense(head_units, activation="relu", name="head_fc1")(y)
    y = layers.Dense(head_units, activation="relu", name="head_fc2")(y)
    head_cls = layers.Dense(classes + 1, name="head_cls")(y)
    head_box = layers.Dense(4, name="head_box", kernel_initializer="zeros")(y)
    boxes, scores, labels = DetectionLayer(detections, name="detections")([rois, valid, head_cls, head_box])
    outputs = [layers.Activation("linear", name=n)(t)
               for n, t in (("boxes", boxes), ("scores", scores), ("classes", labels))]
    return keras.Model(inp, outputs, name=name)


# Seed-scale backbones (Ren et al. 2015, Table/Fig. of the paper): stride 16, no LRN (ZF's local
# response normalization costs ~nothing and has no Keras layer). ("c", filters, kernel, stride)
# is a conv + ReLU, ("p", size, stride) a max pool; both "same"-padded.
BACKBONES: dict[str, list[tuple]] = {
    "zf": [("c", 96, 7, 2), ("p", 3, 2), ("c", 256, 5, 2), ("p", 3, 2), ("c", 384, 3, 1), ("c", 384, 3, 1),
           ("c", 256, 3, 1)],
    "vgg16": [("c", 64, 3, 1), ("c", 64, 3, 1), ("p", 2, 2), ("c", 128, 3, 1), ("c", 128, 3, 1), ("p", 2, 2),
              ("c", 256, 3, 1), ("c", 256, 3, 1), ("c", 256, 3, 1), ("p", 2, 2),
              ("c", 512, 3, 1), ("c", 512, 3, 1), ("c", 512, 3, 1), ("p", 2, 2),
              ("c", 512, 3, 1), ("c", 512, 3, 1), ("c", 512, 3, 1)],
}
SEED_RPN = {"zf": 256, "vgg16": 512}
SEED_CROP = {"zf": 6, "vgg16": 7}  # the papers' RoI pooling sizes


def faster_rcnn_seed(backbone: str = "zf", size: int = 600, proposals: int = 300, width: float = 1.0,
                     classes: int = 20, detections: int = 100, head_units: int = 4096, pre_nms: int = 6000,
                     crop: int | None = None, scales: Sequence[float] = (128, 256, 512),
                     ratios: Sequence[float] = (0.5, 1.0, 2.0), batchnorm: bool = False) -> keras.Model:
    """Faster R-CNN at the paper's scale: ZF or VGG16 backbone (stride 16), 9 anchors, `proposals`
    RoIs after NMS, fc6/fc7 of `head_units`, on a size x size input (the paper's shorter side).

    `width` multiplies every backbone and RPN channel count (1.0: the paper's). Untrained: nothing
    is downloaded, so its accuracy is not measured; latency, memory and size are real.
    `batchnorm` puts a BatchNormalization between each convolution and its ReLU (the trainable proxy,
    converters.detection_proxy: from scratch in minutes; the converter folds it into the convolution).
    """
    if backbone not in BACKBONES:
        raise ValueError(f"faster_rcnn_seed: backbone {backbone!r} (known: {', '.join(BACKBONES)})")
    if size < 64 or width <= 0:
        raise ValueError(f"faster_rcnn_seed: size {size} must be >= 64 and width {width} > 0")
    inp = keras.Input((size, size, 3), batch_size=1, name="image")
    x, conv, pool = inp, 0, 0
    for item in BACKBONES[backbone]:
        if item[0] == "c" and batchnorm:
            conv += 1
            x = layers.Conv2D(max(1, int(round(item[1] * width))), item[2], strides=item[3], padding="same",
                              use_bias=False, kernel_initializer="he_normal", name=f"bb_conv{conv}")(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"bb_bn{conv}")(x)
            x = layers.ReLU(name=f"bb_relu{conv}")(x)
        elif item[0] == "c":
            conv += 1
            x = layers.Conv2D(max(1, int(round(item[1] * width))), item[2], strides=item[3], padding="same",
                              activation="relu", kernel_initializer="he_normal", name=f"bb_conv{conv}")(x)
        else:
            pool += 1
            x = layers.MaxPooling2D(item[1], item[2], padding="same", name=f"bb_pool{pool}")(x)
    rpn = max(1, int(round(SEED_RPN[backbone] * width)))
    return _heads(inp, x, size, classes, proposals, detections, rpn, crop or SEED_CROP[backbone], head_units,
                  min(pre_nms, int(x.shape[1]) ** 2 * len(scales) * len(ratios)), scales, ratios,
                  f"faster_rcnn_{backbone}_{size}")


# ----------------------------------------------------------------------------------------- training

ROIS_PER_IMAGE = 32


class _Reuse:
    """A tensor_dict entry that can be popped any number of times (tf_keras Node.map_arguments pops)."""

    def __init__(self, tensor: tf.Tensor) -> None:
        self.tensor = tensor

    def pop(self) -> tf.Tensor:
        return self.tensor


def _unwrap(layer: keras.layers.Layer) -> keras.layers.Layer:
    """The layer inside tfmot's pruning/clustering/QAT wrappers, or the layer itself."""
    while isinstance(layer, layers.Wrapper):
        layer = layer.layer
    return layer


def training_graph(model: keras.Model, rois: int = ROIS_PER_IMAGE) -> keras.Model:
    """A batched training model that shares every layer (and weight) with the inference `model`.

    The inference graph is replayed node by node on a batch input; the proposal layer is swapped
    for an ROI input (sampled around the ground truth), and the decoding layers are dropped, so
    the outputs are the raw RPN maps and head logits/deltas the losses need. Layers wrapped by
    tfmot (pruning, clustering) are called through their wrappers, so their masks train too.
    """
    image = keras.Input(model.input_shape[1:], name="train_image")
    roi_in = keras.Input((rois, 4), name="train_rois")
    tensors: dict[str, _Reuse] = {str(id(model.inputs[0])): _Reuse(image)}
    outs: dict[str, tf.Tensor] = {}
    for depth in sorted(model._nodes_by_depth, reverse=True):  # noqa: SLF001 (the graph walk Keras does)
        for node in model._nodes_by_depth[depth]:
            if node.is_input:
                continue
            inner = _unwrap(node.layer)
            if isinstance(inner, DetectionLayer):  # needs only the head outputs here
                outs["head_cls"], outs["head_box"] = (tensors[i].tensor for i in node.flat_input_ids[2:])
                continue
            if any(i not in tensors for i in node.flat_input_ids):
                continue
            if isinstance(inner, ProposalLayer):
                outs["rpn_cls"], outs["rpn_box"] = (tensors[i].tensor for i in node.flat_input_ids)
                tensors[node.flat_output_ids[0]] = _Reuse(roi_in)
                continue
            args, kwargs = node.map_arguments(tensors)
            result = node.layer(*args, **kwargs)
            for oid, t in zip(node.flat_output_ids, tf.nest.flatten(result)):
                tensors[oid] = _Reuse(t)
    missing = {"rpn_cls", "rpn_box", "head_cls", "head_box"} - set(outs)
    if missing:
        raise ValueError(f"{model.name}: not a Faster R-CNN graph from converters.detection (no {sorted(missing)})")
    return keras.Model([image, roi_in], outs, name=f"{model.name}_train")


def _rpn_cls_loss(y_true, y_pred):
    logits = tf.reshape(y_pred, tf.shape(y_true))
    mask = tf.cast(y_true >= 0, tf.float32)
    bce = tf.nn.sigmoid_cross_entropy_with_logits(tf.maximum(y_true, 0.0), logits)
    return tf.reduce_sum(bce * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def _box_loss(y_true, y_pred):
    pred = tf.reshape(y_pred, [tf.shape(y_true)[0], -1, 4])
    mask = y_true[..., 4]
    err = tf.abs(y_true[..., :4] - pred)
    huber = tf.reduce_sum(tf.where(err < 1.0, 0.5 * err * err, err - 0.5), -1)  # smooth L1
    return tf.reduce_sum(huber * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def _head_cls_loss(y_true, y_pred):
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(y_true, tf.int32), y_pred))


def model_classes(model: keras.Model) -> int:
    """The object classes of a Faster R-CNN graph (its head's logits less the background)."""
    for layer in model.layers:
        if _unwrap(layer).name == "head_cls":
            return int(_unwrap(layer).units) - 1
    raise ValueError(f"{model.name}: not a Faster R-CNN graph from converters.detection (no head_cls)")


class ShapeBatches:
    """Fresh generated images with RPN and head targets for every step (no overfitting to a set): the
    data of the model's class count (converters.detection_scenes.data_for)."""

    def __init__(self, model: keras.Model, batch: int, seed: int = 0, rois: int = ROIS_PER_IMAGE) -> None:
        prop = next(_unwrap(l) for l in model.layers if isinstance(_unwrap(l), ProposalLayer))
        self.size = int(model.input_shape[1])
        self.anchors = prop.anchors
        self.classes = model_classes(model)
        self.batch, self.seed, self.rois = batch, seed, rois

    def __getitem__(self, step: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        from converters.detection_scenes import batch_for

        seed = (self.seed * 1_000_003 + step) % (2**31)
        images, boxes, labels = batch_for(self.classes, self.batch, self.size, seed)
        rng = np.random.default_rng(seed)
        rpn = [rpn_targets(self.anchors, b, rng) for b in boxes]
        head = [head_targets(b, lab, rng, self.rois) for b, lab in zip(boxes, labels)]
        x = {"train_image": images, "train_rois": np.stack([h[0] for h in head])}
        y = {"rpn_cls": np.stack([r[0] for r in rpn]), "rpn_box": np.stack([r[1] for r in rpn]),
             "head_cls": np.stack([h[1] for h in head]), "head_box": np.stack([h[2] for h in head])}
        return x, y

    def dataset(self, steps: int) -> tf.data.Dataset:
        """`steps` batches as tf.data with static shapes (roi_crop needs the feature map's size)."""
        x0, y0 = self[0]
        spec = tuple({k: tf.TensorSpec(v.shape, tf.as_dtype(v.dtype)) for k, v in d.items()} for d in (x0, y0))
        return tf.data.Dataset.from_generator(lambda: (self[i] for i in range(steps)),
                                              output_signature=spec).prefetch(2)


def train(keras_model: keras.Model, image_dir: str | Path | None = None, quick: bool = False,
          steps: int | None = None, batch: int | None = None, callbacks: list | None = None,
          learning_rate: float = 3e-3, seed: int = 0, verbose: int = 0, final_lr: float = 0.05) -> keras.Model:
    """Train RPN (objectness + boxes) and head (classes + boxes) jointly on generated shapes.

    `steps` (default 500, or 150 with `quick`) batches of `batch` new images (default 16; 2 above 256 px,
    where one 600 px image has as many pixels as 22 of the twin's), Adam with cosine decay to `final_lr` of the
    rate (0: to zero, a recipe's last phase that anneals).
    `image_dir` is accepted for the recipe interface but unused: user images carry no boxes.
    Weights are updated in place (the training graph shares the layers) and the model returned.
    A model with tfmot pruning wrappers gets the UpdatePruningStep callback it needs.
    """
    del image_dir
    steps = steps or (150 if quick else 500)
    batch = batch or (16 if int(keras_model.input_shape[1]) <= 256 else 2)
    graph = training_graph(keras_model)
    callbacks = list(callbacks or [])
    if any(type(l).__name__ == "PruneLowMagnitude" for l in keras_model.layers):
        import tensorflow_model_optimization as tfmot

        if not any(isinstance(c, tfmot.sparsity.keras.UpdatePruningStep) for c in callbacks):
            callbacks.append(tfmot.sparsity.keras.UpdatePruningStep())
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=final_lr)
    graph.compile(keras.optimizers.Adam(schedule),
                  loss={"rpn_cls": _rpn_cls_loss, "rpn_box": _box_loss, "head_cls": _head_cls_loss,
                        "head_box": _box_loss})
    # the optimizer's slots made before the first step, so its train step is traced once, not twice (the reason
    # is training.prebuild_optimizer's; not imported from there: training imports this module)
    graph.optimizer.build(graph.trainable_variables)
    graph.fit(ShapeBatches(keras_model, batch, seed).dataset(steps), epochs=1, steps_per_epoch=steps,
              callbacks=callbacks, verbose=verbose)
    return keras_model


# --------------------------------------------------------------------------------------- evaluation

def _run_tflite(path: str | Path, images: Iterable[np.ndarray], threads: int = 2):
    """(boxes, scores, classes) per image from the real LiteRT interpreter, int8 I/O handled."""
    from rpi.runner import interpreter_module

    mod, _, _ = interpreter_module()
    interp = mod.Interpreter(model_path=str(path), num_threads=threads)
    outputs = interp.get_signature_list().get("serving_default", {}).get("outputs", [])
    if sorted(outputs) != ["boxes", "classes", "scores"]:
        raise ValueError(f"{path}: not a Faster R-CNN model (outputs {sorted(outputs)}, "
                         "expected boxes, classes, scores)")
    runner = interp.get_signature_runner("serving_default")
    (in_name, inp), = runner.get_input_details().items()
    out_details = runner.get_output_details()
    from converters.tensor_io import dequantize_output, quantize_input

    results = []
    for img in images:
        raw = runner(**{in_name: quantize_input(img[None], inp)})
        got = {name: dequantize_output(raw[name], d) for name, d in out_details.items()}
        results.append((got["boxes"][0], got["scores"][0], np.round(got["classes"][0]).astype(int)))
    return results


def evaluate_tflite(path: str | Path, n: int = 100, seed: int = 12345, score_min: float = 0.05,
                    classes: int = len(CLASSES)) -> dict:
    """mAP@0.5 of a Faster R-CNN .tflite on `n` held-out generated images (seed apart from training) of
    the data a detector with `classes` classes is scored on (converters.detection_scenes.data_for),
    streamed: one image in memory at a time."""
    from converters.detection_scenes import data_for
    from rpi.runner import interpreter_module

    mod, _, _ = interpreter_module()
    size = int(mod.Interpreter(model_path=str(path)).get_input_details()[0]["shape"][1])
    name, stream = data_for(classes)
    gt_boxes: list[np.ndarray] = []
    gt_labels: list[np.ndarray] = []

    def images() -> Iterable[np.ndarray]:
        for img, b, lab in stream(n, size, seed, True):
            gt_boxes.append(b)
            gt_labels.append(lab)
            yield img

    t0 = time.monotonic()
    preds = _run_tflite(path, images())
    elapsed = time.monotonic() - t0
    keep = [s > score_min for _, s, _ in preds]
    boxes = [b[k] for (b, _, _), k in zip(preds, keep)]
    scores = [s[k] for (_, s, _), k in zip(preds, keep)]
    pred_classes = [c[k] for (_, _, c), k in zip(preds, keep)]
    map50 = mean_average_precision(boxes, scores, pred_classes, gt_boxes, gt_labels, 0.5)
    # per image: detections with their true/false-positive flags, for paired intervals (map_of_matched)
    matched = matched_detections(boxes, scores, pred_classes, gt_boxes, gt_labels, 0.5)
    # eval_ms_per_image: drawing each scene included (the images are streamed, not made first)
    return {"map50": map50, "images": n, "seed": seed, "eval_ms_per_image": 1000 * elapsed / n,
            "classes": classes, "data": name, "matched": matched}
