"""`serve --host 0.0.0.0` prints addresses a phone can open (never 0.0.0.0) and the URL as a QR code."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request

import psutil

from harness.live.addresses import qr_text, reachable_addresses


def test_wildcard_bind_lists_this_machines_addresses():
    found = reachable_addresses("0.0.0.0")
    mine = {a.address for addrs in psutil.net_if_addrs().values() for a in addrs}
    assert found and "0.0.0.0" not in found and all(a in mine for a in found)
    assert reachable_addresses("127.0.0.1") == ["127.0.0.1"]


def test_serve_on_all_interfaces_prints_reachable_urls_and_a_qr_code(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "harness", "serve", "--host", "0.0.0.0", "--port", "0",
                             "--db", str(tmp_path / "r.db"), "--token", "t0k"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("(QR: "):
                break
        first = next(line.strip() for line in lines if line.startswith("  http://"))
        port = first.split("//", 1)[1].split(":", 1)[1].split("/", 1)[0]
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/runs", headers={"Authorization": "Bearer t0k"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200  # the server answers on the port it printed
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    out = "".join(lines)
    assert "0.0.0.0" not in out, out
    urls = [line.strip() for line in lines if line.startswith("  http://")]
    assert urls and all("token=t0k" in u for u in urls)
    qr_start = lines.index(next(line for line in lines if line.startswith("█")))
    qr = "".join(lines[qr_start:-1]) + lines[-1].split("(QR: ")[0]
    assert qr == qr_text(urls[0])  # the code drawn is the first URL's
