"""The control of a fine-tuned compression: the same model, the same fine-tuning, nothing compressed.

A pruned model fine-tuned 400 steps that scores better than fp32 may owe it to the 400 steps, not to
pruning: SqueezeNet `prune_channels@flops=0.5` scored 1.000 against fp32's 0.960, and the same 400
steps with nothing pruned also scored 1.000. So a compression pass that fine-tunes is judged against
`fine_tune@steps=N@lr=X`, built here the way that pass trains (same recipe, learning rate and data),
with the identity as the transform. `control_variant` names the control of a compressed variant.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from converters.passes import Source, register

if TYPE_CHECKING:
    from converters.passes import Params
    from converters.variant_metrics import VariantMetrics

# The compression passes that fine-tune, with their default steps (None: the task's training.COMPRESSION_STEPS;
# 0: no fine-tuning by default).
FINE_TUNING_PASSES = {"prune": None, "prune_sparse": None, "deep_compression": None, "cluster": 200, "qat": 200,
                      "factorize": None, "prune_channels": None, "truncated_svd": 0}


@register("fine_tune", "control: the same fine-tuning as a compression pass, nothing compressed (judges what the "
          "compression itself costs)", {"steps": 400, "lr": None, "distill": 0.0, "then": "fp32"}, needs_keras=True)
def fine_tune_control(src: Source, params: Params):
    from converters.compress import _distill, _keras, _lr, _task
    from converters.svd import run_then, then_pass
    from converters.training import fine_tuned, scaled

    _keras(src, "fine_tune")
    info = _task(src, "fine_tune")
    then = str(params.get("then") or "fp32")
    then_pass(then, f"{src.name}/fine_tune")
    steps = scaled(int(params["steps"])) if int(params["steps"]) > 0 else 0
    lr = _lr(params, info)
    distill = _distill(src, {"distill": params.get("distill") or 0.0}, info, "fine_tune")
    tuned = fine_tuned(src, lambda m: m, steps, lr, distill=distill) if steps else src.keras_model
    data, record = run_then(src, tuned, then, "fine_tune")
    return data, {"steps_run": steps, "fine_tune_lr": lr, "distill": distill, "then": then, "control": True,
                  **record}


def control_variant(metrics: VariantMetrics, variant: str) -> str | None:
    """The control of a built variant from what its pass recorded (steps run, learning rate, distillation
    weight): None when the variant did not fine-tune (fp16, int8: fp32 itself is their control). A variant
    distilled from fp32 gets a control distilled the same way (`@distill=`): without it the control would
    lack what the teacher taught, and the compression would be credited with it."""
    name = variant.split("@", 1)[0]
    steps = metrics.get("steps_run")
    if name not in FINE_TUNING_PASSES or not steps:
        return None
    lr = metrics.get("fine_tune_lr")
    # steps_run is already scaled by the recipe mode; the control is asked for the unscaled count
    from converters.training import STEP_FACTOR, recipe_mode

    raw = max(1, round(int(steps) / STEP_FACTOR[recipe_mode()]))
    distill = float(metrics.get("distill") or 0.0)
    return (f"fine_tune@steps={raw}" + (f"@lr={float(lr)!r}" if lr else "")
            + (f"@distill={distill!r}" if distill > 0 else ""))
