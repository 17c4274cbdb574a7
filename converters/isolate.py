"""Run a function that loads a user's model in a child process: LiteRT (or TensorFlow) crashing natively on a
hostile file then ends the child, not the harness, and the crash becomes one line for that variant's row.

The call and its result travel as pickles (stdin, then a file the child writes), so any function of the
project whose arguments and result pickle can be isolated: `call("converters.analysis", "xnnpack_coverage_here",
path)`. The child dies with its parent (PR_SET_PDEATHSIG on Linux), so a killed harness leaves none behind.
"""
from __future__ import annotations

import importlib
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from converters.passes import ConversionError

DEFAULT_TIMEOUT_S = 600.0


class NativeCrash(ConversionError):
    """The child process died of a signal (a segfault or abort inside native code) while loading a model."""


def _die_with_parent(parent: int) -> None:
    """In the child: SIGKILL when the parent dies (Linux), so nothing outlives the harness; a parent gone
    before this ran is caught by the pid check."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def call(module: str, function: str, *args: Any, what: str = "", timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
    """`module.function(*args)` in a child process; its exception is raised here as it was raised there.
    A native crash raises NativeCrash naming the signal and `what` (the model, as the user wrote it)."""
    with tempfile.TemporaryDirectory(prefix="harness-isolate-") as tmp:
        out = Path(tmp) / "result.pickle"
        try:
            proc = subprocess.run([sys.executable, "-m", "converters.isolate", str(out), str(os.getpid())],
                                  input=pickle.dumps((module, function, args)), capture_output=True,
                                  timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise ConversionError(f"{what or module}: loading it did not finish in {timeout_s:.0f} s") from None
        if proc.returncode < 0:
            raise NativeCrash(f"{what or module}: the LiteRT/TensorFlow runtime crashed loading it "
                              f"({_signal_name(proc.returncode)}, in a child process; the harness goes on)")
        if not out.is_file():
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise ConversionError(f"{what or module}: loading it failed (exit {proc.returncode}: {tail[0][:200]})")
        ok, value = pickle.loads(out.read_bytes())
    if ok:
        return value
    raise value


def _child(out: str, parent: int) -> int:
    _die_with_parent(parent)
    module, function, args = pickle.loads(sys.stdin.buffer.read())
    try:
        result: tuple[bool, Any] = (True, getattr(importlib.import_module(module), function)(*args))
    except Exception as exc:  # raised again in the parent as it was
        try:
            pickle.dumps(exc)
            result = (False, exc)
        except Exception:
            result = (False, RuntimeError(f"{type(exc).__name__}: {exc}"))
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(result, f)
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], int(sys.argv[2])))
