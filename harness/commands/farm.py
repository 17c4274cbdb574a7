"""`harness farm up`: start a Ray head on this machine, for a quick try or as a lab's coordinator."""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from harness.commands.options import tcp_port


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    f = sub.add_parser("farm", help="start the farm's head (Ray) on this machine")
    f.add_argument("action", choices=["up"], help="up: start a head and serve until Ctrl-C")
    f.add_argument("--bind", default="127.0.0.1",
                   help="address the head listens on (default 127.0.0.1; a lab uses the host's lab address)")
    f.add_argument("--port", type=tcp_port, default=6379, help="the head's port (default 6379)")
    f.add_argument("--num-cpus", type=int, default=1, help="CPUs Ray may schedule on the head (default 1)")
    f.add_argument("--lost-after", type=float, default=30.0, metavar="SECONDS",
                   help="a host that stops answering (frozen, unplugged) is declared lost after about this long, "
                        "and its jobs become error rows (default 30; 6 to 600)")
    f.add_argument("--ray-start-arg", action="append", default=[], metavar="ARG",
                   help="passed to `ray start --head` (repeatable), e.g. --ray-start-arg=--object-manager-port=8076")
    f.set_defaults(func=cmd_farm)


def health_checks(lost_after_s: float) -> dict[str, int]:
    """Ray's node health checks, so a frozen host is declared dead within about `lost_after_s`: three
    failed checks in a row, each given a sixth of it to answer and a sixth before the next (Ray's own
    defaults come to about a minute, and a frozen host's jobs waited for their own timeouts on top)."""
    step_ms = int(lost_after_s * 1000 / 6)
    return {"health_check_period_ms": step_ms, "health_check_timeout_ms": step_ms,
            "health_check_failure_threshold": 3}


def cmd_farm(args: argparse.Namespace) -> int:
    from errors import UserError
    from harness.farm.cluster import connect, ensure_token, harness_version, is_loopback, registry, secure_env
    from harness.farm.node import NO_LOG_MONITOR, last_error, ray_cli, start_node, stop_node

    if not 6 <= args.lost_after <= 600:
        raise UserError(f"--lost-after {args.lost_after:g}: expected 6 to 600 seconds")
    address = f"{args.bind}:{args.port}"
    token = ensure_token()  # kept across restarts: agents keep theirs
    secure_env()  # the head's processes inherit token mode
    # The head's memory monitor never kills the control plane (the registry): Ray's own knob, head only.
    os.environ["RAY_memory_monitor_refresh_ms"] = "0"
    argv = ray_cli(keep_loopback=is_loopback(args.bind))
    argv += ["start", "--head", f"--node-ip-address={args.bind}", f"--port={args.port}",
             f"--num-cpus={args.num_cpus}", "--include-dashboard=false", NO_LOG_MONITOR, "--disable-usage-stats",
             f"--object-store-memory={100 * 1024 * 1024}", "--block",
             f"--system-config={json.dumps(health_checks(args.lost_after))}", *args.ray_start_arg]
    folder = Path(tempfile.mkdtemp(prefix="harness-farm-"))  # `ray start`'s output, one log per try

    def interrupted(signum: int, _frame: object) -> None:  # during start-up: unwind, so `finally` stops ray
        raise KeyboardInterrupt(signal.Signals(signum).name)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, interrupted)
    procs: list[subprocess.Popen[bytes]] = []  # `ray start` now (a second one when the first timed out)
    stopping = threading.Event()
    # A signal during start-up may arrive while the main thread is inside Ray's C++ connect, where no Python
    # handler runs until it returns (a minute or more): the wakeup fd tells a thread at once, which stops
    # `ray start` and its session and exits, so nothing of Ray outlives a stopped `farm up`.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    started = threading.Event()

    def stop_if_still_starting() -> None:
        if os.read(wake_r, 1) and not started.is_set():
            for proc in procs:
                stop_node(proc)
            os._exit(130)
    threading.Thread(target=stop_if_still_starting, name="farm-up-signal", daemon=True).start()

    def up(proc: subprocess.Popen[bytes], log: Path) -> Any:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise UserError(f"farm up: `ray start --head` failed: {last_error(log)}")
            try:
                return connect(address, "--bind/--port")
            except UserError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
    try:
        proc, _log, ray = start_node(argv, folder, up, what="farm up", on_spawn=procs.append,
                                     note=lambda line: print(line, flush=True))
        started.set()
        signal.set_wakeup_fd(-1)
        os.close(wake_w)  # the thread reads end-of-file and ends
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # after ray.init (it installs its own)
            signal.signal(s, lambda *_: stopping.set())
        ray.get(registry(harness_version()).info.remote())
        print(f"farm head at {address}; token authentication on (token in {token}).\n"
              f"On each lab host, with a copy of the token at ~/.ray/auth_token (mode 600), run:\n"
              f"  harness agent --devices LAB.yaml --address {address}\n"
              f"then here: harness run --farm {address}   (Ctrl-C stops the head)", flush=True)
        while not stopping.is_set() and proc.poll() is None:
            stopping.wait(1.0)
        return 0
    finally:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # a second signal must not cut the clean-up
            signal.signal(s, signal.SIG_IGN)
        try:
            import ray as _ray

            _ray.shutdown()
        except Exception:
            pass
        for proc in procs:
            stop_node(proc)
        sys.stdout.flush()
