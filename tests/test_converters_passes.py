"""The training passes on tiny zoo models: each claim checked in the converted .tflite itself."""
from __future__ import annotations

import numpy as np
import pytest

from converters import analysis, compress, factorize, subpixel
from converters.accuracy import run_tflite
from tests.fixtures_converters import TINY_CLS, TINY_FSRCNN, TINY_SR


def _kernels(art):
    return analysis.kernel_tensors(art.path.read_bytes())


def _sparsity(art) -> float:
    dense = zeros = 0
    for _, shape, values, _ in _kernels(art):
        n = int(np.prod(shape))
        dense += n
        zeros += n - int(np.count_nonzero(values))
    return zeros / dense


def test_pruning_reaches_its_target_in_the_tflite_dense_and_sparse(builder):
    dense = builder.build(TINY_SR, "prune")
    sparse = builder.build(TINY_SR, "prune_sparse")
    target = dense.params["sparsity"]
    assert _sparsity(dense) >= target - 0.005
    assert _sparsity(sparse) >= target - 0.005
    assert all(not is_sparse for *_, is_sparse in _kernels(dense))
    assert any(is_sparse for *_, is_sparse in _kernels(sparse))
    assert "DENSIFY" in sparse.metrics["ops"]
    assert sparse.metrics["size_bytes"] < 0.7 * dense.metrics["size_bytes"]
    assert dense.metrics["gzip_bytes"] < 0.4 * dense.metrics["size_bytes"]  # zeros compress
    x = np.random.default_rng(0).random((2, 24, 24, 1), dtype=np.float32)
    np.testing.assert_allclose(run_tflite(dense.path, x), run_tflite(sparse.path, x), atol=1e-5)


def test_pruning_a_prelu_model_wraps_what_tfmot_knows(builder):
    art = builder.build(TINY_FSRCNN, "prune")
    assert art.metrics["ops"].get("PRELU", 0) >= 2  # PReLU kept, unpruned
    assert _sparsity(art) >= art.params["sparsity"] - 0.005
    assert art.metrics["sparsity_reached"] >= art.params["sparsity"] - 0.005


def test_factorized_kernels_are_kx1_then_1xk(builder):
    base = builder.build(TINY_SR, "fp32")
    art = builder.build(TINY_SR, "factorize@min_saving=0")  # every layer that gets cheaper (SR's default: 0.1)
    shapes = [shape for op, shape, *_ in _kernels(art) if op == "CONV_2D"]  # [out, kh, kw, in]
    plan = art.metrics["factorized_layers"]
    assert set(plan) == {"patch_extraction", "reconstruction"}  # the 1x1 mapping layer is left alone
    r1, r3 = plan["patch_extraction"], plan["reconstruction"]
    assert (r1, 9, 1, 1) in shapes and (64, 1, 9, r1) in shapes
    assert (r3, 5, 1, 32) in shapes and (1, 1, 5, r3) in shapes
    assert not any(kh == kw > 1 for _, kh, kw, _ in shapes)
    assert art.metrics["macs"] < base.metrics["macs"] / 2


def test_separable_factors_exact_at_full_rank_and_best_at_low_rank():
    rng = np.random.default_rng(1)
    kernel = rng.standard_normal((5, 5, 3, 4)).astype(np.float32)
    v, h = factorize.separable_factors(kernel, rank=min(5 * 3, 5 * 4))
    assert v.shape == (5, 1, 3, 15) and h.shape == (1, 5, 15, 4)
    np.testing.assert_allclose(np.einsum("acr,rbo->abco", v[:, 0], h[0].transpose(1, 0, 2)), kernel, atol=1e-4)
    err = [np.linalg.norm(np.einsum("acr,rbo->abco", *(lambda f: (f[0][:, 0], f[1][0].transpose(1, 0, 2)))(
        factorize.separable_factors(kernel, r))) - kernel) for r in (1, 4, 8)]
    assert err[0] > err[1] > err[2]
    assert factorize.factor_rank(9, 1, 64, 3.0) == 2  # 9*64 // (3*65)


def test_clustered_kernels_hold_at_most_k_values(builder):
    art = builder.build(TINY_SR, "cluster")
    k = art.params["clusters"]
    for op, _, values, _ in _kernels(art):
        assert len(np.unique(values)) <= k, op
    assert art.metrics["gzip_bytes"] < 0.5 * builder.build(TINY_SR, "fp32").metrics["gzip_bytes"]


def test_qat_converts_prelu_models_to_int8_end_to_end(builder):
    art = builder.build(TINY_FSRCNN, "qat")
    assert art.metrics["float_layers"] == []
    assert set(art.metrics["kernel_dtypes"]) == {"INT8"}
    from rpi.runner import interpreter_module

    mod, _, _ = interpreter_module()
    assert mod.Interpreter(model_path=str(art.path)).get_input_details()[0]["dtype"] == np.int8
    assert art.metrics["psnr_vs_fp32_db"] > 15  # close to its fp32 model, not noise


def test_qat_starts_from_measured_ranges_and_keeps_up_with_post_training_int8(builder):
    """tfmot starts every activation range at [-6, 6] and moves it 0.1% a step: a short QAT fine-tune
    kept ranges of ~10 units for image values in [0, 1] (FSRCNN 2.4-2.7 dB under post-training int8).
    The ranges now start where the float model's outputs lie, as post-training int8 measures them."""
    qat, int8 = builder.build(TINY_FSRCNN, "qat"), builder.build(TINY_FSRCNN, "int8")
    assert qat.metrics["psnr_vs_fp32_db"] > int8.metrics["psnr_vs_fp32_db"] - 2.0
    assert qat.metrics["psnr_db"] > int8.metrics["psnr_db"] - 0.5


def test_calibrate_ranges_sets_each_quantizer_to_its_layer_s_output_span(builder):
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    from converters.datasets import calibration_inputs

    src = builder.source(TINY_FSRCNN)
    model = src.keras_model
    q = tfmot.quantization.keras
    conv_only = keras.models.clone_model(model, clone_function=lambda l: q.quantize_annotate_layer(l)
                                         if type(l).__name__ in ("Conv2D", "Conv2DTranspose") else l)
    with q.quantize_scope():
        qm = q.quantize_apply(conv_only)
    x = calibration_inputs(src.task_info(), tuple(model.input_shape), 8, 0)
    ranges = compress.calibrate_ranges(qm, model, x)
    assert set(ranges) == {l.name for l in model.layers if type(l).__name__ in ("Conv2D", "Conv2DTranspose")}
    out = model.get_layer("deconvolution").output
    lo, hi = ranges["deconvolution"]
    span = keras.Model(model.inputs, out).predict(x, verbose=0)
    assert lo == pytest.approx(min(0.0, float(span.min()))) and hi == pytest.approx(max(0.0, float(span.max())))
    assert hi < 6.0  # not tfmot's start value
    wrapper = qm.get_layer("quant_deconvolution")
    assert {w.name.split("/")[-1].split(":")[0]: float(w.numpy()) for w in wrapper.weights
            if "post_activation" in w.name} == pytest.approx({"post_activation_min": lo, "post_activation_max": hi})


def test_deep_compression_size_beats_int8_alone(builder):
    art = builder.build(TINY_CLS, "deep_compression")
    int8 = builder.build(TINY_CLS, "int8")
    m = art.metrics
    assert m["weight_sparsity"] >= art.params["sparsity"] - 0.01
    assert m["deep_compression_bytes"] < 0.5 * int8.metrics["deep_compression_bytes"]
    assert m["deep_compression_ratio"] > 8  # > 4x from int8, more from pruning and coding
    assert "top1" in m and "top1_agreement_fp32" in m


def test_tensorrt_export_is_an_onnx_model_that_matches_fp32(builder):
    onnx = pytest.importorskip("onnx", reason="needs the onnx package (host extra) to check the export")
    from onnx.reference import ReferenceEvaluator

    art = builder.build(TINY_SR, "tensorrt")
    assert art.path.suffix == ".onnx"
    assert "no TensorRT" in art.metrics["note"] or "has TensorRT" in art.metrics["note"]
    proto = onnx.load(str(art.path))
    onnx.checker.check_model(proto)
    x = np.random.default_rng(2).random((1, 24, 24, 1), dtype=np.float32)
    got = ReferenceEvaluator(proto).run(None, {proto.graph.input[0].name: x})[0]
    want = run_tflite(builder.build(TINY_SR, "fp32").path, x)
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("k,s", [(9, 3), (9, 2), (4, 2), (5, 3)])
def test_subpixel_kernel_reproduces_transpose_conv_exactly(k, s):
    import tf_keras as keras

    keras.utils.set_random_seed(k * 10 + s)
    inp = keras.Input((7, 7, 4), batch_size=1)
    out = keras.layers.Conv2DTranspose(2, k, strides=s, padding="same", bias_initializer="random_normal",
                                       name="deconv")(inp)
    model = keras.Model(inp, out)
    new, done = subpixel.subpixel_model(model)
    assert done == ["deconv"] and "Conv2DTranspose" not in {type(l).__name__ for l in new.layers}
    x = np.random.default_rng(0).random((1, 7, 7, 4), dtype=np.float32)
    np.testing.assert_allclose(new(x).numpy(), model(x).numpy(), atol=1e-5)


def test_subpixel_pass_replaces_the_deconvolution_in_the_tflite(builder):
    art, base = builder.build(TINY_FSRCNN, "subpixel"), builder.build(TINY_FSRCNN, "fp32")
    assert "TRANSPOSE_CONV" in base.metrics["ops"] and "TRANSPOSE_CONV" not in art.metrics["ops"]
    assert art.metrics["ops"]["DEPTH_TO_SPACE"] == 1
    assert art.metrics["xnnpack_ops"] == art.metrics["ops_total"]
    x = np.random.default_rng(3).random((2, 16, 16, 1), dtype=np.float32)
    np.testing.assert_allclose(run_tflite(art.path, x), run_tflite(base.path, x), atol=1e-4)
