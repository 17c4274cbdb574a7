"""Recipe data and accuracy arithmetic: generated offline, split so evaluation is held out."""
from __future__ import annotations

import numpy as np
import pytest

from converters import accuracy, datasets
from converters.datasets import TaskInfo


def test_shapes_are_deterministic_labelled_and_scale_free():
    x1, y1 = datasets.shapes(60, 64, seed=3)
    x2, y2 = datasets.shapes(60, 64, seed=3)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert x1.shape == (60, 64, 64, 3) and 0.0 <= x1.min() and x1.max() <= 1.0
    assert set(y1.tolist()) == set(range(len(datasets.SHAPE_CLASSES)))
    big, _ = datasets.shapes(2, 224, seed=3)
    assert big.shape == (2, 224, 224, 3)
    gray, _ = datasets.shapes(2, 32, seed=3, channels=1)
    assert gray.shape == (2, 32, 32, 1)


def test_held_out_classification_data_differs_from_training():
    info = TaskInfo("classification", channels=3, classes=6)
    train_x, _ = datasets.classification_data(info, 32, 20, seed=0)
    test_x, _ = datasets.classification_data(info, 32, 20, seed=0, held_out=True)
    assert not np.allclose(train_x, test_x)


def test_user_class_folders_become_labels(tmp_path):
    from skimage.io import imsave

    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (tmp_path / label).mkdir()
        for i in range(6):
            imsave(tmp_path / label / f"{i}.png", (rng.random((20, 20, 3)) * 255).astype(np.uint8))
    info = TaskInfo("classification", channels=3, classes=2)
    x, y = datasets.classification_data(info, 16, 10, image_dir=str(tmp_path), held_out=True)
    assert x.shape[1:] == (16, 16, 3) and sorted(set(y.tolist())) == [0, 1]
    assert len(y) == 3  # every 5th of the 12 images (indices 0, 5, 10) is held out


@pytest.mark.parametrize("upsampled", [True, False])
def test_sr_pairs_geometry_and_bicubic_baseline(upsampled):
    info = TaskInfo("super_resolution", scale=3, upsampled_input=upsampled, channels=1)
    x, hr, bic = datasets.sr_pairs(info, 48, 6, seed=1, held_out=True)
    assert hr.shape == bic.shape == (6, 48, 48, 1)
    assert x.shape == ((6, 48, 48, 1) if upsampled else (6, 16, 16, 1))
    if upsampled:
        np.testing.assert_array_equal(x, bic)
    psnrs = [accuracy.psnr(b, h, 3) for b, h in zip(bic, hr)]
    assert 18 < np.mean(psnrs) < 45  # bicubic is close to, not equal to, the original


def test_crop_sizes_below_every_image_share_one_set_of_resizes_and_a_larger_one_scales_up(tmp_path):
    """`min_side` only picks which images are scaled up so a crop fits: below the smallest image it is dropped from
    the cache key (one set of cubic resizes for 24 and 48 px crops), above it the small image is scaled up."""
    from skimage.io import imsave

    rng = np.random.default_rng(0)
    for i, shape in enumerate([(64, 64), (40, 50), (72, 60)]):  # image 0 is held out; training: 40x50 and 72x60
        imsave(tmp_path / f"{i}.png", (rng.random((*shape, 3)) * 255).astype(np.uint8))
    folder = str(tmp_path)
    before = datasets._degraded.cache_info()
    small = datasets.degraded(folder, False, 3, 1, 24)
    assert datasets.degraded(folder, False, 3, 1, 40) is small  # 40: not below the 40 px side either
    after = datasets._degraded.cache_info()  # computed once, then served from the cache
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1), (before, after)
    uncached = datasets._degraded.__wrapped__(folder, False, 3, 1, 24)
    for got, want in zip(small, uncached):  # the same arrays as computed with the crop size in the key
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    assert [t[0].shape for t in small] == [(39, 48, 1), (72, 60, 1)]
    big = datasets.degraded(folder, False, 3, 1, 48)  # the 40x50 image is scaled up to 48x60
    assert big is not small and [t[0].shape for t in big] == [(48, 60, 1), (72, 60, 1)]
    np.testing.assert_array_equal(big[1][0], small[1][0])


def test_task_inferred_from_shapes():
    assert datasets.task_info("unknown", (None, 64, 64, 1), (None, 192, 192, 1)) == TaskInfo(
        "super_resolution", scale=3, channels=1)
    assert datasets.task_info("unknown", (None, 32, 32, 3), (None, 10)).kind == "classification"
    assert datasets.task_info("super_resolution", (None, 96, 96, 1), (None, 96, 96, 1), 2).upsampled_input
    assert datasets.task_info("unknown", (None, 8), (None, 4)).kind == "unknown"


def test_psnr_and_ssim_arithmetic():
    a = np.full((10, 10, 1), 0.5, np.float32)
    assert accuracy.psnr(a, a) == float("inf")
    assert accuracy.psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-3)  # mse 0.01 -> 20 dB
    assert accuracy.ssim(a, a) == pytest.approx(1.0)
    noisy = np.clip(a + np.random.default_rng(0).normal(0, 0.2, a.shape), 0, 1).astype(np.float32)
    assert accuracy.ssim(noisy, a) < 0.9
