"""A real OpenSSH server as a board: on 127.0.0.1, or in a network namespace whose link can be cut.

`sshd_board` (session) is Debian's sshd started as `sshd -D -e -f CONFIG` with its own host key,
authorized_keys and known_hosts, every file inside a temp dir this fixture owns. `new_board`
makes extra ones per test (to kill or restart). `netns_board` puts one behind a veth pair in a
namespace the fixture creates; only that namespace's address is ever contacted, and a
blackhole route keeps packets to it on this host while its link is down.

Fake board tools (vcgencmd, tegrastats, trtexec) print real recorded outputs from
tests/fixtures/device-outputs; they stand in for tools only boards have.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import pytest

SSHD = "/usr/sbin/sshd"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "device-outputs"
PROJECT_PYTHON = sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Every descendant of pid, from /proc (only processes our sshd started)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out, stack = [], [pid]
    while stack:
        for child in parents.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


class SshServer:
    """One sshd with its own keys; `device()` gives a devices.yaml entry that reaches it."""

    def __init__(self, root: Path, address: str = "127.0.0.1", port: int | None = None,
                 netns: str | None = None) -> None:
        if not Path(SSHD).exists():
            pytest.skip("needs openssh-server (apt-get install openssh-server) for /usr/sbin/sshd")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.address = address
        self.port = port or _free_port()
        self.netns = netns
        self.user = os.environ.get("USER") or __import__("getpass").getuser()
        self.proc: subprocess.Popen[bytes] | None = None
        self.host_key = root / "ssh_host_ed25519_key"
        self.client_key = root / "client_key"
        self.known_hosts = root / "known_hosts"
        self.bin = root / "bin"
        self.bin.mkdir(exist_ok=True)
        for key in (self.host_key, self.client_key):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        (root / "authorized_keys").write_text(Path(f"{self.client_key}.pub").read_text())
        (root / "authorized_keys").chmod(0o600)
        self.host_line = f"[{address}]:{self.port} {Path(f'{self.host_key}.pub').read_text().split()[0]} " \
                         f"{Path(f'{self.host_key}.pub').read_text().split()[1]}"
        self.known_hosts.write_text(self.host_line + "\n")
        self.config = root / "sshd_config"
        self.config.write_text("\n".join([
            f"Port {self.port}", f"ListenAddress {address}", f"HostKey {self.host_key}",
            f"PidFile {root / 'sshd.pid'}", f"AuthorizedKeysFile {root / 'authorized_keys'}",
            "StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes", "PermitRootLogin prohibit-password", "ClientAliveInterval 2",
            "ClientAliveCountMax 3", "MaxStartups 50", "MaxSessions 50", "LogLevel ERROR",
            # bash sources ~/.bashrc for ssh commands only at shell level 1; this host's .bashrc runs
            # `pyenv init` (0.4 s per command), which would only slow the tests down.
            "SetEnv SHLVL=1", "",
        ]))
        self.log = root / "sshd.log"

    def start(self) -> None:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        argv = [SSHD, "-D", "-e", "-f", str(self.config)]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.skip(f"sshd did not start: {self.log.read_text().strip()[-300:]}")
            try:
                with socket.create_connection((self.address, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"sshd on {self.address}:{self.port} did not listen within 10 s")

    def kill(self) -> None:
        """SIGKILL sshd and every session it serves, as a crash would."""
        if self.proc is None:
            return
        victims = [self.proc.pid, *_children(self.proc.pid)]
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        self.kill()

    def device(self, name: str, kind: str = "raspberry_pi", **over: Any) -> dict[str, Any]:
        """A devices.yaml entry for this board; the runner uses the project's Python (it has LiteRT)."""
        dev = {"name": name, "kind": kind, "host": self.address, "port": self.port, "user": self.user,
               "key_file": str(self.client_key), "known_hosts": str(self.known_hosts),
               "workdir": str(self.root / "work" / name), "python": PROJECT_PYTHON, "venv": False,
               "connect_timeout_s": 3, "reconnect_attempts": 2, "reconnect_backoff_s": 0.5}
        if kind == "raspberry_pi":
            dev["vcgencmd"] = str(self.bin / "vcgencmd")
        if kind == "jetson":
            dev["tegrastats"] = str(self.bin / "tegrastats")
            dev["jetson_clocks"] = str(self.bin / "jetson_clocks")
            dev["trtexec"] = str(self.bin / "trtexec")
            dev["tegrastats_interval_ms"] = 100
        dev.update(over)
        return dev

    def config_for(self, name: str, kind: str = "raspberry_pi", **over: Any) -> Any:
        from harness.planning.config import parse_devices

        return parse_devices({"devices": [self.device(name, kind, **over)]}).devices[0]


# ---- fake board tools printing real recorded outputs ------------------------------------------

def _vcgencmd_answers() -> dict[str, str]:
    """`$ vcgencmd CMD` / output pairs from the recorded Raspberry Pi session."""
    answers: dict[str, str] = {}
    current = None
    for line in (FIXTURES / "vcgencmd.raspberry_pi.txt").read_text().splitlines():
        m = re.match(r"\$ vcgencmd (.+)", line)
        if m:
            current = m.group(1).strip()
        elif current and line.strip():
            answers[current] = answers.get(current, "") + line + "\n"
    return answers


def install_fake_tools(bin_dir: Path) -> None:
    answers = _vcgencmd_answers()
    cases = "".join(f"  {shlex_quote(k)}) printf %s {shlex_quote(v)};;\n" for k, v in answers.items())
    (bin_dir / "vcgencmd").write_text(
        "#!/bin/sh\ncase \"$*\" in\n" + cases + "  *) echo 'error=2 error_msg=\"Command not registered\"'; exit 2;;\nesac\n")
    (bin_dir / "tegrastats.lines").write_text((FIXTURES / "tegrastats.jetson_nano.txt").read_text())
    (bin_dir / "tegrastats").write_text(f"""#!{PROJECT_PYTHON}
import sys, time
args = sys.argv[1:]
interval = int(args[args.index("--interval") + 1]) / 1000 if "--interval" in args else 1.0
lines = [l for l in open({str(bin_dir / 'tegrastats.lines')!r}).read().splitlines() if l.strip()]
i = 0
while True:
    print(lines[i % len(lines)], flush=True)
    i += 1
    time.sleep(interval)
""")
    (bin_dir / "jetson_clocks").write_text("#!/bin/sh\necho 'jetson_clocks --show needs root' >&2; exit 1\n")
    (bin_dir / "trtexec.out").write_text((FIXTURES / "trtexec.tensorrt8_jetson_xavier.txt").read_text())
    recorded = (FIXTURES / "trtexec" / "trt85_dump_profile_orin_no_summary.trt-engine-explorer.txt").read_text()
    (bin_dir / "trtexec.profile").write_text(recorded[recorded.index("[10/31/2023-17:58:57] [I] === Profile"):
                                                      recorded.index("&&&& PASSED")])
    (bin_dir / "trtexec").write_text(f"""#!{PROJECT_PYTHON}
# Simulates trtexec's protocol: --onnx/--saveEngine builds, --loadEngine times (--exportTimes JSON).
import json, os, random, sys, time
here = {str(bin_dir)!r}
args = dict(a[2:].split("=", 1) if "=" in a else (a[2:], "") for a in sys.argv[1:] if a.startswith("--"))
with open(os.path.join(here, "trtexec.calls"), "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\\n")
tag = "&&&& {{}} TensorRT.trtexec [TensorRT v8400] # trtexec " + " ".join(sys.argv[1:])
if "onnx" in args:
    if os.path.exists(os.path.join(here, "FAIL_BUILD")) or not os.path.isfile(args["onnx"]):
        print("[03/11/2022-14:50:00] [E] [TRT] ModelImporter.cpp:773: ERROR: builtin_op_importers.cpp:4870 In function importFallbackPluginImporter: Assertion failed: creator && \\"Plugin not found\\"")
        print(tag.format("FAILED"))
        sys.exit(1)
    prec = "int8" if "int8" in args else "fp16" if "fp16" in args else "fp32"
    open(args["saveEngine"], "w").write("engine " + prec)
    print("[03/11/2022-14:50:00] [I] Engine built in 1.2 sec.")
    print(tag.format("PASSED"))
    sys.exit(0)
if not os.path.isfile(args.get("loadEngine", "")):
    print("[03/11/2022-14:57:00] [E] Error opening engine file: " + args.get("loadEngine", ""))
    print(tag.format("FAILED"))
    sys.exit(1)
time.sleep(0.6)
rng = random.Random(1)
n = int(args.get("iterations", "10"))
if "exportTimes" in args:
    recs, t = [], 0.0
    for _ in range(n):
        lat = 0.40 + rng.random() * 0.01
        # the keys and order of TensorRT 8's exportJSONTrace (sampleReporting.cpp)
        recs.append({{"startEnqMs": t, "endEnqMs": t + 0.05, "startH2dMs": t + 0.002, "endH2dMs": t + 0.007,
                     "startComputeMs": t + 0.01, "endComputeMs": t + lat - 0.01, "startD2hMs": t + lat - 0.009,
                     "endD2hMs": t + lat, "h2dMs": 0.005, "computeMs": lat - 0.014, "d2hMs": 0.009,
                     "latencyMs": lat, "endToEndMs": lat}})
        t += lat
    json.dump(recs, open(args["exportTimes"], "w"))
profile = open(os.path.join(here, "trtexec.profile")).read() if "dumpProfile" in args else ""
if profile and "separateProfileRun" not in args:  # real trtexec: no performance summary beside the profiler
    sys.stdout.write(profile + tag.format("PASSED") + "\\n")
    sys.exit(0)
sys.stdout.write(open(os.path.join(here, "trtexec.out")).read() + profile)
""")
    for tool in ("vcgencmd", "tegrastats", "jetson_clocks", "trtexec"):
        (bin_dir / tool).chmod(0o755)


def shlex_quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def cleanup_board_processes(root: Path) -> None:
    """Kill, by pid, leftover processes whose command line names this board's temp dir."""
    needle = str(root).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


@pytest.fixture(scope="session")
def sshd_board(tmp_path_factory) -> Iterator[SshServer]:
    """A real sshd on 127.0.0.1 for the whole session."""
    server = SshServer(tmp_path_factory.mktemp("sshd-board"))
    install_fake_tools(server.bin)
    server.start()
    yield server
    server.stop()
    cleanup_board_processes(server.root)


@pytest.fixture
def new_board(tmp_path) -> Iterator[Any]:
    """Factory for extra sshd boards that a test may kill or restart."""
    made: list[SshServer] = []

    def make(name: str = "board") -> SshServer:
        server = SshServer(tmp_path / f"sshd-{name}")
        install_fake_tools(server.bin)
        server.start()
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()
        cleanup_board_processes(server.root)


# ---- a board behind a veth pair in its own network namespace ----------------------------------

def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True)


def _pick_subnet() -> tuple[str, str, str] | None:
    """A /30 that no interface or route on this host uses: (network, host side, namespace side)."""
    routes = _run("ip", "-4", "route", "show", "table", "all").stdout + _run("ip", "-4", "addr").stdout
    for third in range(200, 250):
        net = f"10.213.{third}"
        if f"{net}." not in routes:
            return f"{net}.0", f"{net}.1", f"{net}.2"
    return None


class NetnsBoard(SshServer):
    """sshd inside a namespace we made; link_down()/link_up() cut and restore its veth."""

    def __init__(self, root: Path) -> None:
        tag = secrets.token_hex(3)
        self.ns, self.veth_host, self.veth_ns = f"hns-{tag}", f"hv{tag}", f"hn{tag}"
        picked = _pick_subnet()
        if picked is None:
            pytest.skip("no free 10.213.x.0/30 subnet for the test namespace")
        self.net, self.host_addr, self.ns_addr = picked
        steps = [
            ("ip", "netns", "add", self.ns),
            ("ip", "link", "add", self.veth_host, "type", "veth", "peer", "name", self.veth_ns),
            ("ip", "link", "set", self.veth_ns, "netns", self.ns),
            ("ip", "addr", "add", f"{self.host_addr}/30", "dev", self.veth_host),
            ("ip", "link", "set", self.veth_host, "up"),
            # If the connected route ever goes, packets to the namespace die here instead of leaving the host.
            ("ip", "route", "add", "blackhole", f"{self.net}/30", "metric", "4000"),
            ("ip", "netns", "exec", self.ns, "ip", "addr", "add", f"{self.ns_addr}/30", "dev", self.veth_ns),
            ("ip", "netns", "exec", self.ns, "ip", "link", "set", self.veth_ns, "up"),
            ("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"),
        ]
        for argv in steps:
            res = _run(*argv)
            if res.returncode != 0:
                self.destroy()
                pytest.skip(f"cannot build the test namespace ({' '.join(argv[:4])}: {res.stderr.strip()})")
        route = _run("ip", "route", "get", self.ns_addr).stdout
        if f"dev {self.veth_host}" not in route:
            self.destroy()
            pytest.fail(f"{self.ns_addr} does not route via {self.veth_host}: {route.strip()}")
        super().__init__(root, address=self.ns_addr, port=2222, netns=self.ns)

    def link_down(self) -> None:
        """Cut the board's side of the link: frames from this host go nowhere, nothing comes back."""
        subprocess.run(["ip", "netns", "exec", self.ns, "ip", "link", "set", self.veth_ns, "down"], check=True)

    def link_up(self) -> None:
        subprocess.run(["ip", "netns", "exec", self.ns, "ip", "link", "set", self.veth_ns, "up"], check=True)

    def destroy(self) -> None:
        if getattr(self, "proc", None) is not None:
            self.kill()
        _run("ip", "route", "del", "blackhole", f"{self.net}/30", "metric", "4000")
        _run("ip", "link", "del", self.veth_host)
        _run("ip", "netns", "del", self.ns)


@pytest.fixture(scope="module")
def netns_board(tmp_path_factory) -> Iterator[NetnsBoard]:
    """A board at its own address in a namespace; needs root for `ip netns`."""
    if os.geteuid() != 0:
        pytest.skip("needs root for ip netns and veth pairs")
    if shutil.which("ip") is None:
        pytest.skip("needs iproute2 (ip) for the test namespace")
    board = NetnsBoard(tmp_path_factory.mktemp("netns-board"))
    try:
        install_fake_tools(board.bin)
        board.start()
        yield board
    finally:
        board.destroy()
        cleanup_board_processes(board.root)
