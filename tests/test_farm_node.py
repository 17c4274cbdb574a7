"""Starting this host's Ray node: one start at a time on a host, and one more try when the start timed out.

No Ray here: `start_node` runs a real child process that stands in for `ray start` (it prints what Ray 2.60's
`ray start` printed when its raylet did not register within Ray's 30 s, on a loaded host, then exits 1).
The real `farm up` and `agent` go through it in tests/test_farm.py.
"""
from __future__ import annotations

import fcntl
import sys
import time
from pathlib import Path

import pytest

from errors import UserError
from harness.farm.node import last_error, node_start_lock, start_failed, start_node, stop_node

STAND_IN = '''
import pathlib, sys, time
tries = pathlib.Path(sys.argv[1])
n = int(tries.read_text()) if tries.exists() else 0
tries.write_text(str(n + 1))
if n < int(sys.argv[2]):
    print("2026-12-07 01:42:43,191\\tINFO node.py:438 -- Failed to get node info b'RPC error: Deadline Exceeded'")
    print(sys.argv[3])
    sys.exit(1)
print("serving", flush=True)
time.sleep(120)
'''
TIMED_OUT = ("Exception: The current node timed out during startup. This could happen because some of the raylet "
             "failed to startup or the GCS has become overloaded.")


def _up(proc, log: Path) -> str:
    """What `farm up` and `agent` wait for, in small: the node serving, or `ray start` gone (a UserError)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(f"farm up: {start_failed(log)}")
        if "serving" in log.read_text():
            return "serving"
        time.sleep(0.05)
    raise UserError("farm up: the stand-in never served")


def _start(tmp_path: Path, fails: int, says: str = TIMED_OUT, notes: list | None = None):
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    tries = tmp_path / f"tries-{fails}-{len(says)}"
    folder = tmp_path / f"logs-{fails}-{len(says)}"
    folder.mkdir()
    got = start_node([sys.executable, str(script), str(tries), str(fails), says], folder, _up, what="farm up",
                     note=(notes if notes is not None else []).append)
    return got, tries


def test_a_start_that_timed_out_is_tried_once_more(tmp_path):
    notes: list[str] = []
    (proc, log, got), tries = _start(tmp_path, 1, notes=notes)
    try:
        assert got == "serving" and tries.read_text() == "2" and log.name == "ray-start-2.log"
        assert notes == ["farm up: `ray start` timed out during startup (Ray gives a node 30 s to register); "
                         "trying once more"]
    finally:
        stop_node(proc)
    # Why the first one failed is the exception it ended with, not the INFO line before it that says "error".
    assert last_error(log.with_name("ray-start-1.log")).startswith("Exception: The current node timed out")


def test_a_second_time_out_is_one_line_and_another_failure_is_not_tried_again(tmp_path):
    with pytest.raises(UserError) as err:
        _start(tmp_path, 2)
    text = str(err.value)
    assert text.startswith("farm up: `ray start` timed out during startup 2 times (Ray gives a node 30 s to "
                           "register; is this host overloaded?); its log: ") and "\n" not in text, text
    # A failure that another try would not mend (here: a bad argument) is said at once, as Ray said it.
    with pytest.raises(UserError) as err:
        (_, _, _), tries = _start(tmp_path, 5, says="ValueError: --port 99999 is not a port")
    assert str(err.value) == "farm up: `ray start` failed: ValueError: --port 99999 is not a port"
    assert (tmp_path / f"tries-5-{len('ValueError: --port 99999 is not a port')}").read_text() == "1"


def test_one_node_starts_at_a_time_on_a_host(tmp_path, monkeypatch):
    """The host's node-start lock: while another start holds it, a start waits (here: gives up waiting after
    its bound and goes on unguarded); once it is free, the start takes it."""
    lock = tmp_path / "start.lock"
    monkeypatch.setenv("HARNESS_FARM_START_LOCK", str(lock))
    with open(lock, "a+") as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        t0 = time.monotonic()
        with node_start_lock(wait_s=0.6) as taken:
            assert taken is False and time.monotonic() - t0 >= 0.6
    with node_start_lock(wait_s=0.6) as taken:
        assert taken is True
        with open(lock, "a+") as other:  # held now: another start cannot take it
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(lock, "a+") as other:  # let go when the start is done
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_namesake_whose_agent_process_runs_here_is_serving_and_not_waited_for(tmp_path):
    """A second agent of a name whose agent still runs on this host is refused at once; one whose process is gone
    (SIGKILLed, its node on its way out), that said it stopped (SIGTERM), or that did not say its process is waited
    for (agent.SETTLE_S), as a service manager's restart needs. A pid given since to another process is not it."""
    import os
    import subprocess

    from harness.farm.agent import process_started, serving_here

    me = {"name": "a", "node_id": "n", "hostname": "h", "devices": {}, "facts": {}, "alive": True,
          "pid": os.getpid(), "pid_started": process_started(os.getpid())}
    assert isinstance(me["pid_started"], int)
    assert serving_here(me)
    assert not serving_here({**me, "stopped_at": 1.0})  # stopped: its node and workers are on their way out
    assert not serving_here({**me, "alive": False})
    assert not serving_here({k: v for k, v in me.items() if k not in ("pid", "pid_started")})  # an older agent
    assert not serving_here({**me, "pid_started": me["pid_started"] - 1})  # the pid is another process's now
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert process_started(gone.pid) is None
    assert not serving_here({**me, "pid": gone.pid})
