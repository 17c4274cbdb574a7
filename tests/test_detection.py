"""Faster R-CNN: built-in-only conversion, the ROI crop and NMS in the real interpreter, mAP, training.

Everything runs for real: TensorFlow converts, ai-edge-litert's interpreter runs, and training uses
the generated shapes. The trained model is shared by the module (one ~25 s quick recipe).
"""
from __future__ import annotations

import numpy as np
import pytest

from converters.detection_data import (
    CLASSES, average_precision, decode, encode, generate_shapes, iou_matrix, make_anchors,
    mean_average_precision, rpn_targets,
)

tf = pytest.importorskip("tensorflow", reason="needs tensorflow (the host extra) for conversion")


def _convert(model, path):
    """fp32 conversion allowed to use TFLite built-in ops only: a Flex op makes it fail."""
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    path.write_bytes(conv.convert())
    return path


def _interpreter(path):
    from rpi.runner import interpreter_module

    mod, runtime, _ = interpreter_module()
    assert runtime == "ai-edge-litert", "these tests must run the real LiteRT interpreter"
    interp = mod.Interpreter(model_path=str(path))
    interp.allocate_tensors()
    return interp


def _greedy_nms(boxes, scores, iou, count):
    """Reference NMS in numpy: keep the best box, drop those overlapping it more than `iou`."""
    order, keep = list(np.argsort(-scores, kind="stable")), []
    while order and len(keep) < count:
        best = order.pop(0)
        keep.append(best)
        order = [i for i in order if iou_matrix(boxes[best][None], boxes[i][None])[0, 0] <= iou]
    return keep


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The untrained model as .tflite, then the same model after the quick recipe (and its .tflite)."""
    import tf_keras as keras

    from converters.detection import faster_rcnn, train

    out = tmp_path_factory.mktemp("frcnn")
    keras.utils.set_random_seed(0)
    model = faster_rcnn()
    untrained = _convert(model, out / "untrained.tflite")
    train(model, quick=True)
    trained = _convert(model, out / "trained.tflite")
    return {"dir": out, "keras": model, "untrained": untrained, "trained": trained}


# ------------------------------------------------------------------------------------- the model


def test_converts_with_builtins_only_and_outputs_are_fixed(models):
    from converters.detection import faster_rcnn

    interp = _interpreter(models["untrained"])
    ops = {op["op_name"] for op in interp._get_ops_details()}
    assert "NON_MAX_SUPPRESSION_V4" in ops and "BATCH_MATMUL" in ops
    assert not [o for o in ops if o.startswith("Flex") or o == "CUSTOM"], ops
    det = faster_rcnn().get_layer("detections").cfg["detections"]
    runner = interp.get_signature_runner()
    shapes = {k: tuple(v["shape"]) for k, v in runner.get_output_details().items()}
    assert shapes == {"boxes": (1, det, 4), "scores": (1, det), "classes": (1, det)}
    images, _, _ = generate_shapes(2, 128, seed=5)
    for x in (images[:1], np.random.default_rng(0).random((1, 128, 128, 3), dtype=np.float32)):
        out = runner(image=x)
        assert {k: v.shape for k, v in out.items()} == shapes
        assert np.all((out["boxes"] >= 0) & (out["boxes"] <= 1))
        assert np.all((out["scores"] >= 0) & (out["scores"] <= 1))
        assert set(np.unique(out["classes"])) <= set(range(len(CLASSES)))


def test_size_must_match_the_backbone_stride():
    from converters.detection import faster_rcnn

    with pytest.raises(ValueError, match="multiple of 8"):
        faster_rcnn(size=100)


def test_zoo_lists_faster_rcnn_as_detection():
    from converters.zoo import ZOO

    spec = ZOO["faster_rcnn"]
    assert spec.task == "detection"
    assert tuple(spec.create().input_shape) == (1, 128, 128, 3)


@pytest.mark.parametrize("crop", [7, 1])
def test_roi_crop_equals_crop_and_resize(crop):
    from converters.detection import roi_crop

    rng = np.random.default_rng(crop)
    feats = rng.normal(size=(2, 13, 9, 5)).astype(np.float32)
    boxes = rng.uniform(-0.3, 1.3, size=(2, 6, 4)).astype(np.float32)  # outside the map and flipped, too
    boxes[0, 0] = [0.0, 0.0, 1.0, 1.0]
    mine = roi_crop(tf.constant(feats), tf.constant(boxes), crop).numpy()
    ref = tf.image.crop_and_resize(feats, boxes.reshape(-1, 4), np.repeat(np.arange(2), 6), (crop, crop),
                                   extrapolation_value=0.0).numpy()
    assert mine.shape == (2, 6, crop, crop, 5)
    np.testing.assert_allclose(mine.reshape(ref.shape), ref, atol=2e-5)


def test_nms_caps_proposals_in_the_interpreter(tmp_path):
    """32 anchors in, 8 proposals out; the kept boxes are what a greedy NMS keeps."""
    import tf_keras as keras

    from converters.detection import ProposalLayer

    size, feat, scales, ratios, cap = 32, 4, (8, 20), (1.0,), 8
    cls_in = keras.Input((feat, feat, 2), batch_size=1)
    box_in = keras.Input((feat, feat, 8), batch_size=1)
    layer = ProposalLayer(size, feat, scales, ratios, pre_nms=32, proposals=cap, iou=0.3)
    boxes, valid = layer([cls_in, box_in])
    path = _convert(keras.Model([cls_in, box_in], [boxes, valid]), tmp_path / "nms.tflite")
    interp = _interpreter(path)
    logits = np.random.default_rng(3).normal(size=(1, feat, feat, 2)).astype(np.float32)
    ins = sorted(interp.get_input_details(), key=lambda d: d["shape"][-1])
    interp.set_tensor(ins[0]["index"], logits)
    interp.set_tensor(ins[1]["index"], np.zeros((1, feat, feat, 8), np.float32))
    interp.invoke()
    outs = {len(d["shape"]): interp.get_tensor(d["index"]) for d in interp.get_output_details()}
    got, mask = outs[3][0], outs[2][0]
    assert got.shape == (cap, 4) and mask.shape == (cap,)
    anchors = np.clip(make_anchors(size, feat, scales, ratios), 0, 1)
    keep = _greedy_nms(anchors, logits.reshape(-1), 0.3, cap)
    assert mask.sum() == len(keep) == cap
    np.testing.assert_allclose(got, anchors[keep], atol=1e-6)
    pair = iou_matrix(got, got) - np.eye(cap)
    assert pair.max() <= 0.3 + 1e-6


# --------------------------------------------------------------------------------- data and mAP


def test_generate_shapes_is_seeded_and_boxes_are_tight():
    images, boxes, labels = generate_shapes(6, 64, seed=11)
    again, boxes2, _ = generate_shapes(6, 64, seed=11)
    other, _, _ = generate_shapes(6, 64, seed=12)
    assert images.shape == (6, 64, 64, 3) and images.dtype == np.float32
    assert np.array_equal(images, again) and all(np.array_equal(a, b) for a, b in zip(boxes, boxes2))
    assert not np.array_equal(images, other)
    for img, b, lab in zip(images, boxes, labels):
        assert 1 <= len(b) == len(lab) <= 3
        assert np.all((b >= 0) & (b <= 1)) and np.all(b[:, 2:] > b[:, :2])
        assert set(lab.tolist()) <= set(range(len(CLASSES)))
        for j, (box, c) in enumerate(zip(b, lab)):
            others = np.delete(b, j, 0)
            if c == 0 and iou_matrix(box[None], others).max(initial=0.0) == 0.0:
                # An unobstructed rectangle fills its box: its inner pixels share one colour (plus noise).
                y0, x0, y1, x1 = np.round(box * 64).astype(int) + [1, 1, -1, -1]
                assert img[y0:y1, x0:x1].std(axis=(0, 1)).max() < 0.06


def test_encode_decode_roundtrip_and_rpn_targets():
    anchors = make_anchors(64, 8, (16, 32), (0.5, 1.0, 2.0))
    assert anchors.shape == (8 * 8 * 6, 4)
    gt = np.array([[0.1, 0.2, 0.5, 0.45], [0.6, 0.6, 0.9, 0.95]], np.float32)
    np.testing.assert_allclose(decode(encode(gt, anchors[:2]), anchors[:2]), gt, atol=1e-6)
    labels, box_t = rpn_targets(anchors, gt, np.random.default_rng(0))
    best = iou_matrix(anchors, gt).argmax(0)
    assert np.all(labels[best] == 1) and np.all(box_t[best, 4] == 1)
    assert (labels >= 0).sum() <= 256
    pos = labels == 1
    matched = gt[iou_matrix(anchors[pos], gt).argmax(1)]
    np.testing.assert_allclose(decode(box_t[pos, :4], anchors[pos]), matched, atol=1e-5)


A = np.array([[0.1, 0.1, 0.4, 0.4]], np.float32)
B = np.array([[0.5, 0.5, 0.9, 0.9]], np.float32)


def _m(boxes, scores, classes, gt, gt_cls):
    return mean_average_precision([np.array(boxes, np.float32).reshape(-1, 4)], [np.array(scores)],
                                  [np.array(classes)], [np.array(gt, np.float32)], [np.array(gt_cls)])


def test_map_perfect_predictions_is_one():
    gt = np.concatenate([A, B])
    assert _m(gt, [0.9, 0.8], [0, 1], gt, [0, 1]) == pytest.approx(1.0)
    assert _m(gt, [0.9, 0.8], [1, 1], gt, [1, 1]) == pytest.approx(1.0)


def test_map_missed_box_halves_recall():
    gt = np.concatenate([A, B])
    assert _m(A, [0.9], [0], gt, [0, 0]) == pytest.approx(0.5)
    # Two classes: one perfect (AP 1), one missed entirely (AP 0): the mean is 0.5.
    assert _m(A, [0.9], [0], gt, [0, 1]) == pytest.approx(0.5)


def test_map_duplicate_is_a_false_positive():
    gt = np.concatenate([A, B])
    # A (TP, p=1, r=.5), A again (FP, p=.5), B (TP, p=2/3, r=1): AP = .5 * 1 + .5 * 2/3.
    assert _m(np.concatenate([A, A, B]), [0.9, 0.8, 0.7], [0, 0, 0], gt, [0, 0]) == pytest.approx(5 / 6)


def test_map_ranks_by_score_and_respects_iou_and_class():
    shifted = A + [0.2, 0.2, 0.2, 0.2]  # IoU with A is 1/17, a miss at 0.5
    assert _m(np.concatenate([shifted, A]), [0.9, 0.8], [0, 0], A, [0]) == pytest.approx(0.5)
    assert _m(np.concatenate([A, shifted]), [0.9, 0.8], [0, 0], A, [0]) == pytest.approx(1.0)
    assert _m(A, [0.9], [1], A, [0]) == 0.0  # right box, wrong class
    assert _m(np.zeros((0, 4)), [], [], A, [0]) == 0.0
    assert average_precision(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx(0.75)


def test_map_counts_images_separately():
    # The same box in two images is two objects; a detection in image 0 does not match image 1.
    preds = [A, np.zeros((0, 4), np.float32)]
    value = mean_average_precision(preds, [np.array([0.9]), np.array([])], [np.array([0]), np.array([])],
                                   [A, A], [np.array([0]), np.array([0])])
    assert value == pytest.approx(0.5)


# ------------------------------------------------------------------------ training and variants


def test_quick_training_improves_map(models):
    from converters.detection import evaluate_tflite

    before = evaluate_tflite(models["untrained"], n=50)["map50"]
    after = evaluate_tflite(models["trained"], n=50)
    models["trained_map"] = after["map50"]
    assert after["images"] == 50
    assert after["map50"] > before + 0.15, (before, after)


@pytest.mark.parametrize("variant", ["dr_int8", "int8"])
def test_quantized_variants_convert_and_keep_accuracy(models, variant):
    from converters.detection import evaluate_tflite
    from converters.passes import PASSES, Source

    km = models["keras"]
    src = Source("faster_rcnn", keras_model=km, task="detection", input_shape=tuple(km.input_shape))
    path = models["dir"] / f"{variant}.tflite"
    result = PASSES[variant].fn(src, dict(PASSES[variant].defaults))
    path.write_bytes(result[0] if isinstance(result, tuple) else result)
    interp = _interpreter(path)
    in_dtype = interp.get_input_details()[0]["dtype"]
    assert in_dtype == np.float32  # int8 of a detector: backbone and head int8, its tail and I/O float (issue 23)
    fp32 = models.get("trained_map") or evaluate_tflite(models["trained"], n=50)["map50"]
    got = evaluate_tflite(path, n=50)["map50"]
    assert got > 0.6 * fp32, (variant, got, fp32)


def test_pruning_wraps_the_model_and_trains(tmp_path):
    import tensorflow_model_optimization as tfmot

    from converters.detection import faster_rcnn, train, training_graph

    sched = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=1)
    # A fresh model: tfmot's wrappers share (and mask) the layers of the model they wrap.
    pruned = tfmot.sparsity.keras.prune_low_magnitude(faster_rcnn(), pruning_schedule=sched)
    wrapped = {l.layer.name: len(l.prunable_weights) for l in pruned.layers if hasattr(l, "prunable_weights")}
    assert wrapped["head_fc1"] == 1 and wrapped["bb_conv1"] == 1 and wrapped["proposals"] == 0
    assert set(training_graph(pruned).output) == {"rpn_cls", "rpn_box", "head_cls", "head_box"}
    train(pruned, steps=3, batch=2, learning_rate=1e-4)  # adds UpdatePruningStep itself
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    kernel = stripped.get_layer("head_fc1").kernel.numpy()
    assert (kernel == 0).mean() == pytest.approx(0.5, abs=0.01)
    interp = _interpreter(_convert(stripped, tmp_path / "pruned.tflite"))
    assert len(interp.get_output_details()) == 3


def test_evaluate_rejects_a_model_that_is_not_a_detector(tiny_tflite):
    from converters.detection import evaluate_tflite

    with pytest.raises(ValueError, match="not a Faster R-CNN model"):
        evaluate_tflite(tiny_tflite, n=2)
