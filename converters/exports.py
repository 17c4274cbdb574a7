"""What a Jetson runtime needs besides the variant, exported on the host in the conversion phase.

TF-TRT (`runtime: tftrt`) converts a SavedModel on the board; TensorRT (`runtime: tensorrt`)
builds its engine on the board from an ONNX. Both are made here, by the orchestrator's conversion
step and before the first timed job, so TensorFlow and tf2onnx never compete with a measurement;
the target only pushes what it is handed (devices/tree_push.py).

The SavedModel is found, in order: the artifact itself (a SavedModel directory, or the `.tgz` the
`tensorrt` pass writes where tf2onnx is missing); `NAME.saved_model/` beside the artifact; or, from
the build cache's `KEY.json` beside it, the source model (a SavedModel directory as is, a Keras file
or zoo model exported with a batch-1 signature). Only passes that leave the model unchanged (fp32,
tensorrt) qualify: TF-TRT sets its own precision, and a pruned or quantized .tflite has no SavedModel
to match it. The ONNX is the artifact itself, the `.onnx` beside it, or a tf2onnx export of the .tflite.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Callable

from converters.build import TF_LOCK, build_context, cache_key, is_user_model, load_source

if TYPE_CHECKING:  # tf_keras ships no type information: mypy cannot check that name
    import tf_keras

    from converters.passes import Params
from converters.passes import ConversionError, Source

SOURCE_VARIANTS = ("fp32", "tensorrt")  # passes whose artifact is the source model, unchanged
EXPORT_KINDS = ("saved_model", "onnx")
ONNX_TIMEOUT_S = 600


class ExportError(ConversionError, ValueError):
    """No export for this variant: one line saying what is missing and what to bring instead."""


@dataclass(frozen=True)
class Export:
    """A SavedModel directory or an ONNX file on this host and where it came from (recorded with the result)."""

    kind: str
    path: Path
    origin: str
    note: str | None = None

    def describe(self) -> dict[str, str]:
        return {"path": str(self.path), "origin": self.origin, **({"note": self.note} if self.note else {})}


def export(kind: str, artifact: Path, source: Callable[[], Source] | None = None) -> Export:
    """The KIND export of a built artifact; `source` loads the variant's source model when one must be exported."""
    if kind == "saved_model":
        return saved_model_for(artifact, source)
    if kind == "onnx":
        return onnx_for(artifact)
    raise ExportError(f"unknown export {kind!r} (known: {', '.join(EXPORT_KINDS)})")


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def saved_model_for(artifact: Path, source: Callable[[], Source] | None = None) -> Export:
    """The SavedModel to convert for this variant; ExportError with one line when there is none.

    `source` returns the variant's loaded source (the run's builder, so the weights are the variant's);
    without it the source is loaded again without the run's image folder, and the result says so.
    """
    artifact = Path(artifact)
    if is_saved_model(artifact):
        return Export("saved_model", artifact, "the variant is a SavedModel")
    beside = artifact.with_name(f"{artifact.stem}.saved_model")
    if is_saved_model(beside):
        return Export("saved_model", beside, f"{beside.name} beside the variant")
    if artifact.name.endswith((".tgz", ".tar.gz")):
        return Export("saved_model", _unpack_tgz(artifact, beside), "the tensorrt pass's SavedModel (.tgz)")
    meta_path = artifact.with_suffix(".json")
    if not meta_path.is_file():
        raise ExportError(f"runtime tftrt needs a SavedModel: {artifact.name} is a {artifact.suffix or 'file'} with "
                          f"no SavedModel beside it (put {beside.name}/ there, or measure a Keras, zoo or "
                          "SavedModel source with variant fp32 or tensorrt)")
    meta = json.loads(meta_path.read_text())
    model, variant = str(meta.get("model", "")), meta.get("variant")
    if variant not in SOURCE_VARIANTS:
        raise ExportError(f"runtime tftrt converts the source model itself (precision from tensorrt_precisions); "
                          f"variant {variant} changes it in LiteRT-only ways: measure variant fp32 or tensorrt")
    if is_saved_model(Path(model).expanduser()):
        return Export("saved_model", Path(model).expanduser(), "the source SavedModel")
    if model.endswith(".tflite"):
        raise ExportError(f"runtime tftrt needs a SavedModel: {Path(model).name} is only a .tflite; bring the "
                          "Keras model or SavedModel it came from")
    return _export_source(model, str(variant), meta.get("params") or {}, artifact, beside, source)


def _unpack_tgz(tgz: Path, dest: Path) -> Path:
    """The tensorrt pass's archive holds saved_model/; unpacked once beside it."""
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with tarfile.open(tgz) as tar:
            if hasattr(tarfile, "data_filter"):  # refuses links and paths outside tmp (Python 3.8.17+/3.11.4+)
                tar.extractall(tmp, filter="data")
            else:
                tar.extractall(tmp)
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ExportError(f"{tgz.name}: not a readable SavedModel archive ({exc})") from None
    inner = tmp / "saved_model"
    if not is_saved_model(inner):
        shutil.rmtree(tmp, ignore_errors=True)
        raise ExportError(f"{tgz.name}: archive has no saved_model/saved_model.pb")
    _settle(inner, dest)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _settle(tmp: Path, dest: Path) -> None:
    """Rename into place; when another process got there first, keep its copy."""
    try:
        os.replace(tmp, dest)
    except OSError:
        if not is_saved_model(dest):
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def _export_source(model: str, variant: str, params: Params, artifact: Path, dest: Path,
                   source: Callable[[], Source] | None) -> Export:
    """Export the Keras source (a user file or a zoo model with its recipe's weights) beside the artifact."""
    with TF_LOCK:  # TensorFlow graph building is not safe from several threads at once
        if is_saved_model(dest):
            return Export("saved_model", dest, f"exported here from {model}")
        note = None
        try:
            if source is not None:
                src = source()
            else:
                if not is_user_model(model) and cache_key(model, variant, params, build_context(None)) != artifact.stem:
                    note = ("weights of the recipe without the run's image folder; "
                            "same graph, so the same latency, but outputs differ from the variant's")
                src = load_source(model, None, artifact.parent)
        except ConversionError as exc:
            raise ExportError(f"runtime tftrt: cannot load {model} to export a SavedModel: {exc}") from None
        if src.keras_model is None:
            raise ExportError(f"runtime tftrt: {model} has no Keras model to export")
        tmp = dest.with_name(f"{dest.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        save_keras_batch1(src.keras_model, tmp)
        _settle(tmp, dest)
    return Export("saved_model", dest, f"exported here from {model}", note)


def save_keras_batch1(keras_model: tf_keras.Model, folder: Path) -> None:
    """SavedModel with a batch-1 `serving_default`: static shapes, so TF-TRT builds its engines up front."""
    import tensorflow as tf

    names = list(keras_model.input_names)
    specs = [tf.TensorSpec((1, *t.shape[1:]), t.dtype, name=n) for t, n in zip(keras_model.inputs, names, strict=True)]

    @tf.function(input_signature=specs)
    def serve(*args: tf.Tensor) -> dict[str, tf.Tensor]:
        out = keras_model(list(args) if len(args) > 1 else args[0], training=False)
        if isinstance(out, dict):
            return out
        outs = out if isinstance(out, (list, tuple)) else [out]
        return {f"output_{i}": o for i, o in enumerate(outs)}

    tf.saved_model.save(keras_model, str(folder), signatures={"serving_default": serve.get_concrete_function()})


def onnx_for(model: Path) -> Export:
    """The ONNX for a variant: itself, the file beside it, or a tf2onnx export of the .tflite made now.

    Raises ExportError saying what is missing when there is none.
    """
    model = Path(model)
    if model.suffix == ".onnx":
        return Export("onnx", model, "the variant is an ONNX model")
    beside = model.with_suffix(".onnx")
    if beside.is_file():
        return Export("onnx", beside, f"{beside.name} beside the variant")
    if importlib.util.find_spec("tf2onnx") is None:
        raise ExportError(f"runtime tensorrt needs an ONNX model: no {beside.name} beside the variant and tf2onnx "
                          "is not installed on the host (pip install tf2onnx)")
    tmp = beside.with_name(f"{beside.stem}.{os.getpid()}-{threading.get_ident()}.tmp.onnx")
    try:
        res = subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--tflite", str(model), "--output", str(tmp)],
                             capture_output=True, text=True, timeout=ONNX_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"tf2onnx could not export {model.name} to ONNX within {ONNX_TIMEOUT_S} s") from None
    if res.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        lines = [line for line in res.stderr.strip().splitlines() if "ERROR" in line or "Error" in line]
        raise ExportError(f"tf2onnx could not export {model.name} to ONNX: "
                          f"{(lines or res.stderr.strip().splitlines() or ['no message'])[-1][:300]}")
    os.replace(tmp, beside)
    return Export("onnx", beside, f"tf2onnx export of {model.name}")
