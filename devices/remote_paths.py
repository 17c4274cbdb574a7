"""Content-addressed names on a device: the same bytes are pushed once per device, and a changed file
never reuses an old name. One rule for every target (models, ONNX, engines, APKs, evaluation inputs)."""
from __future__ import annotations

from pathlib import Path

from devices.transport import file_sha256

KEY_CHARS = 16  # hex digits of the file's SHA-256 kept in the name: 64 bits, no collision among a farm's files


def content_key(local: Path) -> str:
    """The short content hash that names `local`'s bytes on a device."""
    return file_sha256(local)[:KEY_CHARS]


def content_path(directory: str, local: Path, name: str | None = None) -> str:
    """`directory/KEY-name` (name defaults to the local file's), so a reader of the device still sees which model."""
    return f"{directory.rstrip('/')}/{content_key(local)}-{name if name is not None else local.name}"
