"""Knowledge distillation in a compression pass's fine-tune (Hinton et al. 2015): the loss and the teacher.

Apart from converters/training.py (issue 24: modules under ~500 lines); training.fine_tune uses it, and it
imports nothing of training, so no import circle.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any
from collections.abc import Callable

import numpy as np

if TYPE_CHECKING:  # tf_keras ships no type information: mypy cannot check these names
    import tf_keras

    from converters.datasets import TaskInfo

# Knowledge distillation in a classification compression's fine-tune (Hinton et al. 2015), `@distill=W`: the loss
# is (1 - W) x cross-entropy on the labels + W x T^2 x KL(teacher || student) at temperature T, the teacher being
# the uncompressed fp32 model. The control (converters.control) is fine-tuned with the same distillation from the
# same teacher, so the compression is not credited with what the teacher teaches. Off by default (CLS_DISTILL):
# at W=0.5, T=4 (1500 steps, 3000 held-out patches) it lifted the control to 0.842 (fp32 0.815) but not the
# compressed models (prune_channels@flops=0.5 0.713, deep_compression@sparsity=0.67 0.773, prune_sparse 0.681),
# each then 7-16 points under its control (README, issue 23's fourth round, beside the same variants without it).
# Not part of the shipped weights' identity (no fp32 recipe distills). The teacher term covers the classes the
# data has: the zoo SqueezeNet has 1000 outputs for 10 photos, and over all 1000 at T=4 the 990 unused ones
# (log-probabilities near the clip) held about half the teacher's soft mass; a control distilled that way for
# 1500 steps lost 6.7 points against fp32 (0.748 vs 0.815 on the 3000 held-out patches).
CLS_DISTILL, CLS_DISTILL_T = 0.0, 4.0  # the default weight (off) and T when `@distill=` is given


def compression_distill(distill: object, info: TaskInfo) -> float:
    """A compression pass's distillation weight: the user's `distill` when given, else the task's default
    (classification: CLS_DISTILL; other tasks none). Raises ValueError outside 0..1."""
    if distill is None or distill == "":
        return CLS_DISTILL if info.kind == "classification" else 0.0
    if not isinstance(distill, (int, float, str)):
        raise ValueError(f"distill: expected a number between 0 and 1, got {type(distill).__name__}")
    value = float(distill)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"distill {value} must lie between 0 and 1")
    return value


def distillation_loss(weight: float, temperature: float, from_logits: bool) -> Callable[[Any, Any], Any]:
    """Keras loss for targets packed as [label, teacher logits of the first k classes]: (1 - weight) x
    cross-entropy on the label + weight x T^2 x KL(softmax(teacher / T) || softmax(student / T)) over those k
    classes (the data's). A softmax output is taken back to log-probabilities, which are logits up to a constant
    (the softmax ignores it)."""
    import tensorflow as tf

    def loss(packed: Any, pred: Any) -> Any:
        labels = tf.cast(packed[:, 0], tf.int32)
        teacher = packed[:, 1:]
        student = pred if from_logits else tf.math.log(tf.clip_by_value(pred, 1e-12, 1.0))
        hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=student)
        soft_t = tf.nn.log_softmax(teacher / temperature)
        soft_s = tf.nn.log_softmax(student[:, :tf.shape(teacher)[1]] / temperature)
        kl = tf.reduce_sum(tf.exp(soft_t) * (soft_t - soft_s), axis=-1)
        return (1.0 - weight) * hard + weight * temperature ** 2 * kl

    return loss


def teacher_logits(teacher: tf_keras.Model, x: np.ndarray) -> np.ndarray:
    """The teacher's logits on x (log-probabilities when its output is a softmax)."""
    out = np.asarray(teacher.predict(x, batch_size=64, verbose=0), np.float32)
    return np.log(np.clip(out, 1e-12, 1.0)) if softmax_output(teacher) else out


def softmax_output(model: tf_keras.Model) -> bool:
    """Whether the model ends in a softmax (its outputs are probabilities, not logits)."""
    last = model.layers[-1]
    act = getattr(last, "activation", None)
    return type(last).__name__ == "Softmax" or getattr(act, "__name__", "") == "softmax"
