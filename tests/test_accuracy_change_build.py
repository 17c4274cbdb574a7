"""Issue 23: a fine-tuned variant is built beside its control (the same fine-tuning, nothing
compressed) and scored on the same held-out examples. Real training and LiteRT on a tiny zoo model."""
from __future__ import annotations

from converters.accuracy import CLS_EVAL_IMAGES
from converters.texture_patches import DATA_NAME
from harness.statistics.accuracy_change import CONTROL, judged
from tests.fixtures_converters import TINY_CLS, locked_builder, run_root


def test_a_pruned_variant_carries_its_control_s_scores_on_the_same_images(quick_recipes, converter_cache,
                                                                           tmp_path_factory):
    builder = locked_builder(run_root(tmp_path_factory), converter_cache, controls=True)
    art = builder.build(TINY_CLS, "prune_channels@flops=0.5@steps=40")
    per = art.metrics["per_example"]
    lr = art.metrics.get("fine_tune_lr")
    assert art.metrics["control_variant"] == "fine_tune@steps=40" + (f"@lr={lr!r}" if lr else "")
    control = builder.build(TINY_CLS, art.metrics["control_variant"])
    assert control.metrics["steps_run"] == art.metrics["steps_run"]  # the same fine-tuning
    assert control.metrics["distill"] == art.metrics["distill"] == 0.0  # no teacher by default, in either
    assert per["control"] == control.metrics["per_example"]["variant"]
    assert len(per["variant"]) == len(per["fp32"]) == len(per["control"]) == CLS_EVAL_IMAGES
    assert per["data"] == f"{CLS_EVAL_IMAGES} held-out images: {DATA_NAME}, 6 classes"
    changes, why = judged(art.metrics)
    assert changes["control"].comparison == CONTROL and why.endswith(f"vs {CONTROL}")
    # without its control the same variant is not judged at all
    alone = {k: v for k, v in art.metrics.items() if k != "per_example"}
    alone["per_example"] = {k: v for k, v in per.items() if k != "control"}
    assert judged(alone)[1].startswith("not judged: it fine-tuned and has no control")
