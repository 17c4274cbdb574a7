"""A directory (a SavedModel for TF-TRT) pushed to a board as one sha256-checked tar.

The tar goes through the transport's sha256-verified push, is unpacked beside its final name and
checked file by file against a sha256 manifest before it is renamed into place; a copy that still
matches the manifest is reused without moving a byte. What is pushed is prepared on the host in the
conversion phase (converters/exports.py), never here.
"""
from __future__ import annotations

import hashlib
import tarfile
import tempfile
from pathlib import Path

from devices.transport import Transport, TransportError, file_sha256

# $1 tar on the board, $2 final directory; the manifest arrives on stdin.
UNPACK_SCRIPT = (
    'set -e; rm -rf -- "$2.part"; mkdir -p -- "$2.part"; tar -xf "$1" -C "$2.part"; '
    'cd -- "$2.part"; sha256sum -c --quiet --strict -; cd /; rm -rf -- "$2"; mv -- "$2.part" "$2"; rm -f -- "$1"'
)
CHECK_SCRIPT = 'cd -- "$1" 2>/dev/null && sha256sum -c --quiet --strict - >/dev/null 2>&1'


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
