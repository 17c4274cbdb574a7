"""Fixtures for the Android area: the real adb server in the foreground, and a simulated phone."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.adb_sim import BENCH_MARK, AdbSimulator


@dataclass
class AdbServer:
    binary: str
    host: str
    port: int
    env: dict[str, str]
    proc: subprocess.Popen

    def cli(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
        """The adb command-line client against this server."""
        return subprocess.run([self.binary, "-L", f"tcp:{self.host}:{self.port}", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)


def adb_binary() -> str:
    """Debian's adb when installed (CI installs it), else the binary adbutils ships."""
    found = os.environ.get("HARNESS_TEST_ADB") or shutil.which("adb")
    if found:
        return found
    from adbutils._utils import adb_path

    return adb_path()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def adb_server(tmp_path_factory) -> AdbServer:
    """`adb -L tcp:localhost:PORT server nodaemon` with its own HOME; no mDNS, no emulator scan, no USB."""
    home = tmp_path_factory.mktemp("adb-home")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "ANDROID_USER_HOME": str(home / ".android"), "ADB_MDNS": "0", "ADB_EMU": "0", "ADB_LIBUSB": "0",
           "ADB_MDNS_OPENSCREEN": "0", "TMPDIR": str(home)}
    binary = adb_binary()
    log = open(home / "adb-server.log", "w")
    proc = None
    for _attempt in range(3):
        port = _free_port()
        proc = subprocess.Popen([binary, "-L", f"tcp:localhost:{port}", "server", "nodaemon"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            proc.kill()
            proc.wait()
            continue
        break
    else:
        pytest.fail(f"the adb server ({binary}) did not start; log: {(home / 'adb-server.log').read_text()[-500:]}")
    server = AdbServer(binary, "127.0.0.1", port, env, proc)
    yield server
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


@pytest.fixture
def adb_sim(tmp_path, device_outputs, adb_server):
    """A simulated phone on a loopback port; dropped from the server afterwards."""
    sim = AdbSimulator(tmp_path / "phone", device_outputs, bench_seconds=0.6)
    yield sim
    sim.close()
    adb_server.cli("disconnect", sim.serial, timeout=10)


@pytest.fixture
def fake_benchmark_model(tmp_path) -> Path:
    """The stand-in for the Android benchmark_model build that the simulator 'executes'."""
    p = tmp_path / "benchmark_model"
    p.write_bytes(BENCH_MARK + os.urandom(4096))
    return p


@pytest.fixture
def android_device(adb_server, adb_sim, fake_benchmark_model):
    """A factory of AndroidDevice configs for the simulated phone, with short link timeouts."""
    from harness.planning.config import AndroidDevice

    def make(**overrides):
        base = dict(name="phone", kind="android", serial=adb_sim.serial, adb_port=adb_server.port,
                    benchmark_model=str(fake_benchmark_model), link_timeout_s=1.5, link_check_s=0.5,
                    connect_timeout_s=5.0)
        base.update(overrides)
        return AndroidDevice(**base)

    return make
