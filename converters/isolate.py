"""Run a function that loads a user's model in a child process: LiteRT (or TensorFlow) crashing natively on a
hostile file then ends the child, not the harness, and the crash becomes one line for that variant's row.

The call and its result travel as pickles over pipes to a worker child kept between calls (`call_fresh`: a
child per call), so any function of the project whose arguments and result pickle can be isolated:
`call("converters.analysis", "xnnpack_coverage_here", path)`. The child dies with its parent (PR_SET_PDEATHSIG
on Linux), so a killed harness leaves none behind.
"""
from __future__ import annotations

import atexit
import importlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from converters.passes import ConversionError as ConversionError  # re-exported: callers catch isolate.ConversionError

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


def call(module: str, function: str, *args: object, what: str = "", timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
    """`module.function(*args)` in a child process; its exception is raised here as it was raised there.
    A native crash raises NativeCrash naming the signal and `what` (the model, as the user wrote it).

    The child is a worker kept for the next call (converters.isolate._Worker): a run scores a dozen variants,
    and a fresh child per call paid its imports, the eval data and the fp32 reference's outputs each time (the
    worker's caches keep them). A crash or a timeout ends the worker; the next call starts another."""
    with _LOCK:
        global _WORKER
        if _WORKER is None or not _WORKER.alive():
            _WORKER = _Worker()
        worker = _WORKER
        try:
            return worker.call(module, function, args, what or module, timeout_s)
        except _WorkerGone:
            _WORKER = None
            raise


def call_fresh(module: str, function: str, *args: object, what: str = "",
               timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
    """`call` in a child of its own, ended after the call (nothing kept between calls)."""
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


class _WorkerGone(ConversionError):
    """The worker died or hung during a call (its NativeCrash/ConversionError subclasses say which)."""


class _CrashGone(_WorkerGone, NativeCrash):
    pass


_LOCK = threading.Lock()
_WORKER: _Worker | None = None
_HEADER = struct.Struct("!Q")


def _send(fd: int, obj: object) -> None:
    data = pickle.dumps(obj)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _recv(fd: int, deadline: float | None = None) -> object:
    """One message; EOFError when the other side is gone, TimeoutError past `deadline` (monotonic)."""
    def exactly(n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    raise TimeoutError
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    (size,) = _HEADER.unpack(exactly(_HEADER.size))
    return pickle.loads(exactly(size))


class _Worker:
    """One long-lived child serving calls over two pipes; its stderr goes to a file (read when it dies)."""

    def __init__(self) -> None:
        req_r, self.req_w = os.pipe()
        self.res_r, res_w = os.pipe()
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "converters.isolate", "--serve", str(req_r), str(res_w), str(os.getpid())],
            pass_fds=(req_r, res_w), stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        os.close(req_r)
        os.close(res_w)
        atexit.register(self.stop)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, module: str, function: str, args: tuple[object, ...], what: str, timeout_s: float) -> object:
        try:
            _send(self.req_w, (module, function, args, dict(os.environ), os.getcwd()))
            ok, value = _reply(_recv(self.res_r, time.monotonic() + timeout_s))
        except TimeoutError:
            self.stop()
            raise _WorkerGone(f"{what}: loading it did not finish in {timeout_s:.0f} s") from None
        except (EOFError, BrokenPipeError, pickle.UnpicklingError):
            code = self.proc.wait()
            self.stop()
            if code < 0:
                raise _CrashGone(f"{what}: the LiteRT/TensorFlow runtime crashed loading it "
                                 f"({_signal_name(code)}, in a child process; the harness goes on)") from None
            raise _WorkerGone(f"{what}: loading it failed (exit {code}: {self._tail()})") from None
        except Exception as exc:  # the whole message arrived but does not unpickle here: the worker is fine
            raise ConversionError(f"{what}: its result could not be read ({type(exc).__name__}: "
                                  f"{str(exc)[:200]})") from None
        if ok:
            return value
        raise value if isinstance(value, BaseException) else RuntimeError(str(value)[:500])

    def _tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode("utf-8", "replace").strip().splitlines()
        return (lines[-1] if lines else "no message")[:200]

    def stop(self) -> None:
        for fd in (self.req_w, self.res_r):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _reply(message: object) -> tuple[bool, object]:
    """(True, the call's result) or (False, the exception it raised), as the worker sends it."""
    if not isinstance(message, tuple) or len(message) != 2 or not isinstance(message[0], bool):
        raise ValueError("not a reply of the worker")
    return message[0], message[1]


def _request(message: object) -> tuple[str, str, tuple[object, ...], dict[str, str], str]:
    """(module, function, args, environment, working directory), as Worker.call sends it."""
    if isinstance(message, tuple) and len(message) == 5:
        module, function, args, env, cwd = message
        if isinstance(module, str) and isinstance(function, str) and isinstance(args, tuple) \
                and isinstance(env, dict) and isinstance(cwd, str):
            return module, function, args, env, cwd
    raise ValueError("not a call request")


def _serve(req: int, res: int, parent: int) -> int:
    """The worker's loop: a call per message, until the parent closes its end."""
    _die_with_parent(parent)
    while True:
        try:
            module, function, args, env, cwd = _request(_recv(req))
        except EOFError:
            return 0
        os.environ.clear()
        os.environ.update(env)
        try:
            os.chdir(cwd)
            result: tuple[bool, object] = (True, getattr(importlib.import_module(module), function)(*args))
        except Exception as exc:  # raised again in the parent as it was
            result = (False, exc)
        try:
            _send(res, result)
        except Exception as exc:  # an unpicklable result or exception: its text instead
            _send(res, (False, RuntimeError(f"{type(exc).__name__}: {exc}"[:500])))


def _child(out: str, parent: int) -> int:
    _die_with_parent(parent)
    module, function, args = pickle.loads(sys.stdin.buffer.read())
    try:
        result: tuple[bool, object] = (True, getattr(importlib.import_module(module), function)(*args))
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
    if sys.argv[1] == "--serve":
        sys.exit(_serve(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    sys.exit(_child(sys.argv[1], int(sys.argv[2])))
