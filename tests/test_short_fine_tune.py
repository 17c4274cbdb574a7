"""Short fine-tunes run eagerly (tracing costs more than a few steps) and train what the traced ones train; a
trainee that would be the full-size copy again is not built (converters.training; benchmarks/short_fine_tune.py).

Real tf_keras models of the zoo (SRCNN at 24 px), real training on the task's data, no mocks.
"""
from __future__ import annotations

import numpy as np
import pytest

from converters import training, zoo


def _srcnn(seed: int = 0):
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    model = zoo.get_spec("srcnn").create(size=24)
    return model, training.model_task("super_resolution", model, 3)


def test_a_few_steps_run_eagerly_and_train_what_the_traced_steps_train():
    model, info = _srcnn()
    start = model.get_weights()
    eager, traced = training.copy_at(model, batch=None), training.copy_at(model, batch=None)
    training.fine_tune(eager, info, 3, lr=1e-3)
    training.fine_tune(traced, info, 3, lr=1e-3, eager=False)
    assert eager.run_eagerly is True and traced.run_eagerly is False
    moved = [float(np.abs(a - b).max()) for a, b in zip(start, eager.get_weights())]
    assert min(moved) > 1e-5, moved  # every weight trained
    for a, b in zip(eager.get_weights(), traced.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_more_steps_than_the_limit_are_traced():
    model, info = _srcnn()
    free = training.copy_at(model, batch=None)
    training.fine_tune(free, info, training.EAGER_STEPS + 1, lr=1e-3)
    assert free.run_eagerly is False


@pytest.mark.parametrize("free_batch", [True, False])
def test_the_trainee_is_the_full_size_copy_when_it_would_be_the_same(free_batch):
    """A model at its own training side with a free batch (a user's file) trains its one transformed copy; one
    with its batch fixed at 1 (a zoo source: the converter folds shapes) still trains a free-batch twin and copies
    the weights over."""
    model, info = _srcnn()
    model = training.copy_at(model, batch=None if free_batch else 1)
    assert training.train_side(info, tuple(model.input_shape)) is None  # 24 px: trained at its own side
    made = []

    def transform(m):
        made.append(m.input_shape)
        return m

    tuned = training.tuned_copy(model, info, transform, 3, lr=1e-3)
    assert made == ([(None, 24, 24, 1)] if free_batch else [(1, 24, 24, 1), (None, 24, 24, 1)])
    assert tuned.input_shape == model.input_shape
    assert max(float(np.abs(a - b).max()) for a, b in zip(model.get_weights(), tuned.get_weights())) > 1e-5


def test_the_benchmark_refuses_bad_steps_in_one_line(capsys):
    from benchmarks import short_fine_tune

    assert short_fine_tune.main(["--steps", "2,x\x1b[31m"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("short_fine_tune: --steps: ") and "\n" not in err and "\x1b" not in err
