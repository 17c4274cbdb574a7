"""Issue 23: classification data that can tell variants apart. Patches of real photos scikit-image ships, the
class being the photo, 3000 held out from quadrants training never sees, seeded; and the shipped SqueezeNet is
well below the ceiling on it (on the generated shapes its fp32 scored 0.972, its control 1.000)."""
from __future__ import annotations

import numpy as np
import pytest

from converters import texture_patches
from converters.accuracy import CLS_EVAL_IMAGES
from converters.datasets import TaskInfo, classification_data

INFO = TaskInfo("classification", channels=3, classes=1000)  # the zoo SqueezeNet: 1000 outputs


def test_held_out_set_is_3000_balanced_distinct_patches_of_the_20_held_out_regions():
    """3000 (was 1000: a +-2.3 point interval, wider than the 1-point goal), 300 a class and 150 a region, no two
    alike; patch i is its own draw, the same whatever the count."""
    x, y = classification_data(INFO, 64, CLS_EVAL_IMAGES, seed=0, held_out=True)
    assert CLS_EVAL_IMAGES >= 3000 and x.shape == (CLS_EVAL_IMAGES, 64, 64, 3) and y.shape == (CLS_EVAL_IMAGES,)
    assert np.bincount(y).tolist() == [CLS_EVAL_IMAGES // 10] * 10  # 10 classes, balanced
    regions = [texture_patches.held_out_region(i) for i in range(CLS_EVAL_IMAGES)]
    assert np.bincount(regions).tolist() == [CLS_EVAL_IMAGES // 20] * 20  # every held-out region its share
    assert all(r // 2 == label for r, label in zip(regions, y))
    assert len({p.tobytes() for p in x}) == CLS_EVAL_IMAGES  # no patch a copy of another
    assert 0.0 <= x.min() and x.max() <= 1.0
    first, _ = classification_data(INFO, 64, 50, seed=0, held_out=True)
    np.testing.assert_array_equal(first, x[:50])


def test_each_held_out_patch_is_cut_from_the_region_held_out_region_names(monkeypatch):
    """What a region-level interval groups by (benchmarks/seed_goals.py) is where the patch was really cut."""
    held = texture_patches.quadrants(True)
    seen: list[int] = []
    real = texture_patches._patch

    def spy(region, size, rng):
        seen.append(next(k for k, (_, q) in enumerate(held) if np.shares_memory(q, region) and q.shape == region.shape))
        return real(region, size, rng)

    monkeypatch.setattr(texture_patches, "_patch", spy)
    texture_patches.texture_patches(60, 16, seed=2, held_out=True)
    assert seen == [texture_patches.held_out_region(i) for i in range(60)]


def test_training_and_evaluation_patches_come_from_different_quadrants():
    train, held = texture_patches.quadrants(False), texture_patches.quadrants(True)
    assert sorted(c for c, _ in train) == sorted(c for c, _ in held) == sorted(list(range(10)) * 2)
    for c, a in train:  # views into the same photos: no pixel in common
        assert min(a.shape) >= texture_patches.QUADRANT_SIDE
        assert not any(np.shares_memory(a, b) for d, b in held if d == c)
    train_pixels = {q.tobytes() for _, q in train}
    assert not train_pixels & {q.tobytes() for _, q in held}


def test_data_is_deterministic_and_seeds_differ():
    a = classification_data(INFO, 48, 30, seed=4)
    b = classification_data(INFO, 48, 30, seed=4)
    c = classification_data(INFO, 48, 30, seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[0], c[0])
    held = classification_data(INFO, 48, 30, seed=4, held_out=True)
    assert not np.allclose(a[0], held[0])


def test_patches_on_any_canvas_and_fewer_classes_keep_the_first():
    small, _ = classification_data(INFO, 32, 4, seed=1)
    big, _ = classification_data(INFO, 224, 4, seed=1)
    assert small.shape == (4, 32, 32, 3) and big.shape == (4, 224, 224, 3)
    _, y6 = classification_data(TaskInfo("classification", channels=3, classes=6), 32, 200, seed=1)
    assert set(y6.tolist()) == set(range(6))
    gray, _ = classification_data(TaskInfo("classification", channels=1, classes=10), 32, 3, seed=1)
    assert gray.shape == (3, 32, 32, 1)


@pytest.mark.slow
def test_shipped_squeezenet_is_trained_and_well_below_the_ceiling(monkeypatch):
    """The shipped fp32 SqueezeNet on the 3000 held-out images at 224 px: far above chance (10%) and well
    under the ceiling (0.809 on the earlier 1000 through LiteRT). On the generated shapes it scored 0.972 and its control,
    trained 400 steps more, 1.000: no variant could lose anything measurable; this test failed there."""
    from converters import shipped, training
    from converters.zoo import get_spec

    monkeypatch.delenv(training.RECIPE_ENV, raising=False)
    monkeypatch.delenv(shipped.RETRAIN_ENV, raising=False)
    spec = get_spec("squeezenet")
    model = spec.create()
    assert shipped.load(spec, model, None)
    x, y = classification_data(INFO, 224, CLS_EVAL_IMAGES, seed=0, held_out=True)
    top1 = float(np.mean(training.copy_at(model, None, batch=None).predict(x, batch_size=50, verbose=0)
                         .argmax(-1) == y))
    assert 0.5 < top1 < 0.9, top1


def test_a_phone_gets_a_balanced_thousand_of_the_held_out_set_not_all_3000():
    """3000 float32 224 px inputs are 1.8 GB: a phone scores the leading 1000, every class and region its share."""
    from converters.device_eval import DEVICE_CLS_IMAGES, device_share

    x, y = classification_data(INFO, 16, CLS_EVAL_IMAGES, seed=0, held_out=True)
    px, py = device_share(x, y)
    assert len(px) == len(py) == DEVICE_CLS_IMAGES < CLS_EVAL_IMAGES
    assert DEVICE_CLS_IMAGES * 224 * 224 * 3 * 4 < 650e6  # what the phone is sent at SqueezeNet's input size
    assert np.bincount(py).tolist() == [DEVICE_CLS_IMAGES // 10] * 10
    regions = [texture_patches.held_out_region(i) for i in range(DEVICE_CLS_IMAGES)]
    assert np.bincount(regions).tolist() == [DEVICE_CLS_IMAGES // 20] * 20
    small_x, small_y = device_share(x[:40], y[:40])
    assert len(small_x) == len(small_y) == 40  # a smaller set is sent whole


def test_the_hugepage_benchmark_makes_the_same_arrays_both_ways(capsys):
    """benchmarks/numpy_hugepages.py (why tests/conftest.py turns NumPy's huge-page madvise off): both children
    build the held-out set, byte for byte the same, and its figures are printed; bad input is one line, exit 2."""
    from benchmarks import numpy_hugepages

    assert numpy_hugepages.main(["--rounds", "1", "--side", "16", "--images", "20"]) == 0
    out = capsys.readouterr().out
    assert "same arrays both ways: yes (61440 bytes of images)" in out, out
    assert "round 1 madvise on " in out and "round 1 madvise off" in out and "median sys_s" in out
    assert numpy_hugepages.main(["--rounds", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
