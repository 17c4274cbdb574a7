"""The SavedModel behind a built variant, for TF-TRT on a Jetson, and its sha256-checked push.

TF-TRT converts a SavedModel on the board, so a `runtime: tftrt` job needs the SavedModel of the
model the variant came from. It is found, in order: the artifact itself (a SavedModel directory,
or the `.tgz` the `tensorrt` pass writes where tf2onnx is missing); `NAME.saved_model/` beside
the artifact; or, from the build cache's `KEY.json` beside it, the source model (a SavedModel
directory as is, a Keras file or zoo model exported here with a batch-1 signature). Only passes
that leave the model unchanged (fp32, tensorrt) qualify: TF-TRT sets its own precision, and a
pruned or quantized .tflite has no SavedModel to match it.

A directory is pushed as one tar through the transport's sha256-verified push, unpacked beside
its final name and checked file by file against a sha256 manifest before it is renamed into
place; a copy that still matches the manifest is reused without moving a byte.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devices.transport import Transport, TransportError, file_sha256

SOURCE_VARIANTS = ("fp32", "tensorrt")  # passes whose artifact is the source model, unchanged

# $1 tar on the board, $2 final directory; the manifest arrives on stdin.
UNPACK_SCRIPT = (
    'set -e; rm -rf -- "$2.part"; mkdir -p -- "$2.part"; tar -xf "$1" -C "$2.part"; '
    'cd -- "$2.part"; sha256sum -c --quiet --strict -; cd /; rm -rf -- "$2"; mv -- "$2.part" "$2"; rm -f -- "$1"'
)
CHECK_SCRIPT = 'cd -- "$1" 2>/dev/null && sha256sum -c --quiet --strict - >/dev/null 2>&1'


@dataclass(frozen=True)
class FoundSavedModel:
    """A SavedModel directory on this host and where it came from (recorded with the result)."""

    path: Path
    origin: str
    note: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.path), "origin": self.origin, **({"note": self.note} if self.note else {})}


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def saved_model_for(artifact: Path) -> FoundSavedModel:
    """The SavedModel to convert for this variant; ValueError with one line when there is none."""
    artifact = Path(artifact)
    if is_saved_model(artifact):
        return FoundSavedModel(artifact, "the variant is a SavedModel")
    beside = artifact.with_name(f"{artifact.stem}.saved_model")
    if is_saved_model(beside):
        return FoundSavedModel(beside, f"{beside.name} beside the variant")
    if artifact.name.endswith((".tgz", ".tar.gz")):
        return FoundSavedModel(_unpack_tgz(artifact, beside), "the tensorrt pass's SavedModel (.tgz)")
    meta_path = artifact.with_suffix(".json")
    if not meta_path.is_file():
        raise ValueError(f"runtime tftrt needs a SavedModel: {artifact.name} is a {artifact.suffix or 'file'} with "
                         f"no SavedModel beside it (put {beside.name}/ there, or measure a Keras, zoo or "
                         "SavedModel source with variant fp32 or tensorrt)")
    meta = json.loads(meta_path.read_text())
    model, variant = str(meta.get("model", "")), meta.get("variant")
    if variant not in SOURCE_VARIANTS:
        raise ValueError(f"runtime tftrt converts the source model itself (precision from tensorrt_precisions); "
                         f"variant {variant} changes it in LiteRT-only ways: measure variant fp32 or tensorrt")
    if is_saved_model(Path(model).expanduser()):
        return FoundSavedModel(Path(model).expanduser(), "the source SavedModel")
    if model.endswith(".tflite"):
        raise ValueError(f"runtime tftrt needs a SavedModel: {Path(model).name} is only a .tflite; bring the "
                         "Keras model or SavedModel it came from")
    return _export_source(model, variant, meta.get("params") or {}, artifact, beside)


def _unpack_tgz(tgz: Path, dest: Path) -> Path:
    """The tensorrt pass's archive holds saved_model/; unpacked once beside it."""
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with tarfile.open(tgz) as tar:
            # The "data" filter refuses links and paths outside tmp (Python 3.8.17+/3.11.4+).
            tar.extractall(tmp, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(f"{tgz.name}: not a readable SavedModel archive ({exc})") from None
    inner = tmp / "saved_model"
    if not is_saved_model(inner):
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(f"{tgz.name}: archive has no saved_model/saved_model.pb")
    _settle(inner, dest)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _settle(tmp: Path, dest: Path) -> None:
    """Rename into place; when another device thread got there first, keep its copy."""
    try:
        os.replace(tmp, dest)
    except OSError:
        if not is_saved_model(dest):
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def _export_source(model: str, variant: str, params: dict[str, Any], artifact: Path, dest: Path) -> FoundSavedModel:
    """Export the Keras source (a user file or a zoo model with its recipe's weights) beside the artifact."""
    from converters.build import _TF_LOCK, build_context, cache_key, is_user_model, load_source
    from converters.passes import ConversionError

    with _TF_LOCK:  # TensorFlow graph building is not safe from several device threads at once
        if is_saved_model(dest):
            return FoundSavedModel(dest, f"exported here from {model}")
        note = None
        try:
            if not is_user_model(model) and cache_key(model, variant, params, build_context(None)) != artifact.stem:
                note = ("weights of the recipe without the run's image folder (the target does not know it); "
                        "same graph, so the same latency, but outputs differ from the variant's")
            src = load_source(model, None, artifact.parent)
        except ConversionError as exc:
            raise ValueError(f"runtime tftrt: cannot load {model} to export a SavedModel: {exc}") from None
        if src.keras_model is None:
            raise ValueError(f"runtime tftrt: {model} has no Keras model to export")
        tmp = dest.with_name(f"{dest.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        save_keras_batch1(src.keras_model, tmp)
        _settle(tmp, dest)
    return FoundSavedModel(dest, f"exported here from {model}", note)


def save_keras_batch1(keras_model: Any, folder: Path) -> None:
    """SavedModel with a batch-1 `serving_default`: static shapes, so TF-TRT builds its engines up front."""
    import tensorflow as tf

    names = list(keras_model.input_names)
    specs = [tf.TensorSpec((1, *t.shape[1:]), t.dtype, name=n) for t, n in zip(keras_model.inputs, names)]

    @tf.function(input_signature=specs)
    def serve(*args: Any) -> dict[str, Any]:
        out = keras_model(list(args) if len(args) > 1 else args[0], training=False)
        if isinstance(out, dict):
            return out
        outs = out if isinstance(out, (list, tuple)) else [out]
        return {f"output_{i}": o for i, o in enumerate(outs)}

    tf.saved_model.save(keras_model, str(folder), signatures={"serving_default": serve.get_concrete_function()})


def tree_manifest(folder: Path) -> str:
    """`sha256  relative/path` per file, sorted: what `sha256sum -c` checks on the board."""
    lines = []
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            rel = p.relative_to(folder).as_posix()
            if "\n" in rel or "\\" in rel:
                raise ValueError(f"{folder}: file name {rel!r} cannot be checked with sha256sum")
            lines.append(f"{file_sha256(p)}  {rel}\n")
    if not lines:
        raise ValueError(f"{folder}: empty directory")
    return "".join(lines)


def push_tree(transport: Transport, folder: Path, remote_parent: str) -> tuple[str, bool]:
    """Push a directory to REMOTE_PARENT/<content hash>-<name>; returns (remote path, whether bytes moved)."""
    manifest = tree_manifest(folder)
    digest = hashlib.sha256(manifest.encode()).hexdigest()[:16]
    remote = f"{remote_parent}/{digest}-{folder.name}"
    if transport.run(["sh", "-c", CHECK_SCRIPT, "sh", remote], timeout_s=120, stdin=manifest).ok:
        return remote, False
    remote_tar = f"{remote_parent}/{digest}.tar"
    with tempfile.TemporaryDirectory(prefix="harness-push-") as tmp:
        local_tar = Path(tmp) / "tree.tar"
        with tarfile.open(local_tar, "w") as tar:
            for p in sorted(folder.rglob("*")):
                tar.add(p, arcname=p.relative_to(folder).as_posix(), recursive=False)
        transport.run(["mkdir", "-p", remote_parent], timeout_s=30)
        transport.push(local_tar, remote_tar)
        size = local_tar.stat().st_size
    res = transport.run(["sh", "-c", UNPACK_SCRIPT, "sh", remote_tar, remote], timeout_s=120 + size / 20_000_000,
                        stdin=manifest)
    if not res.ok:
        tail = (res.stderr.strip() or res.stdout.strip()).splitlines()[-1:] or [f"exit {res.exit_code}"]
        raise TransportError(f"unpacking {folder.name} on the board failed: {tail[0][:300]}")
    return remote, True
