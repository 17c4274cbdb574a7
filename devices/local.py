"""The local host as a transport: subprocesses and file copies, exactly the shape of a board."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Sequence

from devices.transport import CommandResult, Transport, TransportError


class LocalTransport(Transport):
    name = "local"

    def run(self, argv: Sequence[str], *, timeout_s: float, stdin: str | None = None) -> CommandResult:
        t0 = time.monotonic()
        try:
            proc = subprocess.run(
                [str(a) for a in argv],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            )
        except subprocess.TimeoutExpired as exc:
            raise TransportError(f"command timed out after {timeout_s:.0f} s: {argv[0]}") from exc
        except FileNotFoundError as exc:
            return CommandResult(127, "", str(exc), time.monotonic() - t0)
        return CommandResult(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)

    def push(self, local: Path, remote: str) -> None:
        dest = Path(remote).expanduser()
        dest.parent.mkdir(parents=True, exist_ok=True)
        if Path(local).resolve() != dest.resolve():
            # Copy then rename: a runner started at the same moment (another device, another agent
            # sharing this workdir) sees the old file or the new one, never half of it.
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{time.monotonic_ns()}.part")
            shutil.copyfile(local, tmp)
            os.replace(tmp, dest)

    def pull(self, remote: str, local: Path) -> None:
        src = Path(remote).expanduser()
        if not src.is_file():
            raise FileNotFoundError(remote)
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, local)

    def remove(self, remote: str) -> None:
        Path(remote).expanduser().unlink(missing_ok=True)

    def remote_sha256(self, remote: str) -> str | None:
        from devices.transport import file_sha256

        p = Path(remote).expanduser()
        return file_sha256(p) if p.is_file() else None
