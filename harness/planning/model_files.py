"""A model file the user named, checked before anything is converted: a cheap look at what it holds,
so an empty, text, truncated or foreign file is one line at plan time, not an error row per variant."""
from __future__ import annotations

import zipfile
from pathlib import Path

from errors import clean

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
KINDS = "a .tflite, .keras or .h5 file, or a SavedModel folder"
MAX_MODEL_BYTES = 2 << 30


def check_model_file(name: str, input_shapes: dict[str, list[int]] | None = None) -> str | None:
    """What is wrong with model file `name`, or None when it looks loadable (its dynamic inputs given a shape
    in `input_shapes`)."""
    p = Path(name).expanduser()
    if not p.exists():
        return "no such file or directory"
    if p.is_dir():
        return _check_saved_model(p)
    if not p.is_file():
        return f"not a regular file (expected {KINDS})"
    size = p.stat().st_size
    if size == 0:
        return "empty file"
    if size > MAX_MODEL_BYTES:
        return f"{size / 1e9:.1f} GB: larger than any model file a device can load (2 GiB at most, FlatBuffers' limit)"
    suffix = p.suffix.lower()
    if suffix == ".tflite":
        return _check_tflite(p, input_shapes)
    if suffix == ".keras":
        return _check_keras(p)
    if suffix == ".h5":
        return _check_h5(p)
    return f"unknown kind of model file (expected {KINDS})"


def _head(p: Path, n: int) -> bytes:
    with p.open("rb") as f:
        return f.read(n)


def _check_tflite(p: Path, input_shapes: dict[str, list[int]] | None) -> str | None:
    head = _head(p, 8)
    if len(head) < 8 or head[4:8] != b"TFL3":
        return "not a TFLite model (no TFL3 identifier; is it text or another format?)"
    from converters import isolate
    from converters.analysis import dynamic_inputs

    try:  # in a child process: a file that crashes LiteRT natively must not take the harness with it
        io = isolate.call("converters.analysis", "tflite_io", str(p), what=str(p))
    except isolate.NativeCrash:
        return None  # loadable enough to try: conversion makes its crash that model's error rows
    except (ValueError, RuntimeError, isolate.ConversionError) as exc:
        return f"not a valid TFLite model, truncated or damaged ({(str(exc).splitlines() or ['?'])[0][:120]})"
    return dynamic_inputs(io["inputs"], input_shapes)


def _check_keras(p: Path) -> str | None:
    if not zipfile.is_zipfile(p):
        return "not a Keras archive (a .keras file is a zip; this one is not, or is truncated)"
    try:
        with zipfile.ZipFile(p) as z:
            names = set(z.namelist())
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"damaged Keras archive ({exc})"
    if bad is not None:
        return f"damaged Keras archive (member {bad[:80]!r} fails its checksum)"
    if "config.json" not in names:
        return "a zip file but not a Keras archive (no config.json inside)"
    return None


def _check_h5(p: Path) -> str | None:
    if _head(p, 8) != HDF5_SIGNATURE:
        return "not an HDF5 Keras model (no HDF5 signature; is it text or another format?)"
    try:
        import h5py
    except ImportError:  # tf-keras needs h5py to load .h5 at all; converting will say so
        return None
    try:
        with h5py.File(p, "r") as f:
            if "model_config" not in f.attrs and "model_weights" not in f:
                return "an HDF5 file but not a Keras model (no model_config)"
    except OSError as exc:
        return f"damaged HDF5 file, truncated? ({(str(exc).splitlines() or ['?'])[0][:120]})"
    return None


def _check_saved_model(p: Path) -> str | None:
    pb = p / "saved_model.pb"
    if not pb.is_file():
        if (p / "saved_model.pbtxt").is_file():
            return None
        return "a folder but not a SavedModel (no saved_model.pb inside)"
    if pb.stat().st_size == 0:
        return "not a SavedModel: saved_model.pb is empty"
    if not _protobuf_has_meta_graph(pb.read_bytes()):
        return "not a SavedModel: saved_model.pb does not parse as one (truncated or another file)"
    return None


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[i]
        value |= (b & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not b & 0x80:
            return value, i


def _protobuf_has_meta_graph(data: bytes) -> bool:
    """The top level of a SavedModel message read by its wire format (field 1 the schema version,
    field 2 the MetaGraphs), without importing TensorFlow for one look."""
    i, graphs = 0, 0
    try:
        while i < len(data):
            tag, i = _varint(data, i)
            field, wire = tag >> 3, tag & 7
            if field == 1 and wire == 0:
                _, i = _varint(data, i)
            elif field == 2 and wire == 2:
                n, i = _varint(data, i)
                if i + n > len(data):
                    return False
                i, graphs = i + n, graphs + 1
            else:
                return False
    except ValueError:
        return False
    return graphs > 0


def label_clash(models: tuple[str, ...] | list[str]) -> str | None:
    """Why two entries of --models would share rows, or None.

    Rows, resume and history key a model file by its file name, so `a/net.tflite` and `b/net.tflite`
    in one plan would land in one row (and --resume would count the second as done); the same name
    given twice would be measured twice under one key.
    """
    from harness.statistics.compare import model_label

    seen: dict[str, str] = {}
    for m in models:
        label = model_label(m)
        if label in seen:
            if seen[label] == m:
                return f"{clean(m)} is given twice"
            return (f"{clean(seen[label])} and {clean(m)} would both be reported as {clean(label)} "
                    "(rows are keyed by file name): rename one")
        seen[label] = m
    return None
