#!/usr/bin/env python3
"""Agents started at the same moment on one host: how many never join?

A real farm on this machine: `harness farm up` on a loopback port, then ROUNDS times: AGENTS `harness agent`
processes (one `kind: local` device each) started at once, each given --timeout seconds to print "joined"; then
all stopped with SIGTERM, as a service manager would, before the next round. A failed agent's last stderr line
is printed (before the fix: "`ray start` failed: ..." after its raylet died with `bind: Address already in use`
on the object store's socket, which a simultaneous start had taken).

--tree DIR runs the head and the agents from another checkout of harness (e.g. `git archive` of an older
commit): the same rounds, the code before and after a change.

Usage: python benchmarks/farm_simultaneous.py [--rounds 10] [--agents 3] [--timeout 150] [--tree DIR]
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_line(proc: subprocess.Popen[str], needle: str, timeout_s: float) -> bool:
    """Whether the child printed a line with `needle` (on stdout) within the time; it keeps running."""
    hit = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if needle in line:
                hit.set()
                return

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(timeout_s)
    return hit.is_set()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--agents", type=int, default=3, help="agents started at the same moment each round")
    ap.add_argument("--timeout", type=float, default=150.0, help="seconds an agent has to join")
    ap.add_argument("--tree", type=Path, default=REPO, help="the harness checkout the head and agents run from")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="farm-simultaneous-"))
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_TOKEN", "RAY_AUTH_MODE")}
    env.update(RAY_AUTH_TOKEN_PATH=str(root / "token"), XDG_CACHE_HOME=str(root / "cache"),
               RAY_USAGE_STATS_ENABLED="0", HARNESS_FARM_START_LOCK=str(root / "start.lock"))
    agent_env = {**env, "PYTHONPATH": os.pathsep.join(p for p in (str(args.tree.resolve()), env.get("PYTHONPATH"))
                                                      if p)}
    head = subprocess.Popen([sys.executable, "-m", "harness", "farm", "up", "--port", str(port)],
                            stdout=subprocess.PIPE, text=True, env=agent_env, cwd=root)
    failed: list[tuple[int, str, str]] = []
    seconds: list[float] = []
    procs: list[subprocess.Popen[str]] = []
    try:
        if not _wait_line(head, "farm head at", 180):
            print("the head did not start", file=sys.stderr)
            return 2
        for n in range(args.rounds):
            procs.clear()
            for i in range(args.agents):
                (root / f"lab{i}.yaml").write_text(f"devices:\n  - {{name: r{n}d{i}, kind: local}}\n")
            t0 = time.monotonic()
            for i in range(args.agents):
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "harness", "agent", "--devices", str(root / f"lab{i}.yaml"),
                     "--address", address, "--name", f"a{i}"],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=agent_env, cwd=root))
            joined = [False] * len(procs)

            def watch(i: int, p: subprocess.Popen[str], joined: list[bool] = joined) -> None:
                joined[i] = _wait_line(p, "joined", args.timeout)

            threads = [threading.Thread(target=watch, args=(i, p)) for i, p in enumerate(procs)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            seconds.append(time.monotonic() - t0)
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for i, p in enumerate(procs):
                try:
                    p.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                if not joined[i]:
                    err = (p.stderr.read() if p.stderr else "").strip().splitlines()
                    failed.append((n, f"a{i}", err[-1][:300] if err else "(nothing on stderr)"))
            print(f"round {n + 1}/{args.rounds}: {sum(joined)}/{len(procs)} joined in {seconds[-1]:.1f} s "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
            for m, name, why in failed:
                if m == n:
                    print(f"  {name}: {why}", flush=True)
    finally:
        for p in procs:  # also when interrupted: no agent outlives the script
            if p.poll() is None:
                p.kill()
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
    total = args.rounds * args.agents
    rounds_bad = len({n for n, _, _ in failed})
    print(f"agents from {args.tree}: {len(failed)} of {total} agents never joined; {rounds_bad} of {args.rounds} "
          f"rounds had one (agents {args.agents} at once; median round {sorted(seconds)[len(seconds) // 2]:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
