#!/usr/bin/env python3
"""What a farm's Ray node costs a host that is only waiting: its start and each idle minute, side by side.

An agent runs on the hosts that measure, so every background process of its Ray node is load on the device
being timed. `harness farm up` and `harness agent` start their nodes without Ray's log monitor (it tails
every worker's log into the GCS for drivers, and every harness driver says `log_to_driver=False`: nobody
reads what it ships). This starts a real head and one agent on loopback with the commands as shipped, then
the same with `--ray-start-arg=--include-log-monitor=true` (Ray's default), and prints, per variant:
the CPU-s the agent's node and the head used up to "joined", and each one's CPU-s over an idle window.
Variants alternate round by round (a slow minute of the shared host falls on both); medians of the rounds.

Usage: python benchmarks/farm_idle_host.py [--rounds 2] [--idle-s 60]
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
VARIANTS = {"as shipped (no log monitor)": [], "Ray's default (log monitor on)": ["--include-log-monitor=true"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_line(proc: subprocess.Popen[str], needle: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    for line in proc.stdout:
        if needle in line:
            return
        if time.monotonic() > deadline:
            break
    raise SystemExit(f"no {needle!r} within {timeout_s:.0f} s")


def _tree_cpu(root: int, sessions: set[int]) -> float:
    """CPU-s of a process, its descendants and every process of the sessions its `ray start` made. The sessions
    found are added to `sessions`, so a node's daemons count on the next call too; processes that already ended
    count only through a living parent that waited for them (the start figures are a floor)."""
    total = 0.0
    try:
        procs = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
    except psutil.NoSuchProcess:
        procs = []
    sessions |= {os.getsid(p.pid) for p in procs if p.is_running()} - {os.getsid(0)}
    pids = {p.pid for p in procs}
    for p in psutil.process_iter():
        try:
            if p.pid in pids or os.getsid(p.pid) in sessions:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
        except (psutil.NoSuchProcess, ProcessLookupError, PermissionError):
            continue
    return total


def one(extra: list[str], idle_s: float) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="farm-idle-"))
    env = {**os.environ, "RAY_AUTH_TOKEN_PATH": str(tmp / "token"), "HARNESS_FARM_START_LOCK": str(tmp / "lock"),
           "XDG_CACHE_HOME": str(tmp / "cache"), "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(REPO)}
    env.pop("RAY_AUTH_TOKEN", None)
    (tmp / "lab.yaml").write_text("devices:\n  - {name: bench1, kind: local}\n")
    port = _free_port()
    cmd = [sys.executable, "-m", "harness"]
    ray_args = [f"--ray-start-arg={a}" for a in extra]
    head = subprocess.Popen(cmd + ["farm", "up", "--port", str(port), *ray_args], stdout=subprocess.PIPE,
                            text=True, env=env, cwd=tmp)
    agent = None
    hs: set[int] = set()
    ags: set[int] = set()
    try:
        _wait_line(head, "farm head at", 180)
        head_up = _tree_cpu(head.pid, hs)
        agent = subprocess.Popen(cmd + ["agent", "--devices", str(tmp / "lab.yaml"), "--address", f"127.0.0.1:{port}",
                                        "--name", "idle1", *ray_args], stdout=subprocess.PIPE, text=True, env=env,
                                 cwd=tmp)
        _wait_line(agent, "joined", 180)
        time.sleep(5)  # the join's last calls settle
        a0, h0 = _tree_cpu(agent.pid, ags), _tree_cpu(head.pid, hs)
        time.sleep(idle_s)
        a1, h1 = _tree_cpu(agent.pid, ags), _tree_cpu(head.pid, hs)
        return {"head start CPU-s": head_up, "agent start CPU-s": a0,
                "agent idle CPU-s/min": (a1 - a0) * 60 / idle_s, "head idle CPU-s/min": (h1 - h0) * 60 / idle_s}
    finally:
        for p in (agent, head):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=90)
        shutil.rmtree(tmp, ignore_errors=True)  # the round's token, lock and caches


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--idle-s", type=float, default=60.0)
    args = ap.parse_args()
    if args.rounds < 1 or not 5 <= args.idle_s <= 3600:
        print("farm_idle_host.py: error: --rounds must be >= 1 and --idle-s within 5..3600", file=sys.stderr)
        return 2
    got: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    names = list(VARIANTS)
    for r in range(args.rounds):
        for v in (names if r % 2 == 0 else names[::-1]):
            got[v].append(one(VARIANTS[v], args.idle_s))
            print(f"round {r + 1} {v}: " + ", ".join(f"{k} {x:.1f}" for k, x in got[v][-1].items()), flush=True)
    keys = list(got[names[0]][0])
    print(f"\nmedians of {args.rounds} round(s), load average now {os.getloadavg()[0]:.1f}")
    print("| figure | " + " | ".join(names) + " | shipped / default |")
    print("| --- | " + " | ".join("---" for _ in names) + " | --- |")
    for k in keys:
        med = [statistics.median(x[k] for x in got[v]) for v in names]
        print(f"| {k} | " + " | ".join(f"{m:.1f}" for m in med) + f" | {med[0] / med[1]:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
