"""Building variants: the content cache, trained-weight cache, metrics, bad input, and the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from converters import training
from converters.build import VariantBuilder
from harness.commands.convert import convert_all
from tests.fixtures_converters import TINY_CLS, TINY_SR


def test_second_build_converts_and_trains_nothing(quick_recipes, tmp_path):
    first = VariantBuilder(tmp_path)
    a = [first.build(TINY_SR, v) for v in ("fp32", "dr_int8")]
    assert first.converted == 2 and not any(x.cached for x in a)
    assert list((tmp_path / "weights").glob("*.npz"))  # the recipe's weights were stored
    trained_before = list(training.RECIPES_RUN)
    again = VariantBuilder(tmp_path)
    b = [again.build(TINY_SR, v) for v in ("fp32", "dr_int8")]
    assert again.converted == 0 and all(x.cached for x in b)
    assert [x.path for x in a] == [x.path for x in b] and b[1].metrics == a[1].metrics
    # a new artifact for the same model reuses the trained weights: no recipe runs again
    again.build(TINY_SR, "fp16")
    assert again.converted == 1 and training.RECIPES_RUN == trained_before


def test_variant_metrics_hold_analysis_and_accuracy(builder):
    fp32, fp16, int8 = (builder.build(TINY_SR, v) for v in ("fp32", "fp16", "int8"))
    m = fp16.metrics
    for key in ("macs", "params", "ops", "xnnpack_ops", "psnr_db", "ssim", "psnr_bicubic_db", "accuracy"):
        assert key in m, key
    assert m["macs"] == fp32.metrics["macs"] == 24 * 24 * (81 * 64 + 64 * 32 + 25 * 32)
    assert m["psnr_vs_fp32_db"] > 50  # fp16 weights barely move the output
    assert int8.metrics["psnr_vs_fp32_db"] < m["psnr_vs_fp32_db"]
    assert abs(m["psnr_db"] - fp32.metrics["psnr_db"]) < 0.05
    cls = builder.build(TINY_CLS, "dr_int8").metrics
    assert 0.0 <= cls["top1"] <= 1.0 and cls["top1_chance"] < 0.5 and cls["top1_agreement_fp32"] > 0.5


def test_a_cached_variant_whose_scoring_failed_is_scored_again(builder):
    """A 3000-patch eval that passed isolate's time limit on a loaded host was cached with `accuracy_error`
    and no scores, and served so until someone deleted the entry. Now the next build scores the cached file
    again (no conversion) and rewrites the entry."""
    first = builder.build(TINY_SR, "fp16")
    meta_path = first.path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    assert "psnr_db" in meta["metrics"] and "accuracy_error" not in meta["metrics"]
    broken = {k: v for k, v in meta["metrics"].items() if k not in ("psnr_db", "ssim", "accuracy")}
    meta_path.write_text(json.dumps({**meta, "metrics": {**broken, "accuracy_error": "eval: did not finish in 600 s"}}))
    converted = builder.converted
    again = builder.build(TINY_SR, "fp16")
    assert again.cached and builder.converted == converted and again.path == first.path
    assert "accuracy_error" not in again.metrics and again.metrics["psnr_db"] == first.metrics["psnr_db"]
    assert json.loads(meta_path.read_text())["metrics"]["psnr_db"] == first.metrics["psnr_db"]


def test_bad_inputs_fail_one_variant_at_a_time(quick_recipes, tmp_path, dense_keras_file):
    rows = convert_all([str(dense_keras_file), "no_such_model"], ["fp32", "int8", "nonsense", "dr_int8"],
                       tmp_path / "out", None, tmp_path / "cache", log=lambda line: None)
    by = {(r["model"].split("/")[-1], r["variant"]): r for r in rows}
    user = dense_keras_file.name
    assert "error" not in by[(user, "fp32")] and "error" not in by[(user, "dr_int8")]
    err = by[(user, "int8")]["error"]
    assert "int8" in err and "representative" in err and "\n" not in err
    assert by[(user, "nonsense")]["error"].startswith("unknown pass 'nonsense'")
    assert "unknown model 'no_such_model'" in by[("no_such_model", "fp32")]["error"]


def test_user_models_get_agreement_but_no_invented_labels(quick_recipes, tmp_path, conv_keras_file):
    rows = convert_all([str(conv_keras_file)], ["fp32", "dr_int8"], None, None, tmp_path, log=lambda line: None)
    fp32, dr = (r["metrics"] for r in rows)
    assert "top1" not in fp32 and fp32.get("accuracy") is None  # our shapes are not its classes
    assert dr["top1_agreement_fp32"] > 0.8


def test_zoo_overrides_are_checked():
    from converters.zoo import get_spec

    spec = get_spec("squeezenet@size=96@classes=7")
    assert spec.kwargs["size"] == 96 and spec.kwargs["classes"] == 7 and spec.task == "classification"
    with pytest.raises(KeyError, match="unknown argument 'widht'"):
        get_spec("srcnn@widht=3")
    with pytest.raises(KeyError, match="key=value"):
        get_spec("srcnn@24")
    # a yes/no argument is parsed as one: `@carry=False` was the string "False", which is true
    assert get_spec("fsrcnn_s@carry=False").carry is False and get_spec("fsrcnn_s@carry=1").carry is True
    with pytest.raises(KeyError, match="carry is yes/no"):
        get_spec("fsrcnn_s@carry=maybe")


def test_convert_cli_writes_artifacts_and_table(quick_recipes, tmp_path, capsys, converter_cache):
    from harness.cli import main

    out = tmp_path / "out"
    code = main(["convert", "--models", TINY_SR, "--variants", "fp32,bogus,dr_int8", "--out", str(out),
                 "--cache-dir", str(converter_cache)])
    assert code == 1  # one variant failed; the others were still written
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"{TINY_SR}__dr_int8.tflite", f"{TINY_SR}__fp32.tflite", "table.md", "variants.json"]
    rows = json.loads((out / "variants.json").read_text())
    assert [r.get("error", "").split(" (")[0] for r in rows] == ["", "unknown pass 'bogus'", ""]
    table = (out / "table.md").read_text()
    assert "bicubic" in table and "error: unknown pass 'bogus'" in table
    assert main(["convert", "--out", str(out / "table.md")]) == 2  # a file is not a folder: user error
    assert "not a folder" in capsys.readouterr().err


def test_harness_run_results_carry_the_metrics(quick_recipes, tmp_path, conv_keras_file):
    from harness.orchestration import orchestrate
    from harness.planning.config import local_only
    from harness.planning.plan import make_plan

    plan = make_plan(local_only(), models=[str(conv_keras_file)], variants=["fp32", "int8"],
                     overrides={"min_runs": 5, "min_s": 0.05, "warmup_s": 0.0, "cooldown_s": 0.0, "threads": 1},
                     peak_probe=False)  # achieved GFLOP/s is the model's own rate: no probe needed
    summary = orchestrate.run(plan, tmp_path / "r.db", cache_dir=tmp_path / "cache")
    assert summary.measured == 2, [m.error for m in summary.results]
    for m in summary.results:
        assert m.metrics["macs"] == 20 * 20 * 8 * 27 + 8 * 5
        assert m.metrics["achieved_gflops"] == pytest.approx(2 * m.metrics["macs"] / m.p50_us / 1e3, rel=0.01)
        assert "xnnpack_ops" in m.metrics and "params" in m.metrics
    int8 = next(m for m in summary.results if m.variant == "int8")
    assert 0.0 <= int8.metrics["top1_agreement_fp32"] <= 1.0
    assert int8.metrics["pass_params"] == {"calibration_samples": 32, "io_type": "int8"}  # the run table's "pass params"


def test_fold_batchnorm_matches_the_twin():
    import tf_keras as keras

    from converters.zoo import squeezenet

    keras.utils.set_random_seed(5)
    twin = squeezenet(size=48, classes=4, batchnorm=True)
    rng = np.random.default_rng(0)
    for layer in twin.layers:  # non-trivial statistics, as after training
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 2, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 2, var.shape)])
    plain = squeezenet(size=48, classes=4)
    training.fold_batchnorm(twin, plain)
    x = rng.random((2, 48, 48, 3), dtype=np.float32)
    np.testing.assert_allclose(plain(x).numpy(), twin(x, training=False).numpy(), atol=1e-4)
