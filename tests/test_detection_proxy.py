"""The detection data that can tell variants apart (12 classes, small objects, photo clutter, 500 held-out
images) and the ZF-shaped proxy the ladder's accuracy is measured on (stride 16, 6x6 RoI pooling, a
1024-unit head, 600 px with a 400 px sibling fine-tuned from it)."""
from __future__ import annotations

import math

import numpy as np

from converters import detection_scenes as ds
from converters.detection_data import CLASSES, iou_matrix


def test_the_scenes_have_at_least_ten_classes_and_the_eval_sets_are_500_images():
    from benchmarks import faster_rcnn_ladder as fl
    from converters.accuracy import DET_EVAL_IMAGES

    assert len(ds.CLUTTER_CLASSES) >= 10 and len(set(ds.CLUTTER_CLASSES)) == len(ds.CLUTTER_CLASSES)
    assert DET_EVAL_IMAGES >= 500
    assert fl.EVAL_IMAGES >= 500 and fl.ACCURACY_MODEL == "faster_rcnn_proxy"  # the ladder's defaults


def test_a_scene_is_the_same_whoever_asks_and_however_many_are_asked_for():
    a = ds.scene(3, 96, seed=7)
    b = list(ds.scenes(5, 96, seed=7))[3]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    other = ds.scene(3, 96, seed=8)
    assert not np.array_equal(a[0], other[0])
    assert not np.array_equal(ds.scene(4, 96, seed=7)[0], a[0])


def test_the_same_scene_at_600_and_400_px_has_the_same_objects():
    big, small = ds.scene(1, 600), ds.scene(1, 400)
    assert big[0].shape == (600, 600, 3) and small[0].shape == (400, 400, 3)
    np.testing.assert_array_equal(big[2], small[2])
    assert np.abs(big[1] - small[1]).max() < 3 / 400  # the same boxes, up to a pixel or two of rounding


def test_objects_are_small_and_many_and_every_class_occurs_on_busy_backgrounds():
    boxes, labels, busy = [], [], []
    for img, b, lab in ds.scenes(60, 600, seed=3):
        assert img.dtype == np.float32 and 0.0 <= img.min() and img.max() <= 1.0
        assert ((b >= 0) & (b <= 1)).all() and (b[:, 2:] > b[:, :2]).all()
        if len(b) > 1:  # objects are their own: little overlap
            iou = iou_matrix(b, b) - np.eye(len(b))
            assert iou.max() <= 0.25
        boxes.append(b)
        labels.append(lab)
        outside = np.ones(img.shape[:2], bool)
        for y0, x0, y1, x1 in (b * 600).astype(int):
            outside[y0:y1, x0:x1] = False
        busy.append(float(img[outside].std()))
    b = np.concatenate(boxes)
    sides = np.sqrt((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])) * 600
    assert np.mean([len(x) for x in boxes]) >= 4
    assert np.mean(sides < 48) >= 0.3  # small objects: at most three cells of the stride-16 grid
    assert set(np.concatenate(labels).tolist()) == set(range(len(ds.CLUTTER_CLASSES)))
    assert np.median(busy) > 0.1  # photos and strokes, not a plain fill


def test_boxes_are_tight_around_the_drawn_object():
    plan = ds._plan(np.random.default_rng([0, 0]), True)
    plan["objects"] = [(0, np.array([0.2, 0.3, 0.6, 0.5], np.float32), np.ones(3))]  # a white disk
    plan["strokes"] = []
    img, boxes, labels = ds.render(plan, 200, True)
    assert labels.tolist() == [0]
    y0, x0, y1, x1 = np.round(boxes[0] * 200).astype(int)
    assert (y0, x0, y1, x1) == (40, 60, 120, 100)


def test_held_out_images_use_photographs_training_never_sees():
    from converters.data import SKIMAGE_IMAGES

    train, held = ds._photos(False), ds._photos(True)
    assert train and held
    assert set(ds.HELD_OUT_PHOTOS) < set(SKIMAGE_IMAGES)
    assert not any(np.shares_memory(a, b) for a in train for b in held)
    assert len(train) + len(held) <= len(SKIMAGE_IMAGES)


def test_a_detector_s_class_count_picks_its_data():
    assert ds.data_for(len(ds.CLUTTER_CLASSES))[1] is ds.scenes
    assert "3 classes of shapes" in ds.data_for(len(CLASSES))[0]
    images, boxes, labels = ds.batch_for(len(ds.CLUTTER_CLASSES), 2, 64, seed=1)
    assert images.shape == (2, 64, 64, 3) and len(boxes) == len(labels) == 2
    images, _, labels = ds.batch_for(len(CLASSES), 2, 64, seed=1)
    assert images.shape == (2, 64, 64, 3) and max(int(x.max()) for x in labels if len(x)) < len(CLASSES)


# ------------------------------------------------------------------------------------------------ the proxy

def test_the_proxy_is_zf_shaped_with_stride_16_a_6x6_roi_and_a_1024_unit_head():
    from tf_keras import layers

    from converters.zoo import get_spec

    model = get_spec("faster_rcnn_proxy").create()
    assert tuple(model.input_shape) == (1, 600, 600, 3)
    convs = [l for l in model.layers if l.name.startswith("bb_conv")]
    assert [(l.kernel_size[0], l.strides[0]) for l in convs] == [(7, 2), (5, 2), (3, 1), (3, 1), (3, 1)]  # ZF
    assert [l.filters for l in convs] == [12, 32, 48, 48, 32]  # ZF's 96-256-384-384-256 at 1/8
    assert sum(isinstance(l, layers.MaxPooling2D) for l in model.layers) == 2
    features = model.get_layer("bb_relu5").output
    assert int(features.shape[1]) == math.ceil(600 / 16)  # stride 16
    assert tuple(model.get_layer("roi_crop").output.shape[2:4]) == (6, 6)
    assert model.get_layer("head_fc1").units == model.get_layer("head_fc2").units == 1024
    assert model.get_layer("head_cls").units == len(ds.CLUTTER_CLASSES) + 1
    assert model.get_layer("proposals").cfg["proposals"] == 300
    assert model.get_layer("proposals").cfg["pre_nms"] == 6000
    small = get_spec("faster_rcnn_proxy_400").create()
    assert int(small.get_layer("bb_relu5").output.shape[1]) == math.ceil(400 / 16)
    assert [w.shape for w in small.get_weights()] == [w.shape for w in model.get_weights()]


def test_the_proxy_s_task_says_its_classes_and_the_400_px_proxy_is_tuned_from_the_600_px_one():
    from converters.detection_proxy import base_name
    from converters.tasks import model_task
    from converters.zoo import get_spec

    proxy = get_spec("faster_rcnn_proxy")
    assert model_task("detection", proxy.create(size=128, pre_nms=256)).classes == len(ds.CLUTTER_CLASSES)
    assert model_task("detection", get_spec("faster_rcnn").create()).classes == len(CLASSES)
    assert base_name(proxy) is None
    assert base_name(get_spec("faster_rcnn_proxy_400")) == "faster_rcnn_proxy"
    assert base_name(get_spec("faster_rcnn_proxy@size=304@head_units=512")) == "faster_rcnn_proxy@head_units=512"


def test_a_proxy_tflite_is_scored_on_the_cluttered_held_out_scenes(tmp_path, tiny_proxy):
    """A tiny proxy (same graph, 128 px), converted by the real converter and run by LiteRT."""
    from converters.detection import evaluate_tflite
    from converters.passes import get_pass

    assert tuple(tiny_proxy.input_shape) == (1, 128, 128, 3)
    p = get_pass("fp32")
    data = p.fn(tiny_proxy, dict(p.defaults))
    path = tmp_path / "proxy.tflite"
    path.write_bytes(data if isinstance(data, bytes) else data[0])
    got = evaluate_tflite(path, n=3, classes=len(ds.CLUTTER_CLASSES))
    assert got["classes"] == 12 and "12 classes" in got["data"] and len(got["matched"]) == 3
    gt = sum(sum(g.values()) for _, g in got["matched"])
    assert gt == sum(len(b) for _, b, _ in ds.scenes(3, 128))  # scored against the held-out scenes' boxes
