"""Training progress: who hears about training steps, and the Keras callback that tells them.

Apart from converters/training.py (issue 24: modules under ~500 lines); converters.build installs the listener.
"""
from __future__ import annotations

from typing import TYPE_CHECKING
from collections.abc import Callable

if TYPE_CHECKING:  # tf_keras ships no type information: mypy cannot check these names
    import tf_keras

# Who hears about training steps: a function(phase, done, total) the caller installs with `reporting`
# (harness feeds its progress display through it; converters never import harness).
_PROGRESS: list[Callable[[str, int, int], None]] = []


class reporting:  # noqa: N801 (used as `with reporting(fn):`)
    """Send training progress (phase, step, steps) to `fn` while the block runs."""

    def __init__(self, fn: Callable[[str, int, int], None] | None) -> None:
        self.fn = fn

    def __enter__(self) -> None:
        if self.fn is not None:
            _PROGRESS.append(self.fn)

    def __exit__(self, *exc: object) -> None:
        if self.fn is not None and _PROGRESS and _PROGRESS[-1] is self.fn:
            _PROGRESS.pop()


def report(phase: str, done: int, total: int) -> None:
    if _PROGRESS:
        try:
            _PROGRESS[-1](phase, done, total)
        except Exception:  # a display problem never stops training
            pass


def progress_callbacks(phase: str, steps: int) -> list[tf_keras.callbacks.Callback]:
    """A Keras callback reporting every ~5% of `steps` (none when nobody listens)."""
    if not _PROGRESS:
        return []
    import tf_keras as keras

    every = max(1, steps // 20)

    class _Steps(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            report(phase, 0, steps)

        def on_train_batch_end(self, batch, logs=None):
            if (batch + 1) % every == 0 or batch + 1 == steps:
                report(phase, batch + 1, steps)

    return [_Steps()]
