"""Where a farm's processes listen: the listening sockets of a real `harness farm up` and `harness agent`,
read from the kernel (psutil.net_connections), checked against `--bind`.

Ray 2.60 holds every server of a node to loopback when the node's address is loopback, and listens on every
interface otherwise. `ray start` used to replace a loopback `--node-ip-address` by the host's LAN address, so
the default `--bind 127.0.0.1` had Ray listening on the LAN (its client server, which runs code sent to it,
included); harness now keeps the loopback address. A LAN `--bind` cannot be held to that one address: the
second test documents what then listens on every interface.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.test_farm import _read_until  # one reader of a child's stdout for both farm files

psutil = pytest.importorskip("psutil")
pytest.importorskip("ray", reason="pip install 'ray==2.60.0' (the `farm` extra)")

AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


def _lan_address() -> str | None:
    """This host's own non-loopback IPv4 address, if it has one (a route to somewhere)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _farm_pids(*roots: int) -> set[int]:
    """The farm's processes: the harness processes, their children, and every process in the sessions of
    those children (`ray start` runs in a session of its own; Ray's daemons stay in it)."""
    pids: set[int] = set()
    for root in roots:
        try:
            p = psutil.Process(root)
        except psutil.NoSuchProcess:
            continue
        pids |= {root, *(c.pid for c in p.children(recursive=True))}
    sessions = set()
    for pid in pids:
        try:
            sessions.add(os.getsid(pid))
        except OSError:
            pass
    for q in psutil.process_iter():
        try:
            if os.getsid(q.pid) in sessions:
                pids.add(q.pid)
        except OSError:
            continue
    return pids


def _listening(pids: set[int]) -> list[tuple[str, str, int]]:
    """(process name, address, port) of every TCP socket these processes listen on."""
    out = []
    for c in psutil.net_connections(kind="tcp"):
        if c.status == psutil.CONN_LISTEN and c.pid in pids:
            try:
                name = psutil.Process(c.pid).name()
            except psutil.NoSuchProcess:
                continue
            ip = c.laddr.ip.removeprefix("::ffff:")  # an IPv6 socket serving an IPv4 address
            out.append((name, ip, c.laddr.port))
    return sorted(out)


def _loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip == "::1"


def test_farm_with_default_bind_listens_on_loopback_only(tmp_path):
    lan = _lan_address()
    if lan is None:
        pytest.skip("this host has no LAN address: nothing to tell loopback from")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), RAY_USAGE_STATS_ENABLED="0",
               RAY_AUTH_TOKEN_PATH=str(tmp_path / "auth_token"))
    lab_yaml = tmp_path / "lab.yaml"
    lab_yaml.write_text("devices:\n  - {name: b1, kind: local}\n")
    cmd = [sys.executable, "-m", "harness"]
    head = subprocess.Popen(cmd + ["farm", "up", "--port", str(port)], stdout=subprocess.PIPE, text=True, env=env)
    agent = None
    try:
        _read_until(head, "farm head at", 150)
        agent = subprocess.Popen(cmd + ["agent", "--devices", str(lab_yaml), "--address", address, "--name", "b"],
                                 stdout=subprocess.PIPE, text=True, env=env)
        _read_until(agent, "joined", 150)
        time.sleep(3)  # the agents' late servers (metrics exporter, runtime-env agent) are up by now
        sockets = _listening(_farm_pids(head.pid, agent.pid))
    finally:
        for p in (agent, head):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=60)
    print("\n".join(f"{n:28s} {a}:{p}" for n, a, p in sockets))
    names = {n for n, _, _ in sockets}
    assert "gcs_server" in names and "raylet" in names, sockets  # the listing sees Ray's own servers
    assert any(p == port for _, _, p in sockets), sockets
    # Nothing listens on the host's LAN address itself (Ray used to move a loopback node there).
    on_lan = [s for s in sockets if s[1] == lan]
    assert not on_lan, on_lan
    # Every server of the farm (Ray's GCS, raylets, object managers, workers, its client server that runs
    # code sent to it, the dashboard and runtime-env agents) listens on loopback only.
    assert all(_loopback(ip) for _, ip, _ in sockets), [s for s in sockets if not _loopback(s[1])]
    assert len({n for n, _, _ in sockets}) >= 3, sockets


def test_a_lan_bind_is_where_the_head_registers_but_ray_listens_on_every_interface(tmp_path):
    """`--bind` a LAN address: the head registers and answers there, but Ray 2.60 then listens on every
    interface (its C++ servers, the dashboard agent) as soon as the node's address is not loopback; no setting
    holds them to the one address. The README says so; the token keeps them closed. Should a Ray version bind
    them, the last assertion fails and the README can say that instead."""
    lan = _lan_address()
    if lan is None:
        pytest.skip("this host has no LAN address")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), RAY_USAGE_STATS_ENABLED="0",
               RAY_AUTH_TOKEN_PATH=str(tmp_path / "auth_token"))
    head = subprocess.Popen([sys.executable, "-m", "harness", "farm", "up", "--bind", lan, "--port", str(port)],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        banner = _read_until(head, "farm head at", 150)
        time.sleep(3)
        sockets = _listening(_farm_pids(head.pid))
    finally:
        head.send_signal(signal.SIGTERM)
        head.wait(timeout=60)
    print("\n".join(f"{n:28s} {a}:{p}" for n, a, p in sockets))
    assert f"farm head at {lan}:{port}" in banner and head.returncode == 0
    # Only the bound address, loopback, or every interface: never another host address.
    assert all(ip in (lan, "::", "0.0.0.0") or _loopback(ip) for _, ip, _ in sockets), sockets
    assert [ip for n, ip, p in sockets if p == port and n == "gcs_server"], sockets
    wildcard = sorted({n for n, ip, _ in sockets if ip in ("::", "0.0.0.0")})
    assert "gcs_server" in wildcard and "raylet" in wildcard, wildcard  # what Ray cannot be held to
