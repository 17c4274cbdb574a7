"""truncated_svd (Fast R-CNN's fc6/fc7 split) and its chaining after prune_channels.

Real tf_keras models, real TFLite conversions, MACs counted from the .tflite by converters.analysis.
"""
from __future__ import annotations

import numpy as np
import pytest

from converters import analysis, svd
from converters.passes import ConversionError, Source, get_pass


def _head(rows: int = 6, features: int = 96, units: int = 64, seed: int = 0):
    """A detector-like head: [1, rows, features] -> fc6 -> fc7 -> class and box layers."""
    import tf_keras as keras
    from tf_keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input((rows, features), batch_size=1, name="crops")
    y = layers.Dense(units, activation="relu", name="fc6")(inp)
    y = layers.Dense(units, activation="relu", name="fc7")(y)
    cls = layers.Dense(5, name="cls")(y)
    box = layers.Dense(4, name="box")(y)
    return keras.Model(inp, [cls, box], name="head")


def _x(model, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal([1, *model.input_shape[1:]]).astype(np.float32)


def _outputs(model, x) -> np.ndarray:
    return np.concatenate([np.ravel(o) for o in model(x)])


def test_full_rank_is_exact_and_the_layers_keep_their_names():
    model = _head()
    plan = {"fc6": 64, "fc7": 64}  # min(in, out): the SVD reproduces the kernel
    split = svd.svd_model(model, plan)
    x = _x(model)
    np.testing.assert_allclose(_outputs(split, x), _outputs(model, x), rtol=1e-4, atol=1e-4)
    names = [l.name for l in split.layers]
    assert names.index("fc6_svd") + 1 == names.index("fc6") and "fc7_svd" in names
    assert split.get_layer("fc6_svd").get_weights()[0].shape == (96, 64)
    assert len(split.get_layer("fc6_svd").get_weights()) == 1  # no bias, linear: W = A B exactly
    assert split.get_layer("fc6").activation.__name__ == "relu"


def test_error_falls_with_rank_as_eckart_young_says():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((40, 24)).astype(np.float32)
    s = np.linalg.svd(w, compute_uv=False)
    errors = []
    for rank in range(1, 25):
        a, b = svd.svd_factors(w, rank)
        assert a.shape == (40, rank) and b.shape == (rank, 24)
        err = float(np.linalg.norm(w - a @ b))
        assert err == pytest.approx(float(np.sqrt((s[rank:] ** 2).sum())), rel=1e-3, abs=1e-4)
        errors.append(err)
    assert all(e2 < e1 for e1, e2 in zip(errors, errors[1:-1]))
    assert errors[-1] < 1e-4
    # the same through a model: its output error falls as the rank grows
    model = _head(seed=2)
    x = _x(model, 4)
    ref = _outputs(model, x)
    out_err = [float(np.linalg.norm(_outputs(svd.svd_model(model, {"fc6": r, "fc7": r}), x) - ref))
               for r in (4, 16, 40, 64)]
    assert out_err[0] > out_err[1] > out_err[2] > out_err[3] and out_err[3] < 1e-3 * np.linalg.norm(ref)


def test_plan_picks_the_large_layers_and_the_rank_for_keep():
    model = _head(features=96, units=64)
    plan = svd.svd_plan(model, {"min_weights": 4000, "keep": 0.25})
    assert set(plan) == {"fc6", "fc7"}  # cls/box (64 x 5, 64 x 4) are below min_weights
    assert plan["fc6"] == int(0.25 * 96 * 64 // (96 + 64)) == 9 and plan["fc7"] == 8
    assert svd.svd_plan(model, {"layers": "fc6:20", "keep": 0.25}) == {"fc6": 20}
    assert svd.svd_plan(model, {"layers": "fc7", "rank": 64}) == {}  # full rank is no cheaper: not split
    with pytest.raises(ValueError, match="'fc9' is not a Dense layer of this model"):
        svd.svd_plan(model, {"layers": "fc9"})


def _convert(variant: str, model) -> tuple[bytes, dict]:
    p = get_pass(variant)
    src = Source("head", keras_model=model, input_shape=tuple(model.input_shape))
    out = p.fn(src, dict(p.defaults))
    return out if isinstance(out, tuple) else (out, {})


def test_pass_emits_a_smaller_dense_model_with_fewer_macs():
    model = _head(rows=6, features=96, units=64)
    base = analysis.analyze(_convert("fp32", model)[0])
    data, record = _convert("truncated_svd@min_weights=4000@keep=0.25", model)
    a = analysis.analyze(data)
    assert base["ops"]["FULLY_CONNECTED"] == 4 and a["ops"]["FULLY_CONNECTED"] == 6  # fc6, fc7 became two each
    # fc6 96x64 -> 96x9 + 9x64, fc7 64x64 -> 64x8 + 8x64, 6 rows each
    assert base["macs"] - a["macs"] == 6 * ((96 * 64 + 64 * 64) - (9 * (96 + 64) + 8 * (64 + 64)))
    assert a["params"] < base["params"] and len(data) < len(_convert("fp32", model)[0])
    assert record["svd_layers"] == {"fc6": [[96, 64], 9], "fc7": [[64, 64], 8]}
    shapes = sorted(tuple(shape) for _, shape, _, _ in analysis.kernel_tensors(data))
    assert (9, 96) in shapes and (64, 9) in shapes  # TFLite's [out, in] FULLY_CONNECTED weights
    # int8 weights after it: `then` converts the split model (TFLite leaves kernels under 1024 weights float)
    data8, rec8 = _convert("truncated_svd@min_weights=4000@keep=0.5@then=dr_int8", _head(features=512, units=256))
    assert "INT8" in analysis.analyze(data8)["kernel_dtypes"] and rec8["then"] == "dr_int8"


def test_bad_parameters_are_one_line_errors():
    model = _head()
    with pytest.raises(ConversionError, match=r"^head/truncated_svd: layers: 'nope' is not a Dense layer"):
        _convert("truncated_svd@layers=nope", model)
    with pytest.raises(ConversionError, match="no Dense layer gets cheaper"):
        _convert("truncated_svd@min_weights=100000000", model)
    with pytest.raises(ConversionError, match=r"then='bogus'.*unknown pass 'bogus'"):
        _convert("truncated_svd@min_weights=4000@then=bogus", model)
    with pytest.raises(ConversionError, match="keep.*outside"):
        get_pass("truncated_svd@keep=1.5")


def test_prune_channels_then_svd_then_dr_int8_composes_on_a_seed_detector():
    """The ladder's chain: filters removed, the head split, int8 weights: MACs below each part alone."""
    import tf_keras as keras

    from converters.zoo import get_spec

    name = "faster_rcnn_zf@size=64@width=0.25@head_units=256@proposals=8@pre_nms=64"
    spec = get_spec(name)
    keras.utils.set_random_seed(0)
    model = spec.create()

    def build(variant: str):
        p = get_pass(variant)
        src = Source(name, keras_model=model, task=spec.task, input_shape=tuple(model.input_shape), spec=spec)
        out = p.fn(src, dict(p.defaults))
        return out if isinstance(out, tuple) else (out, {})

    pruned, _ = build("prune_channels@flops=0.5@steps=0@then=dr_int8")
    chained, record = build("prune_channels@flops=0.5@steps=0@then=truncated_svd+min_weights=10000+keep=0.25"
                            "+then=dr_int8")
    a, p = analysis.analyze(chained), analysis.analyze(pruned)
    assert a["macs_by_op"]["CONV_2D"] == p["macs_by_op"]["CONV_2D"]  # the same filters removed
    assert a["macs_by_op"]["FULLY_CONNECTED"] < 0.5 * p["macs_by_op"]["FULLY_CONNECTED"]
    assert a["ops"]["FULLY_CONNECTED"] == p["ops"]["FULLY_CONNECTED"] + 2
    assert "INT8" in a["kernel_dtypes"]
    assert set(record["then_record"]["svd_layers"]) == {"head_fc1", "head_fc2"}
    assert record["then_record"]["then"] == "dr_int8"


def test_each_kernel_is_decomposed_once_and_keyed_by_its_content():
    """The ladder rebuilds the same seeded head at every step: the SVD of a kernel is computed once,
    whatever the rank asked; a kernel with other values (retrained, pruned) is decomposed afresh."""
    rng = np.random.default_rng(11)
    w = rng.standard_normal((64, 48)).astype(np.float32)
    before = svd.svd_computed
    a1, b1 = svd.svd_factors(w, 8)
    a2, b2 = svd.svd_factors(w.copy(), 4)  # same content, another array and rank
    assert svd.svd_computed == before + 1
    np.testing.assert_array_equal(a2, a1[:, :4])
    changed = w.copy()
    changed[0, 0] += 1.0
    svd.svd_factors(changed, 8)
    assert svd.svd_computed == before + 2
