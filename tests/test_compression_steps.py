"""Issue 23 item 5: the compression passes fine-tune for a recipe constant per task (training.COMPRESSION_STEPS),
their controls for exactly as long, and that constant is no part of the shipped fp32 weights' identity.

Real TensorFlow fine-tuning and conversions on the tiny zoo models (quick recipes: every length / 10).
"""
from __future__ import annotations

import pytest

from converters import shipped, training
from converters.build import VariantBuilder
from converters.control import control_variant
from converters.zoo import get_spec
from tests.fixtures_converters import TINY_CLS, TINY_SR


@pytest.mark.parametrize("variant", ["factorize", "prune_channels@flops=0.5"])
def test_sr_compressions_fine_tune_the_task_s_steps_and_their_control_as_long(builder, variant):
    steps = training.COMPRESSION_STEPS["super_resolution"]
    art = builder.build(TINY_SR, variant)
    assert art.metrics["steps_run"] == training.scaled(steps)
    assert control_variant(dict(art.metrics), variant).startswith(f"fine_tune@steps={steps}@")


def test_deep_compression_fine_tunes_the_classification_steps(builder):
    steps = training.COMPRESSION_STEPS["classification"]
    art = builder.build(TINY_CLS, "deep_compression")
    assert art.metrics["steps_run"] == training.scaled(steps)
    assert control_variant(dict(art.metrics), "deep_compression") == f"fine_tune@steps={steps}@lr=0.002"


def test_the_passes_read_the_constant_and_given_steps_still_win(quick_recipes, tmp_path, monkeypatch):
    """A changed constant changes what the pass runs (not a copy taken at import); @steps= overrides it and
    @steps=0 fine-tunes nothing (no control then)."""
    monkeypatch.setitem(training.COMPRESSION_STEPS, "super_resolution", 30)
    b = VariantBuilder(tmp_path, controls=False)
    assert b.build(TINY_SR, "factorize").metrics["steps_run"] == training.scaled(30) == 3
    assert b.build(TINY_SR, "factorize@steps=50").metrics["steps_run"] == 5
    none = b.build(TINY_SR, "factorize@steps=0").metrics
    assert none["steps_run"] == 0 and control_variant(dict(none), "factorize@steps=0") is None


def test_the_compression_fine_tune_leaves_the_shipped_weights_identities(monkeypatch):
    """Lengthening the passes' fine-tune must not send the shipped fp32 weights back to training."""
    before = {n: shipped.recipe_identity(get_spec(n)) for n in shipped.SHIPPED}
    for task in list(training.COMPRESSION_STEPS):
        monkeypatch.setitem(training.COMPRESSION_STEPS, task, training.COMPRESSION_STEPS[task] * 2 + 1)
    assert {n: shipped.recipe_identity(get_spec(n)) for n in shipped.SHIPPED} == before
