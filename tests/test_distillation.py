"""Issue 23: a classification compression can fine-tune with knowledge distillation from the fp32 teacher
(`@distill=W`), and its control is then fine-tuned with the same distillation (same teacher, steps and rate), so
the compression is never credited with what the teacher taught. Real TensorFlow losses and fine-tunes on the tiny zoo SqueezeNet."""
from __future__ import annotations

import numpy as np
import pytest

from converters import distill, training
from converters.control import control_variant
from converters.datasets import TaskInfo
from converters.passes import ConversionError, parse_variant
from tests.fixtures_converters import TINY_CLS, locked_builder, run_root, share_weights

CLS = TaskInfo("classification", channels=3, classes=6)
SR = TaskInfo("super_resolution", channels=1, scale=3, upsampled_input=True)


def test_the_control_of_a_distilled_variant_is_distilled_the_same_way(monkeypatch):
    """Before, the control's name carried steps and rate only: a distilled variant was judged against a control
    without the teacher."""
    monkeypatch.delenv(training.RECIPE_ENV, raising=False)
    metrics = {"steps_run": 1500, "fine_tune_lr": 0.002, "distill": 0.5}
    assert control_variant(metrics, "prune_channels@flops=0.5") == "fine_tune@steps=1500@lr=0.002@distill=0.5"
    assert control_variant({**metrics, "distill": 0.0}, "deep_compression") == "fine_tune@steps=1500@lr=0.002"
    # the control's own parameters take it (bounded 0..1 like the passes')
    assert parse_variant("fine_tune@steps=1500@lr=0.002@distill=0.5")[1]["distill"] == 0.5
    with pytest.raises(ConversionError, match="'distill'"):
        parse_variant("prune_channels@distill=2")


def test_distillation_is_asked_for_and_bounded():
    """Off by default (at 0.5 it lifted the control, not the compressed SqueezeNets: converters/distill.py)."""
    assert distill.compression_distill(None, CLS) == distill.CLS_DISTILL == 0.0
    assert distill.compression_distill(None, SR) == 0.0
    assert distill.compression_distill("0.5", CLS) == 0.5 and distill.compression_distill(0.25, SR) == 0.25
    with pytest.raises(ValueError, match="distill 1.5"):
        distill.compression_distill(1.5, CLS)


def test_the_distillation_loss_is_cross_entropy_plus_the_teacher_term():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    labels = np.array([0, 2, 1, 2], np.float32)
    teacher = rng.normal(0, 2, (4, 3)).astype(np.float32)
    student = rng.normal(0, 2, (4, 3)).astype(np.float32)
    packed = np.concatenate([labels[:, None], teacher], axis=1)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels.astype(np.int32), logits=student).numpy()
    np.testing.assert_allclose(distill.distillation_loss(0.0, 4.0, True)(packed, student).numpy(), ce, rtol=1e-5)
    # the teacher term vanishes when the student says what the teacher says, and only then
    same = distill.distillation_loss(1.0, 4.0, True)(packed, teacher).numpy()
    other = distill.distillation_loss(1.0, 4.0, True)(packed, student).numpy()
    np.testing.assert_allclose(same, 0.0, atol=1e-5)
    assert (other > 1e-3).all()
    # the teacher term covers the classes the teacher's logits were given for (the data's): outputs past them
    # (the zoo SqueezeNet's 990 unused classes) change only the cross-entropy's normalization
    wide = np.concatenate([teacher, np.full((4, 5), -30.0, np.float32)], axis=1)
    np.testing.assert_allclose(distill.distillation_loss(1.0, 4.0, True)(packed, wide).numpy(), 0.0, atol=1e-5)
    # a softmax output is taken back to logits: the same loss from probabilities
    probs = tf.nn.softmax(student).numpy()
    np.testing.assert_allclose(distill.distillation_loss(0.5, 4.0, False)(packed, probs).numpy(),
                               distill.distillation_loss(0.5, 4.0, True)(packed, student).numpy(), rtol=1e-4)


def test_a_fine_tune_with_a_teacher_moves_the_student_towards_it():
    """Distilling (weight 1: the labels play no part) brings the student's outputs closer to the teacher's, and
    closer than the same steps on the labels alone do (the BatchNorm twin, which the compressions train)."""
    import tf_keras as keras

    from converters.datasets import classification_data
    from converters.zoo import get_spec

    spec = get_spec("squeezenet")
    keras.utils.set_random_seed(0)
    teacher = spec.create(size=48, classes=6, batchnorm=True)
    keras.utils.set_random_seed(1)
    start = spec.create(size=48, classes=6, batchnorm=True).get_weights()
    x, _ = classification_data(CLS, 48, 64, seed=9, held_out=True)
    teacher_logits = distill.teacher_logits
    target = teacher_logits(teacher, x)

    def gap(distill: float | None) -> float:
        student = spec.create(size=48, classes=6, batchnorm=True)
        student.set_weights(start)
        if distill is not None:
            training.fine_tune(student, CLS, 40, lr=2e-3, teacher=teacher, distill=distill, seed=3)
        return float(np.mean((teacher_logits(student, x) - target) ** 2))

    before, labels_only, distilled = gap(None), gap(0.0), gap(1.0)
    assert distilled < before and distilled < labels_only, (before, labels_only, distilled)


@pytest.mark.slow
def test_prune_channels_and_its_control_carry_the_same_distillation(quick_recipes, tmp_path, run_weights,
                                                                    tmp_path_factory):
    """`@distill=0.5`: the pruned SqueezeNet distills from fp32, its control (built by the builder beside it) is
    `...@distill=0.5` and was fine-tuned with that teacher; by default neither distills. 40 fine-tuning steps
    (400 in the quick recipe; what is checked is which teacher each fine-tune had, not what it reached) on the
    run's trained TINY_CLS."""
    b = locked_builder(run_root(tmp_path_factory), share_weights(tmp_path / "cache", run_weights), controls=True)
    art = b.build(TINY_CLS, "prune_channels@distill=0.5@flops=0.5@steps=400")
    assert art.metrics["distill"] == 0.5 and art.metrics["steps_run"] == training.scaled(400)
    label = art.metrics["control_variant"]
    assert label.endswith("@distill=0.5")
    assert len(art.metrics["per_example"]["control"]) == len(art.metrics["per_example"]["variant"])
    assert b.build(TINY_CLS, label).metrics["distill"] == 0.5  # the control ran the teacher
    plain = b.build(TINY_CLS, "prune_channels@flops=0.5@steps=400")
    assert plain.metrics["distill"] == 0.0 and "distill" not in plain.metrics["control_variant"]
