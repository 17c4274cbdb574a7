"""`harness farm up`: start a Ray head on this machine, for a quick try or as a lab's coordinator."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    f = sub.add_parser("farm", help="start the farm's head (Ray) on this machine")
    f.add_argument("action", choices=["up"], help="up: start a head and serve until Ctrl-C")
    f.add_argument("--bind", default="127.0.0.1",
                   help="address the head listens on (default 127.0.0.1; a lab uses the host's lab address)")
    f.add_argument("--port", type=int, default=6379, help="the head's port (default 6379)")
    f.add_argument("--num-cpus", type=int, default=1, help="CPUs Ray may schedule on the head (default 1)")
    f.add_argument("--ray-start-arg", action="append", default=[], metavar="ARG",
                   help="passed to `ray start --head` (repeatable), e.g. --ray-start-arg=--object-manager-port=8076")
    f.set_defaults(func=cmd_farm)


def cmd_farm(args: argparse.Namespace) -> int:
    from errors import UserError
    from harness.farm.agent import _last_error, _ray_cli, stop_node
    from harness.farm.cluster import connect, ensure_token, harness_version, registry, secure_env

    address = f"{args.bind}:{args.port}"
    token = ensure_token()  # kept across restarts: agents keep theirs
    secure_env()  # the head's processes inherit token mode
    # The head's memory monitor never kills the control plane (the registry): Ray's own knob, head only.
    os.environ["RAY_memory_monitor_refresh_ms"] = "0"
    argv = _ray_cli() + ["start", "--head", f"--node-ip-address={args.bind}", f"--port={args.port}",
                         f"--num-cpus={args.num_cpus}", "--include-dashboard=false", "--disable-usage-stats",
                         f"--object-store-memory={100 * 1024 * 1024}", "--block", *args.ray_start_arg]
    log = Path(tempfile.mkdtemp(prefix="harness-farm-")) / "ray-start.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    stopping = threading.Event()
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise UserError(f"farm up: `ray start --head` failed: {_last_error(log)}")
            try:
                ray = connect(address, "--bind/--port")
                break
            except UserError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
        for s in (signal.SIGTERM, signal.SIGINT):  # after ray.init, which installs its own SIGTERM handler
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
        try:
            import ray as _ray

            _ray.shutdown()
        except Exception:
            pass
        stop_node(proc)
        sys.stdout.flush()
