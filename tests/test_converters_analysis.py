"""The .tflite analysis: MACs and parameters read from real converted flatbuffers, the Deep
Compression size arithmetic, and the peak probe."""
from __future__ import annotations

import numpy as np
import pytest

from converters import analysis, peak


def _convert(model, optimize: str | None = None) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if optimize == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif optimize == "dr_int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    return conv.convert()


@pytest.fixture(scope="module")
def small_model():
    """conv 3x3 -> depthwise 3x3 (stride 2) -> transpose conv 4x4 (stride 2) -> pooled dense."""
    import tf_keras as keras
    from tf_keras import layers

    keras.utils.set_random_seed(7)
    b = "random_normal"  # zero biases would be dropped or shared by the converter, like any zero constant
    inp = keras.Input((16, 16, 3), batch_size=1)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", bias_initializer=b)(inp)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", bias_initializer=b)(x)
    x = layers.Conv2DTranspose(6, 4, strides=2, padding="same", bias_initializer=b)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, layers.Dense(5, bias_initializer=b)(x))


def hand_macs() -> int:
    conv = 16 * 16 * 8 * (3 * 3 * 3)  # output pixels x out channels x (kh kw cin)
    depthwise = 8 * 8 * 8 * (3 * 3)  # stride 2: 8x8 outputs, one 3x3 filter per channel
    transpose = 8 * 8 * 8 * (4 * 4 * 6)  # every input pixel scatters a 4x4x6 patch per channel
    dense = 6 * 5
    return conv + depthwise + transpose + dense


@pytest.mark.parametrize("optimize", [None, "fp16", "dr_int8"])
def test_macs_and_params_match_hand_formula(small_model, optimize):
    out = analysis.analyze(_convert(small_model, optimize))
    assert out["macs"] == hand_macs()
    assert out["params"] == small_model.count_params()
    assert set(out["macs_by_op"]) == {"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED"}


def test_fp16_weights_are_found_behind_dequantize(small_model):
    out = analysis.analyze(_convert(small_model, "fp16"))
    assert out["ops"].get("DEQUANTIZE", 0) >= 4
    assert out["kernel_dtypes"] == ["FLOAT16"]


def test_xnnpack_coverage_from_the_interpreter(tmp_path, small_model):
    path = tmp_path / "m.tflite"
    path.write_bytes(_convert(small_model))
    d = analysis.describe(path)
    assert d["ops_total"] == sum(d["ops"].values())
    assert 0 < d["xnnpack_ops"] <= d["ops_total"]
    assert d["size_bytes"] == path.stat().st_size and d["gzip_bytes"] < d["size_bytes"]


def test_huffman_bits_optimal_on_known_histograms():
    assert analysis.huffman_bits([0, 1, 2, 3] * 10) == 80  # four equal symbols: 2 bits each
    assert analysis.huffman_bits([5] * 7) == 7  # a single symbol still costs a bit
    # p = 1/2, 1/4, 1/4 -> lengths 1, 2, 2
    assert analysis.huffman_bits([0] * 4 + [1] * 2 + [2] * 2) == 4 * 1 + 2 * 2 + 2 * 2


def test_sparse_index_round_trip_with_fillers():
    rng = np.random.default_rng(0)
    values = np.zeros(500, np.int8)
    where = np.sort(rng.choice(500, 30, replace=False))
    values[where] = rng.integers(1, 100, 30)
    values[499] = 9  # a long final gap forces filler zeros under 4-bit gaps
    vals, gaps = analysis.sparse_index_symbols(values, index_bits=4)
    assert gaps.max() <= 15
    positions = np.cumsum(gaps) - 1
    rebuilt = np.zeros_like(values)
    rebuilt[positions] = vals
    np.testing.assert_array_equal(rebuilt, values)
    assert len(vals) > np.count_nonzero(values)  # fillers were needed


def test_peak_probe_is_one_matmul_with_known_flops(tmp_path):
    path, flops = peak.probe_path(tmp_path, size=256)
    a = analysis.analyze(path.read_bytes())
    assert a["ops"] == {"FULLY_CONNECTED": 1}
    assert 2 * a["macs"] == flops == peak.probe_flops(256)
    assert peak.peak_gflops_from_latency(2e9, 1e6) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        peak.peak_gflops_from_latency(1.0, 0.0)


def test_int8_probe_is_a_quantized_matmul(tmp_path):
    path, flops = peak.probe_path(tmp_path, size=128, dtype="int8")
    a = analysis.analyze(path.read_bytes())
    assert a["ops"].get("FULLY_CONNECTED") == 1 and a["kernel_dtypes"] == ["INT8"]
    assert 2 * a["macs"] == flops


def test_peak_measured_here_through_the_runner(tmp_path):
    got = peak.measure_here(threads=1, min_runs=3, min_s=0.05, cache_dir=tmp_path, size=256)
    assert got["runs"] >= 3 and got["p50_us"] > 0
    assert got["peak_gflops"] == pytest.approx(got["flops"] / got["p50_us"] / 1e3, rel=0.01)
