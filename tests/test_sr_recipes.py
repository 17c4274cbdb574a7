"""Issue 23, super-resolution: a zoo entry that its task's recipe under-trains (FSRCNN-s, SRCNN 9-5-5) gets its own
recipe length (training.SR_MODEL_STEPS) that only its shipped identity carries, and factorize splits, on super-resolution
models, a split that saves little at the rank keeping most of its kernel's energy (factorize.FACTORIZE_MIN_SAVING)."""
from __future__ import annotations

import numpy as np
import pytest

from converters import factorize, shipped, training
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
    monkeypatch.setitem(training.SR_MODEL_STEPS, "fsrcnn", 6000)  # a new entry re-makes that model only
    assert shipped.recipe_identity(get_spec("fsrcnn")) != before["fsrcnn"]
    assert shipped.recipe_identity(get_spec("srcnn")) == before["srcnn"]


def test_srcnn_955_trains_its_own_length_and_9_1_5_its_task_s(monkeypatch):
    """SRCNN 9-5-5's fine-tuned control beat its fp32 by 0.09 dB at SR_STEPS: it trains longer, 9-1-5 does not."""
    monkeypatch.delenv(training.RECIPE_ENV, raising=False)
    assert _recipe("srcnn_955")[0] == training.SR_MODEL_STEPS["srcnn_955"] > training.SR_STEPS
    assert _recipe("srcnn_955@size=24")[0] == training.SR_MODEL_STEPS["srcnn_955"]  # an override of that entry too
    assert _recipe("srcnn")[0] == training.SR_STEPS
    monkeypatch.setenv(training.RECIPE_ENV, "quick")
    assert _recipe("srcnn_955")[0] == training.scaled(training.SR_MODEL_STEPS["srcnn_955"])


def test_srcnn_955_s_own_length_changes_its_identity_only(monkeypatch):
    """Its own length re-makes (and re-ships) 9-5-5's weights only; the other entries keep theirs."""
    names = ("srcnn", "srcnn_955", "fsrcnn", "fsrcnn_s", "squeezenet")
    now = {n: shipped.recipe_identity(get_spec(n)) for n in names}
    monkeypatch.delitem(training.SR_MODEL_STEPS, "srcnn_955")  # the task's length, as before
    without = {n: shipped.recipe_identity(get_spec(n)) for n in names}
    assert now["srcnn_955"] != without["srcnn_955"]
    assert all(now[n] == without[n] for n in names if n != "srcnn_955")


def _low_rank(model, name: str, rank: int) -> None:
    """Give layer `name` a kernel of exactly `rank` in separable_factors' sense, its singular values equal (a split
    at r < rank keeps r / rank of its energy)."""
    layer = model.get_layer(name)
    kernel, *rest = layer.get_weights()
    k, _, cin, cout = kernel.shape
    rng = np.random.default_rng(0)
    u = np.linalg.qr(rng.standard_normal((k * cin, rank)))[0]
    v = np.linalg.qr(rng.standard_normal((k * cout, rank)))[0]
    m = 0.1 * u @ v.T
    layer.set_weights([m.reshape(k, cin, k, cout).transpose(0, 2, 1, 3).astype(np.float32), *rest])


def test_sr_factorize_makes_small_splits_at_a_rank_that_keeps_their_energy():
    """SRCNN 9-1-5's 5x5 reconstruction (32 -> 1) split at the speed-up's rank 1 saves 8% of the MACs: the default
    splits it at the rank keeping 85% of its kernel's energy (here exactly 3), or leaves it whole when that rank is
    no cheaper than the kernel (a full-rank random kernel); min_saving=0: every split at the speed-up's rank."""
    model = get_spec(TINY_SR).create()
    share, keep = factorize.FACTORIZE_MIN_SAVING["super_resolution"], factorize.FACTORIZE_SMALL_ENERGY["super_resolution"]
    _low_rank(model, "reconstruction", 5)  # full rank: 85% needs all 5, no cheaper than the 5x5 kernel
    assert factorize._factor_plan(model, FACTORIZE, share, keep) == {"patch_extraction": 2}
    _low_rank(model, "reconstruction", 3)
    assert factorize._factor_plan(model, FACTORIZE, share, keep) == {"patch_extraction": 2, "reconstruction": 3}
    assert factorize._factor_plan(model, FACTORIZE, share, 0.0) == {"patch_extraction": 2}  # small splits left whole
    assert factorize._factor_plan(model, FACTORIZE, 0.0) == {"patch_extraction": 2, "reconstruction": 1}
    assert factorize.energy_rank(model.get_layer("reconstruction").get_weights()[0], 0.999) == 3


def test_the_split_that_saves_most_keeps_the_speed_up_s_rank():
    model = get_spec("srcnn_955@size=24").create()
    for name, rank in (("patch_extraction", 3), ("reconstruction", 2)):
        _low_rank(model, name, rank)
    plan = factorize._factor_plan(model, FACTORIZE, 0.1, 0.85)
    assert plan == {"patch_extraction": 3, "nonlinear_mapping": 35, "reconstruction": 2}
    assert factorize._factor_plan(model, FACTORIZE, 0.99, 0.0) == {"nonlinear_mapping": 35}


def test_factorize_min_saving_out_of_range_is_refused(builder):
    with pytest.raises(ConversionError, match=r"factorize: min_saving 1\.5 must lie in \[0, 1\)"):
        builder.build(TINY_SR, "factorize@min_saving=1.5@steps=0")
    with pytest.raises(ConversionError, match=r"factorize: small_energy 2\.0 must lie in \[0, 1\]"):
        builder.build(TINY_SR, "factorize@small_energy=2.0@steps=0")
    with pytest.raises(ConversionError, match="'x' is not a number"):
        builder.build(TINY_SR, "factorize@min_saving=x")


def test_factorize_plans_bad_flags_are_one_line_and_exit_2(capsys):
    from benchmarks import factorize_plans

    assert factorize_plans.main(["--models", "squeezenet"]) == 2
    assert factorize_plans.main(["--rounds", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--models 'squeezenet'" in err[0] and "--rounds 0" in err[1]
