"""Core ML passes through the real coremltools: ML programs saved as zipped .mlpackage artifacts, with
size, parameters and ops read from the saved spec (no model load on Linux)."""
from __future__ import annotations

import zipfile

import pytest

pytest.importorskip("coremltools", reason="pip install coremltools==9.0 (the host extra)")

from converters.build import VariantBuilder, artifact_suffix  # noqa: E402
from converters.coreml import COREML_VARIANTS, describe_package, unzip_package  # noqa: E402
from converters.passes import ConversionError, get_pass  # noqa: E402


@pytest.fixture(scope="module")
def keras_model_file(tmp_path_factory):
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((24, 24, 3)), keras.layers.Conv2D(32, 3, activation="relu"),
                          keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(),
                          keras.layers.Dense(10)])
    # Trained biases are not zero (coremltools drops all-zero biases, which would change the count).
    m.set_weights([w if w.ndim > 1 else w + 0.1 for w in m.get_weights()])
    path = tmp_path_factory.mktemp("user") / "net.keras"
    m.save(path)
    return path, m.count_params()


@pytest.fixture(scope="module")
def built(keras_model_file, tmp_path_factory):
    path, _ = keras_model_file
    builder = VariantBuilder(tmp_path_factory.mktemp("cache"))
    return builder, {v: builder.build(str(path), v) for v in COREML_VARIANTS}


def test_passes_are_registered():
    for v in COREML_VARIANTS:
        assert get_pass(v).name == v


def test_artifacts_are_zipped_packages_with_facts_from_the_spec(built, keras_model_file, tmp_path):
    _, arts = built
    _, n_params = keras_model_file
    for v, art in arts.items():
        assert art.path.name.endswith(".mlpackage.zip") and artifact_suffix(art.path) == ".mlpackage.zip"
        m = art.metrics
        assert m["format"] == "mlpackage" and m["params"] == n_params, (v, m)
        assert m["coreml_op_types"]["conv"] == 2 and m["coreml_ops_total"] >= 4
        assert "not measured" in m["accuracy_note"] and "top1" not in m
        pkg = unzip_package(art.path, tmp_path / v)
        assert (pkg / "Manifest.json").is_file()
        assert describe_package(pkg)["size_bytes"] == m["size_bytes"]  # the package's bytes, not the zip's
    fp16, fp32 = arts["coreml"].metrics, arts["coreml_fp32"].metrics
    # fp16 weights take half the bytes of fp32 ones (the weight file, apart from headers and alignment).
    assert 0.45 < fp16["weight_bytes"] / fp32["weight_bytes"] < 0.6
    assert "constexpr_affine_dequantize" in str(arts["coreml_int8"].metrics["coreml_compressed_weights"])
    assert "constexpr_lut_to_dense" in str(arts["coreml_palettize"].metrics["coreml_compressed_weights"])
    assert arts["coreml_palettize"].metrics["weight_bytes"] < arts["coreml_int8"].metrics["weight_bytes"] \
        < fp16["weight_bytes"]


def test_second_build_comes_from_the_cache(built, keras_model_file):
    builder, arts = built
    again = builder.build(str(keras_model_file[0]), "coreml")
    assert again.cached and again.path == arts["coreml"].path and again.metrics == arts["coreml"].metrics


def test_saved_model_directory_converts(tmp_path):
    import tensorflow as tf

    class Scale(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32)])
        def __call__(self, x):
            return {"y": tf.nn.relu(tf.matmul(x, tf.ones([8, 4])))}

    folder = tmp_path / "sm"
    mod = Scale()
    tf.saved_model.save(mod, str(folder), signatures=mod.__call__)
    art = VariantBuilder(tmp_path / "cache").build(str(folder), "coreml_fp32")
    assert art.metrics["format"] == "mlpackage" and art.metrics["coreml_ops_total"] >= 1


def test_bad_parameters_and_hostile_zips(tmp_path, keras_model_file):
    builder = VariantBuilder(tmp_path / "cache")
    with pytest.raises(ConversionError, match="nbits must be one of"):
        builder.build(str(keras_model_file[0]), "coreml_palettize", {"nbits": 5})
    evil = tmp_path / "evil.mlpackage.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("model.mlpackage/../../escape.txt", "x")
    with pytest.raises(ConversionError, match="outside the package"):
        unzip_package(evil, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
    notpkg = tmp_path / "x.mlpackage.zip"
    with zipfile.ZipFile(notpkg, "w") as zf:
        zf.writestr("readme.txt", "x")
    with pytest.raises(ConversionError, match="not a zipped .mlpackage"):
        unzip_package(notpkg, tmp_path / "out2")


def test_harness_convert_copies_the_whole_suffix(tmp_path, keras_model_file):
    from harness.commands.convert import convert_all

    rows = convert_all([str(keras_model_file[0])], ["coreml"], tmp_path / "out", None, tmp_path / "cache",
                       log=lambda line: None)
    assert rows[0]["file"] == "net.keras__coreml.mlpackage.zip"
    assert zipfile.is_zipfile(tmp_path / "out" / rows[0]["file"])


def test_conversion_errors_name_what_failed():
    from converters.coreml import _last_line

    dump = "Conversion for TF op 'NonMaxSuppressionV4' not implemented.\n \nname: \"x\"\nattr {\n  key: \"T\"\n}\n"
    assert _last_line(NotImplementedError(dump)) == "Conversion for TF op 'NonMaxSuppressionV4' not implemented."
    assert _last_line(ValueError("Traceback...\n  File x\nValueError: shape mismatch\n}")) == "ValueError: shape mismatch"
    assert _last_line(RuntimeError("}")) == "RuntimeError"
