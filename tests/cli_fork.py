"""`python -m harness` as a real process per call, forked from one warm interpreter instead of started cold.

Most of a refused command's CPU time is Python starting and importing the harness (about 0.35 s a call on this
host, of which the refusal itself is a few milliseconds); the bad-input catalog makes 170 such calls. A server
process (started once per test session, `python -m tests.cli_fork`) imports the CLI and the modules every
command imports, then forks one child per call. The child is a real process as the user's would be: its own
working folder, environment, file descriptors 0/1/2 (stdout and stderr land in files, so native writes to fd 2
are kept too), exit status, and `harness/__main__.py` run as `python -m` runs it: an uncaught exception prints
its traceback and exits 1, `SystemExit` exits with its code, atexit handlers run. What it does not cover is
the interpreter's own start-up (import errors at start): tests that need that start `python -m harness` cold
(test_bad_input.py compares the two on a sample of the catalog).
"""
from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# What every command imports before it refuses or runs (kept to modules that read no user setting on import).
WARM = ("harness.cli", "harness.orchestration.orchestrate", "harness.planning.plan", "harness.store.db",
        "harness.commands.options", "yaml", "numpy")


class ForkedCLI:
    """Client side: `cli(*args, cwd=, env=, timeout=)` returns a subprocess.CompletedProcess (bytes or text)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._proc = subprocess.Popen([sys.executable, "-m", "tests.cli_fork"], cwd=REPO, env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = self._read(timeout=300)
        if ready.get("ready") is not True:
            raise RuntimeError(f"the forking CLI server did not start: {ready}")

    def _read(self, timeout: float) -> dict[str, Any]:
        """One reply line; read from the raw pipe (a buffered reader could hold the next reply where select
        does not see it)."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"the forking CLI server ended (exit {self._proc.poll()})")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def __call__(self, *args: str, cwd: str | Path | None = None, env: dict[str, str] | None = None,
                 timeout: float = 120, text: bool = False, input: bytes | str | None = None,
                 ) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "harness", *args]
        with self._lock, tempfile.TemporaryDirectory(prefix="harness-fork-") as tmp:
            out, err, stdin = Path(tmp) / "out", Path(tmp) / "err", Path(tmp) / "in"
            if input is not None:
                stdin.write_bytes(input.encode() if isinstance(input, str) else input)
            req = {"args": list(args), "cwd": str(cwd or os.getcwd()), "env": dict(os.environ if env is None else env),
                   "stdout": str(out), "stderr": str(err), "stdin": str(stdin) if input is not None else os.devnull}
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(req).encode() + b"\n")
            self._proc.stdin.flush()
            pid = self._read(timeout=60)["pid"]
            try:
                rc = self._read(timeout=timeout)["returncode"]
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                self._read(timeout=60)
                raise subprocess.TimeoutExpired(argv, timeout, out.read_bytes(), err.read_bytes()) from None
            o, e = out.read_bytes(), err.read_bytes()
        if text:
            return subprocess.CompletedProcess(argv, rc, o.decode(), e.decode())
        return subprocess.CompletedProcess(argv, rc, o, e)

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


def _child(req: dict[str, Any], proto: list[int]) -> None:
    """In the forked child: become the user's `python -m harness ARGS` and never return."""
    code = 1
    try:
        for fd in proto:
            os.close(fd)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        for fd, path, flags in ((0, req["stdin"], os.O_RDONLY),
                                (1, req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                                (2, req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
            opened = os.open(path, flags, 0o644)
            os.dup2(opened, fd)
            os.close(opened)
        sys.path[0] = req["cwd"]  # as `python -m` puts the working folder first
        import runpy

        sys.argv = [str(REPO / "harness" / "__main__.py"), *req["args"]]
        try:
            runpy.run_module("harness", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:  # what the interpreter does with it
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:  # uncaught: the interpreter prints the traceback and exits 1
            sys.excepthook(*sys.exc_info())
            code = 1
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
    finally:
        os._exit(code & 0xFF)


def _serve() -> int:
    """Server side: warm imports, then one fork per request line on stdin; replies on the original stdout."""
    if sys.platform.startswith("linux"):  # die with the test session
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)  # a child holds only fds 0-2 of its own (and the reply pipes, closed at once)
    import importlib

    for name in WARM:
        importlib.import_module(name)
    import harness.cli

    harness.cli.build_parser()  # imports every command module
    reader, writer = os.fdopen(proto_in, "rb"), os.fdopen(proto_out, "wb")

    def reply(obj: dict[str, Any]) -> None:
        writer.write(json.dumps(obj).encode() + b"\n")
        writer.flush()

    reply({"ready": True})
    for line in reader:
        req = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(req, [proto_in, proto_out])
        reply({"pid": pid})
        _, status = os.waitpid(pid, 0)
        reply({"returncode": os.waitstatus_to_exitcode(status)})
    return 0


if __name__ == "__main__":
    sys.exit(_serve())
