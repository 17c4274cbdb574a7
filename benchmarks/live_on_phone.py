#!/usr/bin/env python3
"""What `--on-device` costs the live page: the same requests to `harness serve` straight from the host and
from the (simulated) phone through `adb reverse` and the real adb server, interleaved in one run.

Figures: median time of GET /api/runs/latest (a 12-result run) and of one event's delivery (publish on the
server -> the event's bytes at the client), direct and through the tunnel, and their ratio. The phone here is
tests/adb_sim.py on loopback, so this measures the adb server's tunnel and the protocol, not USB or Wi-Fi.

Usage: python benchmarks/live_on_phone.py [--n 200]   (needs Debian's adb or adbutils' bundled one)
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _adb_server(home: Path) -> tuple[subprocess.Popen, int]:
    from tests.fixtures_adb import adb_binary

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "ADB_MDNS": "0", "ADB_EMU": "0",
           "ADB_LIBUSB": "0", "ADB_MDNS_OPENSCREEN": "0", "TMPDIR": str(home)}
    proc = subprocess.Popen([adb_binary(), "-L", f"tcp:localhost:{port}", "server", "nodaemon"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the adb server did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="requests and events per path (default 200)")
    args = ap.parse_args()

    from devices.adb import AdbTransport
    from harness.live.server import LiveServer
    from tests.adb_sim import AdbSimulator
    from tests.fixtures_web import store_run, synthetic_rows

    with tempfile.TemporaryDirectory() as tmp:
        tmp_p = Path(tmp)
        proc, adb_port = _adb_server(tmp_p)
        sim = AdbSimulator(tmp_p / "phone", REPO / "tests" / "fixtures" / "device-outputs")
        store_run(tmp_p / "r.db", "run-a", synthetic_rows("run-a"))
        server = LiveServer(tmp_p / "r.db", port=0, watch_db=False).start()
        try:
            adb = AdbTransport(sim.serial, port=adb_port)
            adb.connect()
            adb.reverse(server.port, server.port)
            direct_url = f"http://127.0.0.1:{server.port}/api/runs/latest"
            times: dict[str, list[float]] = {"direct": [], "adb reverse": []}
            for i in range(args.n):
                for path in (("direct", "adb reverse") if i % 2 == 0 else ("adb reverse", "direct")):
                    t0 = time.perf_counter()
                    if path == "direct":
                        with urllib.request.urlopen(direct_url, timeout=10) as resp:
                            body = resp.read()
                    else:
                        body = sim.http_get(server.port, "/api/runs/latest")
                    times[path].append((time.perf_counter() - t0) * 1000)
                    assert b"run-a" in body
            events = _event_latency(server, sim, args.n)
            adb.reverse_remove(server.port)
        finally:
            server.stop()
            sim.close()
            proc.terminate()
            proc.wait(timeout=10)
    rows = [("GET /api/runs/latest (ms)", times), ("event delivery (ms)", events)]
    print(f"{'median of ' + str(args.n):<28}{'direct':>10}{'adb reverse':>14}{'ratio':>8}")
    for name, t in rows:
        d, r = statistics.median(t["direct"]), statistics.median(t["adb reverse"])
        print(f"{name:<28}{d:>10.2f}{r:>14.2f}{r / d:>8.1f}x")
    return 0


def _event_latency(server, sim, n: int) -> dict[str, list[float]]:
    """Publish one event at a time; time until its bytes reach a stream opened directly and one through adb."""
    import queue

    arrived: dict[str, queue.Queue] = {"direct": queue.Queue(), "adb reverse": queue.Queue()}

    def direct_reader() -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/events", timeout=60) as resp:
            for line in resp:
                if line.startswith(b"event: bench"):
                    arrived["direct"].put(time.perf_counter())

    def tunnel_reader() -> None:
        stream = sim.open_reverse(server.port)
        stream.write(f"GET /api/events HTTP/1.1\r\nHost: localhost:{server.port}\r\n\r\n".encode())
        while True:
            chunk = stream.inbox.get()
            if chunk is None:
                return
            for _ in range(chunk.count(b"event: bench")):
                arrived["adb reverse"].put(time.perf_counter())

    for fn in (direct_reader, tunnel_reader):
        threading.Thread(target=fn, daemon=True).start()
    deadline = time.time() + 10
    while server.hub.subscribers < 2 and time.time() < deadline:
        time.sleep(0.01)
    out: dict[str, list[float]] = {"direct": [], "adb reverse": []}
    for _ in range(n):
        t0 = time.perf_counter()
        server.hub.publish("bench", {"t": t0})
        for path in out:
            out[path].append((arrived[path].get(timeout=10) - t0) * 1000)
    return out


if __name__ == "__main__":
    sys.exit(main())
