"""The local host as a transport: subprocesses and file copies, exactly the shape of a board."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from collections.abc import Sequence

from devices.transport import CommandResult, Transport, TransportError


# Every command starts through this: it asks Linux to SIGKILL it when the harness dies (PR_SET_PDEATHSIG,
# kept across exec), so a runner never outlives a killed harness to be measured beside a `--resume`. Done in an
# exec wrapper rather than preexec_fn, which is unsafe in a process with threads. Where util-linux's `setpriv`
# has `--pdeathsig` (2.33 on: Debian 10, Ubuntu 20.04, Raspberry Pi OS), it sets the signal and the shell checks
# the parent: 3.3 ms of CPU a command where the Python wrapper costs 26.3 (every `mkdir`, `sha256sum` and runner
# of a local run; benchmarks/local_commands.py). Either way a harness that died before the signal was set is seen
# (the parent is no longer the harness) and the command does not run.
_DIE_WITH_PARENT = (
    "import ctypes, os, sys\n"
    "try:\n ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)\nexcept Exception:\n pass\n"
    "if os.getppid() != int(sys.argv[1]):\n os._exit(1)\n"
    "try:\n os.execvp(sys.argv[2], sys.argv[2:])\n"
    "except OSError as exc:\n sys.stderr.write(f'{exc.strerror}: {sys.argv[2]}\\n')\n os._exit(127)\n"
)
# After setpriv: $1 is the harness's pid, the command follows; a command that cannot run exits 127 (126 when it is
# not executable), as from any shell; the Python wrapper exits 127 for both.
_PARENT_CHECK = '[ "$PPID" = "$1" ] || exit 1; shift; exec "$@"'


@functools.cache
def _setpriv() -> tuple[str, str] | None:
    """(util-linux's setpriv, sh) where that setpriv takes --pdeathsig (checked once per process), else None."""
    setpriv, sh = shutil.which("setpriv"), shutil.which("sh")
    if setpriv is None or sh is None:
        return None
    try:
        ok = subprocess.run([setpriv, "--pdeathsig", "KILL", "--", sh, "-c", "exit 0"], stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return None
    return (setpriv, sh) if ok else None


def tied_to(argv: list[str], parent: int, python_wrapper: bool = False) -> list[str]:
    """`argv` started so that it gets SIGKILL when process `parent` dies, and does not start at all when its
    parent is not `parent` by then (Linux); elsewhere as it is."""
    if not sys.platform.startswith("linux"):
        return argv
    found = None if python_wrapper else _setpriv()
    if found is not None:
        setpriv, sh = found
        return [setpriv, "--pdeathsig", "KILL", "--", sh, "-c", _PARENT_CHECK, "sh", str(parent), *argv]
    return [sys.executable, "-c", _DIE_WITH_PARENT, str(parent), *argv]


def tied_to_this_process(argv: list[str]) -> list[str]:
    """`argv` started so that it dies with this process (Linux); elsewhere as it is."""
    return tied_to(argv, os.getpid())


ABORT_GRACE_S = 5.0


class LocalTransport(Transport):
    name = "local"

    def __init__(self) -> None:
        self._procs: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self._aborted = False

    def run(self, argv: Sequence[str], *, timeout_s: float, stdin: str | None = None) -> CommandResult:
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(
                tied_to_this_process([str(a) for a in argv]),
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            )
        except FileNotFoundError as exc:
            return CommandResult(127, "", str(exc), time.monotonic() - t0)
        with self._lock:
            self._procs.add(proc)
            aborted = self._aborted
        try:
            if aborted:
                proc.kill()
            out, err = proc.communicate(input=stdin, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.communicate()
            raise TransportError(f"command timed out after {timeout_s:.0f} s: {argv[0]}") from exc
        finally:
            with self._lock:
                self._procs.discard(proc)
        return CommandResult(proc.returncode, out, err, time.monotonic() - t0)

    def abort(self) -> None:
        """End what runs now (Ctrl-C): SIGTERM, then SIGKILL after ABORT_GRACE_S. A sustained runner loop
        ends on the SIGTERM and prints what it measured; anything else would hold its thread for max_s."""
        with self._lock:
            self._aborted = True
            procs = list(self._procs)
        for proc in procs:
            try:
                proc.terminate()
            except OSError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=ABORT_GRACE_S)
            except subprocess.TimeoutExpired:
                try:
                    proc.kill()
                except OSError:
                    pass

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
