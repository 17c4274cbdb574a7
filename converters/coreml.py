"""Core ML passes (coremltools): ML programs an iPhone runs on CPU, GPU or the Neural Engine.

The artifact is an .mlpackage, which is a folder; the cache keeps it as one file, a zip of the package
(stored, not deflated) named `<key>.mlpackage.zip`, so the cache, `harness convert --out` and the iOS
target move a single file; the target unpacks it into the app's Documents. `size_bytes` is the package's
own size (the sum of its files), the figure to set against a .tflite.

On Linux coremltools converts and saves but cannot load a model (no Core ML framework), so conversion
runs with skip_model_load=True, and size, parameters and the op list come from the saved spec; the
variant's accuracy is "not measured" on the host: predictions run only on the device.
"""
from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from converters.passes import ConversionError, Source, register
from converters.variant_metrics import VariantMetrics

if TYPE_CHECKING:
    from converters.passes import Params

SUFFIX = ".mlpackage.zip"
PACKAGE_NAME = "model.mlpackage"  # the folder inside the zip
DEPLOYMENT_TARGET = "iOS16"  # ML programs with fp16 compute and constexpr (compressed) weights
NOT_MEASURED = "not measured on the host: Core ML predictions run only on the device (iOS target)"
_CONST_TYPES = ("const",)


def _coremltools():
    try:
        import coremltools as ct  # noqa: F401
    except ImportError:
        raise ConversionError("coremltools is not installed (pip install 'coremltools==9.0')") from None
    return ct


def _saved_model_dir(src: Source) -> Path:
    """What coremltools' TensorFlow 2 frontend reads: the user's SavedModel, or the Keras model saved once
    per source (tf_keras models are not the Keras 3 models ct.convert recognizes)."""
    if src.saved_model_dir is not None and src.keras_model is None:
        return Path(src.saved_model_dir)
    if "coreml_saved_model" not in src.memo:
        from converters.keras_export import save_lean

        tmp = tempfile.TemporaryDirectory(prefix="harness-coreml-")
        folder = Path(tmp.name) / "saved_model"
        try:
            save_lean(src.keras_model, folder)  # the serving signature ct.convert reads, not Keras' traces
        except Exception as exc:
            tmp.cleanup()
            raise ConversionError(f"{src.name}: cannot export a SavedModel for Core ML ({_last_line(exc)})") from None
        src.memo["coreml_saved_model"] = (tmp, folder)  # the TemporaryDirectory lives as long as the source
    kept = src.memo["coreml_saved_model"]
    assert isinstance(kept, tuple) and isinstance(kept[1], Path)  # put there just above, by this function
    return kept[1]


def _last_line(exc: BaseException) -> str:
    """The line that says what failed: coremltools puts it first (then a dump of the TF node), TensorFlow
    last; lines without a word (a closing brace of the dump) never count."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if any(c.isalpha() for c in ln)]
    if not lines:
        return type(exc).__name__
    first = lines[0]
    pick = first if isinstance(exc, NotImplementedError) or "not implemented" in first or len(lines) == 1 else lines[-1]
    return pick[:300]


class MLModel(Protocol):
    """What this module does with coremltools' MLModel (coremltools ships no type information)."""

    def save(self, path: str) -> None: ...


class _Dimension(Protocol):
    """MIL_pb2.Dimension: a constant size, or unknown."""

    @property
    def constant(self) -> _Size: ...

    def HasField(self, name: str) -> bool: ...  # noqa: N802 (protobuf's name)


class _Size(Protocol):
    @property
    def size(self) -> int: ...


class _TensorType(Protocol):
    @property
    def dimensions(self) -> Sequence[_Dimension]: ...


class _ValueType(Protocol):
    """MIL_pb2.ValueType: a tensor type with its dimensions, or another kind of value."""

    @property
    def tensorType(self) -> _TensorType: ...  # noqa: N802 (protobuf's name)

    def HasField(self, name: str) -> bool: ...  # noqa: N802


def _convert(src: Source, what: str, precision: str) -> MLModel:
    ct = _coremltools()
    folder = _saved_model_dir(src)
    inputs = None
    shape = tuple(src.keras_model.input_shape) if src.keras_model is not None else None
    if shape and not isinstance(shape[0], tuple) and all(d is not None for d in shape[1:]):
        inputs = [ct.TensorType(shape=(1, *shape[1:]))]  # batch 1, as on the device (else a 1..2 range)
    try:
        model: MLModel = ct.convert(
            str(folder), source="tensorflow", convert_to="mlprogram", inputs=inputs,
            compute_precision=ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32,
            minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET), skip_model_load=True)
    except Exception as exc:  # coremltools raises many types; the last line says which op or layer failed
        raise ConversionError(f"{src.name}/{what}: Core ML conversion failed: {_last_line(exc)}") from None
    return model


def _package(model: MLModel, src: Source, what: str, extra: VariantMetrics) -> tuple[bytes, VariantMetrics]:
    """Save the .mlpackage, read its facts from the saved spec, and zip it into one artifact."""
    with tempfile.TemporaryDirectory(prefix="harness-mlpkg-") as tmp:
        pkg = Path(tmp) / PACKAGE_NAME
        try:
            model.save(str(pkg))
        except Exception as exc:
            raise ConversionError(f"{src.name}/{what}: saving the .mlpackage failed: {_last_line(exc)}") from None
        facts = describe_package(pkg)
        data = zip_package(pkg)
    return data, {"artifact_suffix": SUFFIX, "format": "mlpackage", **facts, "zip_bytes": len(data),
                  "deployment_target": DEPLOYMENT_TARGET, "accuracy_note": NOT_MEASURED, **extra}


def zip_package(pkg: Path) -> bytes:
    """The package folder as a stored zip with sorted entries and fixed times: the same model, the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(pkg.rglob("*")):
            if p.is_file():
                info = zipfile.ZipInfo(f"{pkg.name}/{p.relative_to(pkg).as_posix()}", date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                zf.writestr(info, p.read_bytes())
    return buf.getvalue()


def unzip_package(artifact: Path, dest_dir: Path) -> Path:
    """Unpack a cached `.mlpackage.zip` into dest_dir; returns the .mlpackage folder. Entries that would
    land outside dest_dir are refused (a zip is input like any other)."""
    dest_dir = Path(dest_dir).resolve()
    with zipfile.ZipFile(artifact) as zf:
        names = zf.namelist()
        tops = {n.split("/", 1)[0] for n in names}
        if len(tops) != 1 or not next(iter(tops)).endswith(".mlpackage"):
            raise ConversionError(f"{artifact}: not a zipped .mlpackage (top-level entries {sorted(tops)[:3]})")
        for n in names:
            target = (dest_dir / n).resolve()
            if not str(target).startswith(str(dest_dir) + os.sep):
                raise ConversionError(f"{artifact}: entry {n[:100]!r} points outside the package")
        zf.extractall(dest_dir)
    return dest_dir / next(iter(tops))


def _dims(value_type: _ValueType) -> list[int] | None:
    if not value_type.HasField("tensorType"):
        return None
    dims = []
    for d in value_type.tensorType.dimensions:
        if not d.HasField("constant"):
            return None
        dims.append(int(d.constant.size))
    return dims


def describe_package(pkg: Path) -> VariantMetrics:
    """Size, parameter count and op histogram of a saved .mlpackage, from its spec alone (no model load).

    Parameters are the elements of float weight tensors: `const` ops of rank >= 1 in fp16/fp32 and the
    dense outputs of compressed `constexpr_*` ops (quantized or palettized weights count as what they
    stand for), so the count matches the Keras model's whatever the storage.
    """
    ct = _coremltools()
    from coremltools.proto import MIL_pb2

    spec = ct.utils.load_spec(str(pkg))
    size = sum(p.stat().st_size for p in Path(pkg).rglob("*") if p.is_file())
    weights = Path(pkg) / "Data" / "com.apple.CoreML" / "weights"
    weight_bytes = sum(p.stat().st_size for p in weights.rglob("*") if p.is_file()) if weights.exists() else 0
    out: VariantMetrics = {"size_bytes": size, "weight_bytes": weight_bytes,
                           "coreml_spec_version": int(spec.specificationVersion)}
    if spec.WhichOneof("Type") != "mlProgram":
        out["coreml_model_type"] = spec.WhichOneof("Type")
        return out
    floats = {MIL_pb2.DataType.Value("FLOAT16"), MIL_pb2.DataType.Value("FLOAT32")}
    ops: Counter[str] = Counter()
    compressed: Counter[str] = Counter()
    params = 0
    fn = spec.mlProgram.functions["main"]
    block = fn.block_specializations[fn.opset]
    for op in block.operations:
        if op.type in _CONST_TYPES:
            t = op.outputs[0].type
            dims = _dims(t)
            if dims and t.tensorType.dataType in floats:
                params += _prod(dims)
        elif op.type.startswith("constexpr_"):
            compressed[op.type] += 1
            dims = _dims(op.outputs[0].type)
            if dims:
                params += _prod(dims)
        else:
            ops[op.type] += 1
    out.update({"params": params, "coreml_opset": fn.opset, "coreml_ops_total": sum(ops.values()),
                "coreml_op_types": dict(sorted(ops.items()))})
    if compressed:
        out["coreml_compressed_weights"] = dict(sorted(compressed.items()))
    return out


def _prod(dims: list[int]) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


@register("coreml", "Core ML ML program, fp16 compute (the Neural Engine's precision); runs on iOS",
          {"compute_precision": "fp16"})
def coreml(src: Source, params: Params):
    model = _convert(src, "coreml", "fp16")
    return _package(model, src, "coreml", {"compute_precision": "fp16"})


@register("coreml_fp32", "Core ML ML program, fp32 compute (CPU/GPU; the Neural Engine runs fp16 only)",
          {"compute_precision": "fp32"})
def coreml_fp32(src: Source, params: Params):
    model = _convert(src, "coreml_fp32", "fp32")
    return _package(model, src, "coreml_fp32", {"compute_precision": "fp32"})


@register("coreml_int8", "Core ML fp16 program with int8 weights (coremltools.optimize linear quantization)",
          {"mode": "linear_symmetric", "weight_threshold": 1024})
def coreml_int8(src: Source, params: Params):
    ct = _coremltools()
    from coremltools.optimize import coreml as cto

    model = _convert(src, "coreml_int8", "fp16")
    cfg = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(
        mode=str(params["mode"]), dtype="int8", weight_threshold=int(params["weight_threshold"])))
    try:
        model = cto.linear_quantize_weights(model, config=cfg)
    except Exception as exc:
        raise ConversionError(f"{src.name}/coreml_int8: weight quantization failed: {_last_line(exc)}") from None
    return _package(model, src, "coreml_int8", {"compute_precision": "fp16", "weights": "int8",
                                                "coremltools": ct.__version__})


@register("coreml_palettize", "Core ML fp16 program with k-means palettized weights (2^nbits shared values "
          "per tensor; the counterpart of `cluster`, without fine-tuning)", {"nbits": 4, "weight_threshold": 1024})
def coreml_palettize(src: Source, params: Params):
    ct = _coremltools()
    from coremltools.optimize import coreml as cto

    nbits = int(params["nbits"])
    if nbits not in (1, 2, 3, 4, 6, 8):
        raise ConversionError(f"{src.name}/coreml_palettize: nbits must be one of 1, 2, 3, 4, 6, 8, not {nbits}")
    model = _convert(src, "coreml_palettize", "fp16")
    cfg = cto.OptimizationConfig(global_config=cto.OpPalettizerConfig(
        mode="kmeans", nbits=nbits, weight_threshold=int(params["weight_threshold"])))
    try:
        model = cto.palettize_weights(model, config=cfg)
    except Exception as exc:
        raise ConversionError(f"{src.name}/coreml_palettize: palettization failed: {_last_line(exc)}") from None
    return _package(model, src, "coreml_palettize", {"compute_precision": "fp16", "weights": f"{nbits}-bit LUT",
                                                     "coremltools": ct.__version__})


COREML_VARIANTS = ("coreml", "coreml_fp32", "coreml_int8", "coreml_palettize")
