"""A simulated Android phone that speaks the adb transport protocol on a loopback port.

The real adb server joins it with `adb connect 127.0.0.1:PORT`. It answers CNXN without auth,
then OPEN/OKAY/WRTE/CLSE streams for `shell:` (v1), `shell,v2,...:` (exit codes) and `sync:`
(STAT, SEND, RECV, LIST). Commands run in a tiny shell over a private root directory that holds
the phone's files (/data/local/tmp, /sys/class/power_supply, ...); Android commands answer with
real recorded outputs from tests/fixtures/device-outputs (dumpsys battery, dumpsys
thermalservice, benchmark_model). It can vanish mid-command: `close` drops every socket like an
unplugged cable, `hang` goes silent like a phone that fell off Wi-Fi.

`reverse:` services (adb reverse) are kept as adbd keeps them; a phone-side connection to a reversed port
is an OPEN of `tcp:HOSTPORT` sent *to* the adb server, which (as real adb does) accepts it only for a
configured reverse forward and connects to the host's port. (Seen with Debian's adb 29.0.6: an OPEN for
a port no `reverse:forward` went through makes the server abort with "handle_packet disallowed connect",
so the simulator opens only ports the server itself reversed.) The companion app's stand-in is
tests/adb_sim_app.py.
"""
from __future__ import annotations

import queue
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any
from collections.abc import Callable

from tests.adb_sim_app import CompanionApp, PhoneShell
from tests.adb_sim_shell import BENCH_MARK

__all__ = ["AdbSimulator", "BENCH_MARK"]

A_SYNC, A_CNXN, A_OPEN, A_OKAY = 0x434E5953, 0x4E584E43, 0x4E45504F, 0x59414B4F
A_CLSE, A_WRTE, A_AUTH, A_STLS = 0x45534C43, 0x45545257, 0x48545541, 0x534C5453
A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024


DEFAULT_PROPS = {
    # Not a recording: getprop's `[key]: [value]` format with a plausible phone's values.
    "ro.product.model": "Pixel 7",
    "ro.product.manufacturer": "Google",
    "ro.soc.model": "GS201",
    "ro.soc.manufacturer": "Google",
    "ro.board.platform": "gs201",
    "ro.build.version.sdk": "34",
    "ro.build.version.release": "14",
    "ro.product.cpu.abi": "arm64-v8a",
    "ro.build.fingerprint": "google/panther/panther:14/UQ1A.240205.004/11269751:user/release-keys",
}


class _Gone(Exception):
    """The simulator vanished: stop whatever the stream was doing."""


def _msg(cmd: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    return struct.pack("<6I", cmd, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, cmd ^ 0xFFFFFFFF) + data


class _Stream:
    def __init__(self, conn: _Conn, local_id: int, remote_id: int) -> None:
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self.ready = threading.Event()
        if remote_id:  # opened by the server; a stream the phone opens waits for the server's OKAY
            self.ready.set()
        self.inbox: queue.Queue[bytes | None] = queue.Queue()
        self.buf = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        for i in range(0, len(data), self.conn.max_payload):
            while not self.ready.wait(0.2):
                if self.conn.sim.gone or self.closed:
                    raise _Gone()
            if self.conn.sim.gone or self.closed:
                raise _Gone()
            self.ready.clear()
            self.conn.send(_msg(A_WRTE, self.local_id, self.remote_id, data[i:i + self.conn.max_payload]))

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            try:
                chunk = self.inbox.get(timeout=0.2)
            except queue.Empty:
                if self.conn.sim.gone:
                    raise _Gone() from None
                continue
            if chunk is None:
                raise _Gone()
            self.buf.extend(chunk)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.conn.send(_msg(A_CLSE, self.local_id, self.remote_id))
            except _Gone:
                pass


class _Conn:
    """One TCP connection from the adb server: the device's side of the transport."""

    def __init__(self, sim: AdbSimulator, sock: socket.socket) -> None:
        self.sim, self.sock = sim, sock
        self.lock = threading.Lock()
        self.streams: dict[int, _Stream] = {}
        self.max_payload = MAX_PAYLOAD

    def send(self, data: bytes) -> None:
        if self.sim.gone:
            raise _Gone()
        with self.lock:
            try:
                self.sock.sendall(data)
            except OSError:
                raise _Gone() from None

    def _recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise _Gone()
            data += chunk
        return data

    def serve(self) -> None:
        try:
            while not self.sim.gone:
                head = self._recv_exact(24)
                cmd, arg0, arg1, length, _check, magic = struct.unpack("<6I", head)
                payload = self._recv_exact(length) if length else b""
                if self.sim.hung:
                    while not self.sim.closed:  # silent: read nothing more, answer nothing
                        time.sleep(0.1)
                    return
                self.dispatch(cmd, arg0, arg1, payload)
        except (_Gone, OSError):
            pass
        finally:
            for s in list(self.streams.values()):
                s.inbox.put(None)
            if not self.sim.hung:
                try:
                    self.sock.close()
                except OSError:
                    pass

    def dispatch(self, cmd: int, arg0: int, arg1: int, payload: bytes) -> None:
        sim = self.sim
        if cmd == A_CNXN:
            self.max_payload = min(MAX_PAYLOAD, arg1 or MAX_PAYLOAD)
            features = ",".join(sim.features)
            props = sim.props
            banner = (f"device::ro.product.name={props.get('ro.product.model', 'sim')};"
                      f"ro.product.model={props.get('ro.product.model', 'sim')};"
                      f"ro.product.device=sim;features={features}")
            self.send(_msg(A_CNXN, A_VERSION, self.max_payload, banner.encode()))
        elif cmd == A_OPEN:
            service = payload.rstrip(b"\0").decode("utf-8", "replace")
            local_id = sim.next_id()
            handler = sim.service_handler(service)
            if handler is None:
                self.send(_msg(A_CLSE, 0, arg0))
                return
            stream = _Stream(self, local_id, arg0)
            self.streams[local_id] = stream
            self.send(_msg(A_OKAY, local_id, arg0))
            threading.Thread(target=self._run_stream, args=(stream, handler), daemon=True).start()
        elif cmd == A_OKAY:
            s = self.streams.get(arg1)
            if s is not None:
                s.remote_id = s.remote_id or arg0  # the OKAY to a phone-side OPEN names the server's end
                s.ready.set()
        elif cmd == A_WRTE:
            s = self.streams.get(arg1)
            if s is not None:
                s.inbox.put(payload)
                self.send(_msg(A_OKAY, arg1, arg0))
        elif cmd == A_CLSE:
            s = self.streams.pop(arg1, None)
            if s is not None:
                s.closed = True
                s.inbox.put(None)
        # A_AUTH / A_STLS / A_SYNC: this phone never asks for auth, so nothing to answer.

    def _run_stream(self, stream: _Stream, handler: Callable[[_Stream], None]) -> None:
        try:
            handler(stream)
        except _Gone:
            return
        stream.close()
        self.streams.pop(stream.local_id, None)


class AdbSimulator:
    """A phone on 127.0.0.1:port; `root` is its private file system."""

    def __init__(self, root: Path, outputs: Path, *, shell_v2: bool = True,
                 props: dict[str, str] | None = None, bench_seconds: float = 0.6) -> None:
        self.root = Path(root)
        self.outputs = Path(outputs)
        self.features = ["shell_v2", "cmd"] if shell_v2 else ["cmd"]
        self.props = dict(DEFAULT_PROPS if props is None else props)
        self.bench_seconds = bench_seconds
        self.battery_text = (self.outputs / "dumpsys_battery.samsung.txt").read_text()
        self.thermal_text = (self.outputs / "dumpsys_thermalservice.android_tv.txt").read_text()
        self.installed = {"dev.harness.companion"}
        self.app = CompanionApp(self)
        self.reverses: dict[str, tuple[str, _Conn]] = {}  # device side -> (host side, transport)
        self.missing_services: set[str] = set()  # dumpsys answers "Can't find service" for these
        self.app_delay_s = 0.3
        self.commands: list[str] = []
        self.results: list[tuple[str, int, bytes]] = []  # (command line, exit status, stderr) as run
        self.pushes: list[str] = []
        self.bench_output: str | None = None  # fixture name to replay instead of the flag-based choice
        self.heating: Any = None  # tests.heating_board.HeatingPhone: benchmark_model runs heat it up
        self.gone = False
        self.hung = False
        self.closed = False
        self._ids = 0
        self._id_lock = threading.Lock()
        self._conns: list[_Conn] = []
        self._vanish_on: tuple[str, float, str, int] | None = None
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = self._listener.getsockname()[1]
        self._populate()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- the phone's files --------------------------------------------------------------------
    def path(self, device_path: str) -> Path:
        p = (self.root / device_path.lstrip("/")).resolve()
        if p != self.root.resolve() and self.root.resolve() not in p.parents:
            raise PermissionError(device_path)
        return p

    def write(self, device_path: str, text: str | bytes) -> None:
        p = self.path(device_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text if isinstance(text, bytes) else text.encode())

    def _populate(self) -> None:
        """sysfs as a phone has it; values are plausible readings, not recordings."""
        (self.root / "data/local/tmp").mkdir(parents=True, exist_ok=True)
        (self.root / "sdcard/Android/data/dev.harness.companion/files").mkdir(parents=True, exist_ok=True)
        ps = "/sys/class/power_supply"
        self.write(f"{ps}/battery/type", "Battery\n")
        self.write(f"{ps}/battery/current_now", "-452000\n")  # µA, negative while discharging
        self.write(f"{ps}/battery/voltage_now", "4012000\n")  # µV
        self.write(f"{ps}/battery/status", "Discharging\n")
        self.write(f"{ps}/usb/type", "USB\n")
        self.write(f"{ps}/usb/online", "1\n")
        for cpu, khz in enumerate((1803000, 1803000, 2348000, 2850000)):
            self.write(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq", f"{khz}\n")
        self.write("/proc/meminfo", "MemTotal:        7849344 kB\nMemFree:          612340 kB\n")
        self.write("/sys/class/thermal/thermal_zone0/type", "cpu-0-0\n")
        self.write("/sys/class/thermal/thermal_zone0/temp", "41200\n")

    # -- life and death -------------------------------------------------------------------------
    def next_id(self) -> int:
        with self._id_lock:
            self._ids += 1
            return self._ids

    def _accept(self) -> None:
        while not self.gone:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            conn = _Conn(self, sock)
            self._conns.append(conn)
            threading.Thread(target=conn.serve, daemon=True).start()

    def vanish(self, mode: str = "close") -> None:
        """`close`: every socket drops now. `hang`: no more answers, sockets left open."""
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close alone does not
        except OSError:
            pass
        self._listener.close()
        if mode == "hang":
            self.hung = True
            return
        self.gone = True
        for c in self._conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
                c.sock.close()
            except OSError:
                pass

    def vanish_on(self, substring: str, after_s: float = 0.2, mode: str = "close", nth: int = 1) -> None:
        """Vanish `after_s` seconds into the `nth` command that contains `substring`."""
        self._vanish_on = (substring, after_s, mode, nth)

    def close(self) -> None:
        self.closed = True
        self.vanish("close")

    # -- services -------------------------------------------------------------------------------
    def service_handler(self, service: str) -> Callable[[_Stream], None] | None:
        if service.startswith("shell,v2") or service.startswith("shell,"):
            if "shell_v2" not in self.features:
                return None
            command = service.split(":", 1)[1] if ":" in service else ""
            return lambda s: self._shell_v2(s, command)
        if service.startswith("shell:") or service.startswith("exec:"):
            command = service.split(":", 1)[1]
            return lambda s: self._shell_v1(s, command)
        if service == "sync:":
            return self._sync
        if service.startswith("reverse:"):
            return lambda s: self._reverse(s, service.removeprefix("reverse:"))
        return None

    # -- adb reverse --------------------------------------------------------------------------
    def _reverse(self, s: _Stream, cmd: str) -> None:
        """adbd's reverse service (handle_forward_request): one OKAY, or FAIL + hex length + reason."""
        def fail(msg: str) -> None:
            s.write(b"FAIL" + f"{len(msg):04x}{msg}".encode())

        if cmd == "list-forward":
            text = "".join(f"host-1 {dev} {host}\n" for dev, (host, _c) in self.reverses.items())
            s.write(b"OKAY" + f"{len(text):04x}{text}".encode())
        elif cmd == "killforward-all":
            self.reverses.clear()
            s.write(b"OKAY")
        elif cmd.startswith("killforward:"):
            if self.reverses.pop(cmd.removeprefix("killforward:"), None) is None:
                return fail(f"listener '{cmd.removeprefix('killforward:')}' not found")
            s.write(b"OKAY")
        elif cmd.startswith("forward:"):
            spec = cmd.removeprefix("forward:")
            norebind = spec.startswith("norebind:")
            dev, _, host = spec.removeprefix("norebind:").partition(";")
            if not dev.startswith("tcp:") or not host.startswith("tcp:"):
                return fail(f"cannot bind listener: unsupported {dev!r}")  # this phone knows tcp only
            if norebind and dev in self.reverses:
                return fail("cannot rebind existing socket")
            self.reverses[dev] = (host, s.conn)
            s.write(b"OKAY")
        else:
            fail(f"unknown reverse command {cmd!r}")

    def open_reverse(self, device_port: int, timeout_s: float = 10.0) -> _Stream:
        """What an app's connect() to 127.0.0.1:device_port does on the phone: a stream to the host."""
        entry = self.reverses.get(f"tcp:{device_port}")
        if entry is None:
            raise ConnectionRefusedError(f"phone: nothing listens on 127.0.0.1:{device_port}")
        host, conn = entry
        stream = _Stream(conn, self.next_id(), 0)
        conn.streams[stream.local_id] = stream
        conn.send(_msg(A_OPEN, stream.local_id, 0, host.encode() + b"\0"))
        deadline = time.monotonic() + timeout_s
        while not stream.ready.wait(0.05):
            if stream.closed or time.monotonic() > deadline:
                conn.streams.pop(stream.local_id, None)
                raise ConnectionRefusedError(f"adb server refused the reverse connection to {host}")
        return stream

    def http_get(self, device_port: int, path: str, *, until: bytes | None = None, headers: str = "",
                 timeout_s: float = 15.0) -> bytes:
        """An HTTP GET from the phone to its localhost:device_port (the host, through adb reverse): the raw
        response, read until the server closes or `until` appears (for an event stream)."""
        stream = self.open_reverse(device_port)
        try:
            stream.write(f"GET {path} HTTP/1.1\r\nHost: localhost:{device_port}\r\n{headers}"
                         "Connection: close\r\n\r\n".encode())
            data = bytearray()
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and not (until and until in data):
                try:
                    chunk = stream.inbox.get(timeout=0.1)
                except queue.Empty:
                    continue
                if chunk is None:
                    break
                data.extend(chunk)
            return bytes(data)
        finally:
            stream.close()
            stream.conn.streams.pop(stream.local_id, None)

    def _shell_v2(self, stream: _Stream, command: str) -> None:
        def packet(kind: int) -> Callable[[bytes], None]:
            return lambda data: stream.write(bytes([kind]) + struct.pack("<I", len(data)) + data) if data else None

        code = self.run_command(command, packet(1), packet(2))
        stream.write(bytes([3]) + struct.pack("<I", 1) + bytes([code & 0xFF]))

    def _shell_v1(self, stream: _Stream, command: str) -> None:
        self.run_command(command, stream.write, stream.write)

    def run_command(self, command: str, out: Callable[[bytes], None], err: Callable[[bytes], None]) -> int:
        self.commands.append(command)
        trigger = self._vanish_on
        if trigger and trigger[0] in command:
            if trigger[3] > 1:
                self._vanish_on = (*trigger[:3], trigger[3] - 1)
            else:
                self._vanish_on = None
                if trigger[1] <= 0:
                    self.vanish(trigger[2])
                    raise _Gone()
                threading.Timer(trigger[1], self.vanish, args=(trigger[2],)).start()
        said = bytearray()

        def err_kept(data: bytes) -> None:
            said.extend(data)
            err(data)

        code = PhoneShell(self, out, err_kept).run(command)
        self.results.append((command, code, bytes(said)))
        return code

    def _sync(self, s: _Stream) -> None:
        while True:
            cmd = s.read(4)
            n = struct.unpack("<I", s.read(4))[0]
            if cmd == b"QUIT":
                return
            arg = s.read(n).decode("utf-8", "replace")
            if cmd in (b"STAT", b"LST1"):
                try:
                    st = self.path(arg).stat()
                    s.write(b"STAT" + struct.pack("<III", st.st_mode, st.st_size, int(st.st_mtime)))
                except (OSError, PermissionError):
                    s.write(b"STAT" + struct.pack("<III", 0, 0, 0))
            elif cmd == b"LIST":
                p = self.path(arg)
                for child in sorted(p.iterdir()) if p.is_dir() else []:
                    st = child.stat()
                    name = child.name.encode()
                    s.write(b"DENT" + struct.pack("<IIII", st.st_mode, st.st_size, int(st.st_mtime), len(name)) + name)
                s.write(b"DONE" + struct.pack("<IIII", 0, 0, 0, 0))
            elif cmd == b"SEND":
                path, _, mode = arg.rpartition(",")
                data = bytearray()
                while True:
                    kind = s.read(4)
                    size = struct.unpack("<I", s.read(4))[0]
                    if kind == b"DONE":
                        break
                    data.extend(s.read(size))
                self.pushes.append(path)
                try:
                    if path.startswith(("/sys", "/proc", "/system")):
                        raise PermissionError(path)
                    target = self.path(path)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(bytes(data))
                    target.chmod(int(mode) & 0o777 if mode.isdigit() else 0o644)
                    s.write(b"OKAY" + struct.pack("<I", 0))
                except OSError as exc:
                    msg = f"couldn't create file: {exc.__class__.__name__}".encode()
                    s.write(b"FAIL" + struct.pack("<I", len(msg)) + msg)
            elif cmd == b"RECV":
                try:
                    data = self.path(arg).read_bytes()
                except (OSError, PermissionError):
                    msg = b"No such file or directory"
                    s.write(b"FAIL" + struct.pack("<I", len(msg)) + msg)
                    continue
                for i in range(0, len(data), 64 * 1024):
                    chunk = data[i:i + 64 * 1024]
                    s.write(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
                s.write(b"DONE" + struct.pack("<I", 0))
            else:
                return
