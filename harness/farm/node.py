"""Starting and stopping this host's Ray node (`ray start --block`), for `harness agent` and `harness farm up`.

A node's start is guarded twice: one start at a time on a host (`node_start_lock`), and one more try when Ray's
own start gives up under load (`start_node`). Every node lives in its own session and dies with the harness
process that started it.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TypeVar

from errors import UserError
from harness.farm.cluster import TOKEN_REFUSED, shown

T = TypeVar("T")
START_LOCK_WAIT_S = 180.0  # how long a node's start waits for another node's start on this host
# What `ray start` says when its raylet did not register within the 30 s Ray allows (ray/_private/node.py; not a
# setting): seen on a loaded host, for a head as for an agent's node.
STARTUP_TIMEOUT = "timed out during startup"
RUNTIME_STARTED = "Ray runtime started."  # what it says once its node is registered


# Ray's log monitor tails every worker's log into the GCS for drivers to print; every harness driver connects
# with `log_to_driver=False`, so on a host that measures it would only be load (benchmarks/farm_idle_host.py).
NO_LOG_MONITOR = "--include-log-monitor=false"


def ray_cli(keep_loopback: bool = False) -> list[str]:
    """`ray` as a child of this Python. With `keep_loopback`, a loopback `--node-ip-address` stays loopback:
    `ray start` would replace 127.0.0.1 by the host's LAN address (`resolve_ip_for_localhost`), and its
    Python servers (client server, agents, metrics) would then listen there."""
    patch = ("import ray._private.services as s; s.resolve_ip_for_localhost = lambda host: host; "
             if keep_loopback else "")
    return [sys.executable, "-c",
            f"import sys; {patch}from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"]


def start_lock_path() -> Path:
    """One lock file per host ($HARNESS_FARM_START_LOCK moves it: a test's own cluster)."""
    default = Path(tempfile.gettempdir()) / "harness-ray-node-start.lock"
    return Path(os.environ.get("HARNESS_FARM_START_LOCK") or default)


@contextmanager
def node_start_lock(wait_s: float = START_LOCK_WAIT_S, stopping: threading.Event | None = None) -> Iterator[bool]:
    """On one host, one Ray node starts at a time. `ray start` names its raylet's and object store's sockets
    (`<session>/sockets/plasma_store.N`, `raylet.N`) by looking for a free N without creating the file
    (ray/_private/node.py `_make_inc_temp`): two agents of one farm starting on one host at the same moment take
    the same name, the second raylet dies with `bind: Address already in use`, and its `ray start` gives up 30 s
    later ("timed out during startup"). Held from `ray start` until the node is in Ray's node table; the kernel
    drops it when this process dies, however it dies. Yields whether it was taken: after `wait_s` (a start stuck
    elsewhere) the start goes on without it."""
    try:
        import fcntl

        fd = os.open(start_lock_path(), os.O_RDWR | os.O_CREAT, 0o666)
    except (ImportError, OSError):  # no flock here, or a lock file this user cannot open: start unguarded
        yield False
        return
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                taken = True
                break
            except BlockingIOError:
                if time.monotonic() > deadline or (stopping is not None and stopping.is_set()):
                    taken = False
                    break
                time.sleep(0.2)
        yield taken
    finally:
        os.close(fd)  # not inherited by `ray start` (close-on-exec): closing it here releases the lock


def start_node(argv: list[str], folder: Path, up: Callable[[subprocess.Popen[bytes], Path], T], *, what: str,
               note: Callable[[str], None], on_spawn: Callable[[subprocess.Popen[bytes]], None] | None = None,
               tries: int = 2, one_at_a_time: bool = False,
               stopping: threading.Event | None = None) -> tuple[subprocess.Popen[bytes], Path, T]:
    """Run `ray start ... --block` (argv) in its own session and wait with `up(proc, log)`, which returns once the
    node serves, or raises UserError (the process ended, or its own time ran out). A start that Ray itself gave up
    on as "timed out during startup" is tried once more (`note` says so); a second one is one line. With
    `one_at_a_time` (a node joining a cluster), the host's node-start lock is held from `ray start` until it says
    its node is registered. On any failure the started processes are stopped here; on success the caller owns
    `proc` (`stop_node` it)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # its "Ray runtime started." reaches the log when it is said
    for attempt in range(1, tries + 1):
        log = folder / f"ray-start-{attempt}.log"
        proc: subprocess.Popen[bytes] | None = None
        try:
            with node_start_lock(stopping=stopping) if one_at_a_time else nullcontext(False):
                with open(log, "wb") as fh:
                    proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=die_with_parent, env=env)
                if on_spawn is not None:
                    on_spawn(proc)
                if one_at_a_time:
                    _registered(proc, log)
            return proc, log, up(proc, log)
        except UserError:
            assert proc is not None
            ended, timed_out = proc.poll() is not None, _said(log, STARTUP_TIMEOUT)
            stop_node(proc)
            if not (ended and timed_out):
                raise
            if attempt == tries:
                raise UserError(f"{what}: `ray start` {STARTUP_TIMEOUT} {tries} times (Ray gives a node 30 s to "
                                f"register; is this host overloaded?); its log: {log}") from None
            note(f"{what}: `ray start` {STARTUP_TIMEOUT} (Ray gives a node 30 s to register); trying once more")
        except BaseException:
            if proc is not None:
                stop_node(proc)
            raise
    raise AssertionError("unreachable")  # every try returns or raises


def _registered(proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 120.0) -> None:
    """Until `ray start` says its node runs (its raylet has bound its sockets and registered), it ends, or the
    time is up (the caller's own wait then says why)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None and not _said(log, RUNTIME_STARTED):
        time.sleep(0.2)


def _said(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text(errors="replace")


def start_failed(log: Path) -> str:
    """Why `ray start` stopped, in one line; a refused token is named as such (Ray says it many ways)."""
    said = log.read_text(errors="replace") if log.exists() else ""
    if "InvalidAuthToken" in said or "token is missing or incorrect" in said:
        return TOKEN_REFUSED
    return f"`ray start` failed: {last_error(log)}"


_RAISED = re.compile(r"^([\w.]*(Error|Exception)|RuntimeError|ValueError)\b")


def last_error(log: Path) -> str:
    """The line of `ray start`'s output that says why: the exception it ended with, else the last line that
    says error (not one of its INFO lines, which retries print: "Failed to get node info ... RPC error")."""
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()] if log.exists() else []
    said = [ln for ln in lines if " INFO " not in ln]
    pick = (next((ln for ln in reversed(said) if _RAISED.match(ln) or STARTUP_TIMEOUT in ln), None)
            or next((ln for ln in reversed(said) if "rror" in ln or "ismatch" in ln), None)
            or (lines[-1] if lines else "no output"))
    return shown(pick, 200)


def die_with_parent() -> None:
    """In the `ray start --block` child, before it runs: the kernel sends it SIGTERM when the harness process
    that started it dies, however it dies (SIGKILL included), and `ray start` then stops its node. So a
    killed agent (or head) leaves no orphan node that keeps serving. Linux only; elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def stop_node(proc: subprocess.Popen[bytes]) -> None:
    """Stop a node started by `ray start --block` in its own session: SIGTERM stops most of its
    processes; a few helpers (dashboard and runtime-env agents) outlive it, so the group goes too."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
