"""A short fine-tune traced (tf.function, tf_keras' default) against run eagerly, side by side in one run.

`training.fine_tune` runs eagerly when it has at most `training.EAGER_STEPS` steps: tracing a train step costs
a fixed few seconds (more with TF-MOT's wrappers), an eager step costs several traced ones. For each model and
step count: the CPU seconds of `fine_tune` on a fresh copy both ways (after the data for it is drawn once, so
only the training is timed), their ratio, and which way `fine_tune` takes. Zoo models by name, or
`mobilenetv3small` (keras.applications, 32x32, rebuilt in tf_keras as a user's .keras file is). One thread, as
the tests run TensorFlow.

    python benchmarks/short_fine_tune.py [--models mobilenetv3small,squeezenet@size=48@classes=6] [--steps 2,8,40]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

from benchmarks.keras_export import APP, source  # noqa: E402  (MobileNetV3Small as a user's .keras file)


def timed(src: Any, steps: int, eager: bool) -> float:
    """CPU seconds of one fine-tune of `steps` steps on a fresh copy of the source's model."""
    from converters import training

    model = training.copy_at(src.keras_model, batch=None)
    t = time.process_time()
    training.fine_tune(model, src.task_info(), steps, src.image_dir, eager=eager)
    return time.process_time() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=f"{APP},squeezenet@size=48@classes=6,srcnn@size=24")
    ap.add_argument("--steps", default="2,8,16,40")
    args = ap.parse_args(argv)
    try:
        steps = [int(s) for s in args.steps.split(",")]
        if not steps or min(steps) < 1:
            raise ValueError
    except ValueError:
        print(f"short_fine_tune: --steps: expected whole numbers from 1, comma-separated, got {args.steps[:80]!r}",
              file=sys.stderr)
        return 2
    os.environ.setdefault("HARNESS_RECIPE", "quick")  # the zoo's weights, if trained here, the quick way
    from converters import training
    from converters.build import VariantBuilder
    from converters.passes import ConversionError

    print(f"fine_tune runs eagerly up to EAGER_STEPS = {training.EAGER_STEPS} steps\n")
    print("| model | steps | traced CPU-s | eager CPU-s | eager / traced | fine_tune takes |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        builder = VariantBuilder(Path(tmp) / "cache")
        for name in (n.strip() for n in args.models.split(",") if n.strip()):
            try:
                src = source(name, builder, Path(tmp))
            except (ConversionError, ValueError, OSError) as exc:
                print(f"short_fine_tune: --models: {name[:80]!r}: {str(exc).splitlines()[0][:200]}", file=sys.stderr)
                return 2
            timed(src, 1, eager=True)  # untimed: draws the task's data once (cached), which no column should carry
            for n in steps:
                traced, eager = timed(src, n, eager=False), timed(src, n, eager=True)
                way = "eager" if n <= training.EAGER_STEPS else "traced"
                print(f"| {name} | {n} | {traced:.1f} | {eager:.1f} | {eager / traced:.2f}x | {way} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
