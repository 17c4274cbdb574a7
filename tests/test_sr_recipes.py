"""Issue 23, super-resolution: a zoo entry that its task's recipe under-trains gets its own recipe length
(training.SR_MODEL_STEPS) that only its shipped identity carries, and factorize splits, on super-resolution
models, only the layers whose split saves a real share of the MACs (compress.FACTORIZE_MIN_SAVING)."""
from __future__ import annotations

import pytest

from converters import compress, shipped, training
from converters.passes import ConversionError
from converters.zoo import get_spec
from tests.fixtures_converters import TINY_SR

FACTORIZE = {"speedup": 3.0, "min_kernel": 3, "rank": None}


def _recipe(name: str) -> tuple[int, int, int]:
    spec = get_spec(name)
    return training.sr_recipe(training.spec_task(spec, spec.create()), spec.name)


def test_fsrcnn_s_trains_its_own_length_and_the_others_their_task_s(monkeypatch):
    monkeypatch.delenv(training.RECIPE_ENV, raising=False)
    assert _recipe("fsrcnn_s")[0] == training.SR_MODEL_STEPS["fsrcnn_s"] > training.SR_LR_STEPS
    assert _recipe("fsrcnn_s@d=16")[0] == training.SR_MODEL_STEPS["fsrcnn_s"]  # an override of that entry too
    assert _recipe("fsrcnn")[0] == training.SR_LR_STEPS
    assert _recipe("fsrcnn_s_x2")[0] == training.SR_LR_STEPS  # another entry, its task's recipe
    assert _recipe("srcnn")[0] == training.SR_STEPS
    monkeypatch.setenv(training.RECIPE_ENV, "quick")  # the recipe length still scales it
    assert _recipe("fsrcnn_s")[0] == training.scaled(training.SR_MODEL_STEPS["fsrcnn_s"])


def test_an_entry_s_own_length_changes_its_identity_only(monkeypatch):
    names = ("srcnn", "srcnn_955", "fsrcnn", "fsrcnn_s", "squeezenet")
    before = {n: shipped.recipe_identity(get_spec(n)) for n in names}
    monkeypatch.setitem(training.SR_MODEL_STEPS, "fsrcnn_s", training.SR_MODEL_STEPS["fsrcnn_s"] + 1)
    after = {n: shipped.recipe_identity(get_spec(n)) for n in names}
    assert after["fsrcnn_s"] != before["fsrcnn_s"]
    assert all(after[n] == before[n] for n in names if n != "fsrcnn_s")
    monkeypatch.setitem(training.SR_MODEL_STEPS, "srcnn_955", 9000)  # a new entry re-makes that model only
    assert shipped.recipe_identity(get_spec("srcnn_955")) != before["srcnn_955"]
    assert shipped.recipe_identity(get_spec("srcnn")) == before["srcnn"]


@pytest.mark.parametrize("name, default, everything", [
    (TINY_SR, {"patch_extraction"}, {"patch_extraction", "reconstruction"}),
    ("srcnn_955@size=24", {"nonlinear_mapping"}, {"patch_extraction", "nonlinear_mapping", "reconstruction"}),
])
def test_sr_factorize_skips_splits_that_save_under_a_tenth_of_the_macs(name, default, everything):
    """SRCNN 9-1-5's 5x5 reconstruction at rank 1 saves 8% of the MACs; 9-5-5's 9x9 extraction at rank 2 saves
    7%, its reconstruction 1%: split only where the split pays. min_saving=0: every layer that gets cheaper."""
    model = get_spec(name).create()
    share = compress.FACTORIZE_MIN_SAVING["super_resolution"]
    assert set(compress._factor_plan(model, FACTORIZE, share)) == default
    assert set(compress._factor_plan(model, FACTORIZE, 0.0)) == everything
    # the layer that saves most is split whatever the threshold
    assert set(compress._factor_plan(model, FACTORIZE, 0.99)) == default


def test_factorize_min_saving_out_of_range_is_refused(builder):
    with pytest.raises(ConversionError, match=r"factorize: min_saving 1\.5 must lie in \[0, 1\)"):
        builder.build(TINY_SR, "factorize@min_saving=1.5@steps=0")
    with pytest.raises(ConversionError, match="'x' is not a number"):
        builder.build(TINY_SR, "factorize@min_saving=x")


def test_factorize_plans_bad_flags_are_one_line_and_exit_2(capsys):
    from benchmarks import factorize_plans

    assert factorize_plans.main(["--models", "squeezenet"]) == 2
    assert factorize_plans.main(["--rounds", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--models 'squeezenet'" in err[0] and "--rounds 0" in err[1]
