"""The emulated arm64 board: tests/arm64_image.py's image booted under qemu-system-aarch64 (TCG).

`-M virt -cpu cortex-a72`, 2 vCPUs, user-mode networking with `restrict=on` (the guest reaches nothing, not
even a package index) and one forwarded port: 127.0.0.1:PORT on this host to the guest's sshd. The disk is
opened with snapshot=on, so every boot starts from the image as built. The guest makes its ssh host key at
boot and prints it on the serial console (a file here); known_hosts is written from that line, so the key is
pinned through a channel that is not the network. The client key is made here and handed to the guest on
the kernel command line (a public key: no secret there).

`arm64_wheels` fetches the aarch64 ai-edge-litert wheel and its dependencies for the guest's Python with
`pip download --platform` into the user's cache folder, once: `harness devices setup` copies them to the
board (devices.yaml `wheels:`).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.arm64_image import HOST_KEY_TAG, BoardImage, cache_root

QEMU = "qemu-system-aarch64"
LITERT = "ai-edge-litert==2.3.0"  # same line as the host's; 2.x wheels are manylinux_2_27_aarch64
GUEST_PYTHON = "3.11"  # Debian bookworm's python3
BOOT_TIMEOUT_S = 420.0  # TCG on a loaded 2-core host; a boot takes about a minute there


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def arm64_wheels(cache: Path | None = None) -> Path:
    """A folder of aarch64 wheels for the guest's Python: ai-edge-litert and what it needs."""
    folder = (cache or cache_root()) / f"wheels-{LITERT.replace('==', '-')}-cp{GUEST_PYTHON.replace('.', '')}"
    if (folder / "complete").exists():
        return folder
    tmp = folder.with_name(folder.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    res = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
                          "--platform", "manylinux_2_27_aarch64", "--platform", "manylinux2014_aarch64",
                          "--python-version", GUEST_PYTHON, "--dest", str(tmp), LITERT],
                         capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        pytest.fail(f"pip download of the aarch64 {LITERT} wheel failed: {res.stderr.strip()[-500:]}")
    (tmp / "complete").write_text("\n".join(sorted(p.name for p in tmp.glob("*.whl"))) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the test process dies, so no emulator is left eating CPU."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Arm64Vm:
    """One qemu-system-aarch64 process and what reaches it: port, keys, console log."""

    def __init__(self, image: BoardImage, root: Path, cpus: int = 2, memory_mb: int = 1024) -> None:
        self.image, self.root, self.cpus, self.memory_mb = image, root, cpus, memory_mb
        root.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.client_key = root / "client_key"
        self.known_hosts = root / "known_hosts"
        self.console = root / "console.log"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.client_key)], check=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.boot_s: float | None = None
        self.wheels: Path | None = None  # the aarch64 wheels `devices setup` copies (devices.yaml `wheels:`)

    def argv(self) -> list[str]:
        blob = Path(f"{self.client_key}.pub").read_text().split()[1]
        return [QEMU, "-M", "virt", "-cpu", "cortex-a72", "-smp", str(self.cpus), "-m", str(self.memory_mb),
                "-display", "none", "-monitor", "none", "-serial", f"file:{self.console}", "-no-reboot",
                "-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd),
                "-append", f"console=ttyAMA0 rootwait panic=-1 harness_key={blob}",
                "-drive", f"file={self.image.disk},if=none,format=raw,id=hd,snapshot=on",
                "-device", "virtio-blk-pci,drive=hd",
                "-netdev", f"user,id=n,restrict=on,hostfwd=tcp:127.0.0.1:{self.port}-:22",
                "-device", "virtio-net-pci,netdev=n,romfile=", "-device", "virtio-rng-pci"]

    def start(self, timeout_s: float = BOOT_TIMEOUT_S) -> None:
        """Boot, read the host key off the console, and wait until sshd takes our key."""
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=open(self.root / "qemu.log", "ab"),
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        key = None
        while key is None:
            self._alive_or_fail(t0, timeout_s, "print its ssh host key on the console")
            key = next((line.split(None, 1)[1].strip() for line in self._console_lines()
                        if line.startswith(HOST_KEY_TAG + " ")), None)
            if key is None:
                time.sleep(0.5)
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {key}\n")
        while not self._ssh_ok():
            self._alive_or_fail(t0, timeout_s, "accept an ssh login")
            time.sleep(1.0)
        self.boot_s = time.monotonic() - t0

    def _console_lines(self) -> list[str]:
        try:
            return self.console.read_text(errors="replace").replace("\r", "").splitlines()
        except FileNotFoundError:
            return []

    def _alive_or_fail(self, t0: float, timeout_s: float, what: str) -> None:
        tail = "\n".join(self._console_lines()[-15:])
        if self.proc is not None and self.proc.poll() is not None:
            qemu = (self.root / "qemu.log").read_text(errors="replace")[-800:]
            pytest.fail(f"{QEMU} exited ({self.proc.returncode}) before the guest could {what}:\n{qemu}\n{tail}")
        if time.monotonic() - t0 > timeout_s:
            self.kill()
            pytest.fail(f"the arm64 guest did not {what} within {timeout_s:.0f} s; console:\n{tail}")

    def _ssh_ok(self) -> bool:
        res = subprocess.run(["ssh", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
                              "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=20", "-i", str(self.client_key),
                              "-p", str(self.port), "root@127.0.0.1", "true"], capture_output=True, timeout=120)
        return res.returncode == 0

    def kill(self) -> None:
        """SIGKILL the emulator, as a board losing power: its sockets close with it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def device(self, name: str, **over: Any) -> dict[str, Any]:
        """A devices.yaml entry for the guest: a Raspberry Pi-class board reached over ssh."""
        dev: dict[str, Any] = {
            "name": name, "kind": "raspberry_pi", "host": "127.0.0.1", "port": self.port, "user": "root",
            "key_file": str(self.client_key), "known_hosts": str(self.known_hosts), "workdir": "~/harness",
            "python": "python3", "venv": True, "emulated": f"{QEMU} -M virt -cpu cortex-a72 (TCG)",
            "connect_timeout_s": 20, "reconnect_attempts": 2, "reconnect_backoff_s": 1.0}
        dev.update(over)
        return dev


def needs_arm64_tools() -> None:
    """Skip, naming the Debian package to install, where this host cannot boot or build the board."""
    from tests.arm64_image import find_image, missing_tools

    if shutil.which(QEMU) is None:
        pytest.skip(f"needs qemu-system-arm (apt-get install qemu-system-arm) for {QEMU}")
    if find_image() is None:
        missing = missing_tools()
        if missing:
            pytest.skip(f"needs {' and '.join(missing)} (apt-get install {' '.join(missing)}) to build the arm64 "
                        "board image")
        if os.geteuid() != 0:
            pytest.skip("building the arm64 board image runs mmdebstrap --mode=root: needs root")
