"""The Transport contract: run, push, pull, remove. Targets build on it; tests use real ones."""
from __future__ import annotations

import hashlib
import shlex
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class TransportError(Exception):
    """The link failed (timeout, dropped connection, refused): not the command's own failure."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def quote_argv(argv: Sequence[str]) -> str:
    """Every remote argument is shell-quoted; a command is always a list, never a string."""
    return shlex.join([str(a) for a in argv])


class Transport(ABC):
    """How the host reaches a target. Implementations: local, ssh (paramiko), adb (adbutils)."""

    name: str = "transport"

    @abstractmethod
    def run(self, argv: Sequence[str], *, timeout_s: float, stdin: str | None = None) -> CommandResult:
        """Run argv on the target; raise TransportError when the link fails or the timeout passes."""

    @abstractmethod
    def push(self, local: Path, remote: str) -> None:
        """Copy a host file to the target path (parents are created)."""

    @abstractmethod
    def pull(self, remote: str, local: Path) -> None:
        """Copy a target file to the host; a missing remote file raises FileNotFoundError."""

    @abstractmethod
    def remove(self, remote: str) -> None:
        """Delete a target file; a missing file is not an error."""

    def remote_sha256(self, remote: str) -> str | None:
        """sha256 of a target file, or None when it does not exist."""
        res = self.run(["sha256sum", remote], timeout_s=60)
        if not res.ok or not res.stdout.strip():
            return None
        return res.stdout.split()[0]

    def push_if_changed(self, local: Path, remote: str) -> bool:
        """Push only when the target's copy differs by sha256; returns whether bytes moved."""
        if self.remote_sha256(remote) == file_sha256(local):
            return False
        self.push(local, remote)
        return True

    def close(self) -> None:
        """Release the link; the default has nothing to release."""
        return None

    def abort(self) -> None:
        """Called from another thread on Ctrl-C: end what `run` is waiting for now, so the caller's
        thread returns at once. The default closes the link."""
        self.close()
