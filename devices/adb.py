"""An Android phone as a Transport, over the adb server with adbutils.

adbutils has traps that cost measurements if used naively, and each is handled here:
- `connect()` returns a failure text ("failed to connect ...") instead of raising: checked.
- `shell()` returns '' when the device dies mid-command: commands run on our own shell-v2 reader
  (or, on old phones without shell_v2, with an exit marker); a stream that ends without its exit
  status is a TransportError.
- a dead link times out only after ~15 s and the server still lists the device: while a command is
  silent, a liveness check goes to the device itself (not the server's list) with our own short
  timeout; a dead device is dropped from the server (`disconnect`) so the next job reconnects.
- `sync.pull()` of a missing path creates an empty local directory: our sync client stats first and
  raises FileNotFoundError, and writes through a temporary file.
- shell v1 breaks on commands ending in `exit N`: v1 commands run inside `sh -c`.
- a socket to the adb server that cannot connect makes adbutils run `adb start-server` itself: we
  check the server first and say how to start it instead.
"""
from __future__ import annotations

import os
import secrets
import shlex
import socket
import stat as stat_mod
import struct
import threading
import time
from pathlib import Path
from typing import Protocol, TypeVar
from collections.abc import Callable, Sequence

from devices.transport import CommandResult, Transport, TransportError, quote_argv

SYNC_CHUNK = 64 * 1024
T = TypeVar("T")


class Connection(Protocol):
    """What this module uses of an adbutils AdbConnection (adbutils ships no types): the socket and the
    smart-socket requests."""

    conn: socket.socket

    def send_command(self, cmd: str) -> None: ...
    def check_okay(self) -> None: ...
    def read_exact(self, n: int) -> bytes: ...
    def read_string_block(self) -> str: ...
    def close(self) -> None: ...


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def is_network_serial(serial: str) -> bool:
    """host:port serials are joined with `adb connect`; USB serials are just looked up."""
    host, sep, port = serial.rpartition(":")
    return bool(sep and host and port.isdigit())


def _client_class() -> type:
    """An AdbClient whose connections never spawn `adb start-server` behind the user's back."""
    from adbutils import AdbClient
    from adbutils._adb import AdbConnection

    class _Connection(AdbConnection):  # type: ignore[misc]  # adbutils' classes are untyped
        def _safe_connect(self) -> socket.socket:  # adbutils' version runs `adb start-server` on failure
            made: socket.socket = self._create_socket()
            return made

    class _Client(AdbClient):  # type: ignore[misc]
        def __init__(self, *, host: str, port: int, socket_timeout: float) -> None:
            super().__init__(host=host, port=port, socket_timeout=socket_timeout)
            self._timeout = socket_timeout

        def make_connection(self, timeout: float | None = None) -> AdbConnection:
            c = _Connection(self.host, self.port)
            c.conn.settimeout(timeout or self._timeout)
            return c

    return _Client


class AdbTransport(Transport):
    """Commands, pushes and pulls on one phone; every failure of the link is a TransportError."""

    name = "adb"

    def __init__(self, serial: str, *, host: str = "127.0.0.1", port: int = 5037,
                 connect_timeout_s: float = 10.0, link_timeout_s: float = 5.0, link_check_s: float = 5.0,
                 tmp_dir: str = "/data/local/tmp") -> None:
        import adbutils  # imported here so hosts without adbutils can still run local targets

        self._adbutils = adbutils
        self.serial = serial
        self.host, self.port = host, port
        self.connect_timeout_s = connect_timeout_s
        self.link_timeout_s = link_timeout_s
        self.link_check_s = link_check_s
        self.tmp_dir = tmp_dir.rstrip("/")
        self.client = _client_class()(host=host, port=port, socket_timeout=link_timeout_s)
        self.shell_v2: bool | None = None
        self.broken: str | None = "not connected yet"
        self._last_alive = 0.0
        self._lock = threading.Lock()

    # -- connection -----------------------------------------------------------------------------
    def _server_reachable(self) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=2.0):
                return
        except OSError as exc:
            raise TransportError(
                f"adb server not reachable at {self.host}:{self.port} ({exc.strerror or exc}); "
                f"start it with `adb -P {self.port} start-server`") from None

    def _host_query(self, command: str, timeout_s: float) -> str:
        """A request the adb server answers itself (host:..., host-serial:...)."""
        try:
            with self.client.make_connection(timeout=timeout_s) as c:
                c.send_command(command)
                c.check_okay()
                return str(c.read_string_block())
        except self._adbutils.AdbError as exc:
            raise TransportError(f"{self.serial}: {_one_line(exc)}") from None
        except (OSError, EOFError) as exc:
            raise TransportError(f"{self.serial}: adb server: {_one_line(exc)}") from None

    def connect(self) -> None:
        """Join the phone (adb connect for host:port), check it is authorized and answers."""
        with self._lock:
            self._server_reachable()
            if is_network_serial(self.serial):
                try:
                    out = self.client.connect(self.serial, timeout=self.connect_timeout_s)
                except self._adbutils.AdbTimeout:
                    raise TransportError(f"adb connect {self.serial}: no answer within "
                                         f"{self.connect_timeout_s:.0f} s") from None
                except (self._adbutils.AdbError, OSError) as exc:
                    raise TransportError(f"adb connect {self.serial}: {_one_line(exc)}") from None
                # adbutils returns the server's text, success or not.
                if not (out.startswith("connected to") or out.startswith("already connected")):
                    raise TransportError(f"adb connect {self.serial}: {out.strip() or 'no answer'}")
            state = self._wait_state()
            if state == "unauthorized":
                raise TransportError(f"{self.serial}: unauthorized: accept the USB debugging prompt on the phone")
            if state != "device":
                raise TransportError(f"{self.serial}: device is {state}, not ready")
            features = self._host_query(f"host-serial:{self.serial}:features", self.link_timeout_s)
            self.shell_v2 = "shell_v2" in features.split(",")
            self.broken = None
        if not self._alive():
            self.mark_broken("connected but the device does not answer")
            raise TransportError(f"{self.serial}: connected but the device does not answer")

    def _wait_state(self) -> str:
        """get-state, retried briefly: a fresh TCP device is 'connecting' or 'offline' for a moment."""
        deadline = time.monotonic() + self.connect_timeout_s
        state = "unknown"
        while True:
            try:
                state = self._host_query(f"host-serial:{self.serial}:get-state", self.link_timeout_s).strip()
            except TransportError as exc:
                state = str(exc)
            if state in ("device", "unauthorized") or time.monotonic() > deadline:
                return state
            if "not found" in state and not is_network_serial(self.serial):
                return state  # a USB serial that is not plugged in will not appear by waiting
            time.sleep(0.2)

    def ensure_ready(self) -> None:
        """Reconnect when an earlier failure left the link marked broken."""
        if self.broken is not None:
            self.connect()

    def mark_broken(self, why: str) -> None:
        """Remember the failure; a network device is dropped so the server stops listing a corpse."""
        self.broken = why
        if self.serial and is_network_serial(self.serial):
            try:
                self._host_query(f"host:disconnect:{self.serial}", 2.0)
            except TransportError:
                pass

    def _open_raw(self, service: str, timeout_s: float) -> Connection:
        c: Connection | None = None
        try:
            c = self.client.make_connection(timeout=timeout_s)
            c.send_command(f"host:transport:{self.serial}")
            c.check_okay()
            c.send_command(service)
            c.check_okay()
            return c
        except BaseException:
            if c is not None:
                c.close()
            raise

    def _open(self, service: str, timeout_s: float) -> Connection:
        """A stream to a device service; raises TransportError when the device does not accept it."""
        try:
            return self._open_raw(service, timeout_s)
        except self._adbutils.AdbTimeout:
            self.mark_broken("device did not answer")
            raise TransportError(f"{self.serial}: device did not answer within {timeout_s:.1f} s") from None
        except self._adbutils.AdbError as exc:
            self.mark_broken(_one_line(exc))
            raise TransportError(f"{self.serial}: {_one_line(exc)}") from None
        except (OSError, EOFError) as exc:
            self.mark_broken(_one_line(exc))
            raise TransportError(f"{self.serial}: adb link failed: {_one_line(exc)}") from None

    # -- reverse forwards (the phone's localhost:PORT reaches the host's) -----------------------
    def _reverse_service(self, service: str) -> str:
        """`reverse:...` goes to the phone's adbd, which answers OKAY (then a payload for list-forward)
        or FAIL with its reason; a FAIL is the phone's answer, not a broken link."""
        self.ensure_ready()
        conn = self._open(service, self.link_timeout_s)
        try:
            conn.check_okay()
            return conn.read_string_block() if service == "reverse:list-forward" else ""
        except self._adbutils.AdbError as exc:
            raise TransportError(f"{self.serial}: adb {service.replace(':', ' ', 1)}: {_one_line(exc)}") from None
        except (OSError, EOFError) as exc:
            self.mark_broken(_one_line(exc))
            raise TransportError(f"{self.serial}: adb link failed: {_one_line(exc)}") from None
        finally:
            conn.close()

    def reverse(self, device_port: int, host_port: int) -> None:
        """`adb reverse tcp:DEVICE tcp:HOST`: the phone's 127.0.0.1:DEVICE is tunnelled to the host."""
        self._reverse_service(f"reverse:forward:tcp:{int(device_port)};tcp:{int(host_port)}")

    def reverse_remove(self, device_port: int) -> None:
        self._reverse_service(f"reverse:killforward:tcp:{int(device_port)}")

    def reverse_list(self) -> list[tuple[str, str]]:
        """(device side, host side) of every reverse forward, as `adb reverse --list` shows them."""
        text = self._reverse_service("reverse:list-forward")
        return [(p[1], p[2]) for p in (ln.split() for ln in text.splitlines()) if len(p) == 3]

    def _alive(self) -> bool:
        """Ask the device itself (not the server's list) to answer within link_timeout_s."""
        try:
            res = self._exec("echo alive", timeout_s=self.link_timeout_s, check_link=False)
        except TransportError:
            return False
        return res.ok and "alive" in res.stdout

    # -- commands -------------------------------------------------------------------------------
    def run(self, argv: Sequence[str], *, timeout_s: float, stdin: str | None = None) -> CommandResult:
        self.ensure_ready()
        command = quote_argv(argv)
        stdin_path = None
        if stdin is not None:
            # adb shell has no portable stdin: hand it over as a file.
            stdin_path = f"{self.tmp_dir}/harness-stdin-{secrets.token_hex(6)}"
            self._push_bytes(stdin.encode(), stdin_path, 0o600)
            command = f"{command} < {shlex.quote(stdin_path)}"
        try:
            return self._exec(command, timeout_s=timeout_s)
        finally:
            if stdin_path is not None and self.broken is None:
                self._exec(f"rm -f {shlex.quote(stdin_path)}", timeout_s=self.link_timeout_s, check_link=False)

    def probe(self, argv: Sequence[str], *, timeout_s: float) -> CommandResult:
        """A short command beside a running one (power, thermal sampling): never reconnects, so it
        cannot race the main command's recovery; a broken link raises at once."""
        if self.broken is not None:
            raise TransportError(f"{self.serial}: link is down: {self.broken}")
        return self._exec(quote_argv(argv), timeout_s=timeout_s, check_link=False)

    def _exec(self, command: str, *, timeout_s: float, check_link: bool = True) -> CommandResult:
        if self.shell_v2 is False:
            return self._exec_v1(command, timeout_s=timeout_s, check_link=check_link)
        return self._exec_v2(command, timeout_s=timeout_s, check_link=check_link)

    def _read_loop(self, conn: Connection, command: str, timeout_s: float, check_link: bool,
                   on_data: Callable[[bytes], bool], eof_ends: bool = False) -> None:
        """Feed received bytes to on_data until it returns True; check the link while it is silent.

        End of stream is an error (the device went away) unless `eof_ends` (shell v1 ends that way).
        """
        t0 = time.monotonic()
        deadline = t0 + timeout_s
        last_data = t0
        poll = min(1.0, self.link_check_s, max(0.05, timeout_s))
        conn.conn.settimeout(poll)
        while True:
            try:
                chunk = conn.conn.recv(65536)
            except TimeoutError:
                chunk = None
            except OSError as exc:
                self.mark_broken(_one_line(exc))
                raise TransportError(f"{self.serial}: link failed during `{command[:80]}`: {_one_line(exc)}") from None
            now = time.monotonic()
            if chunk == b"" and eof_ends:
                return
            if chunk == b"":
                self.mark_broken("stream closed before the command finished")
                raise TransportError(f"{self.serial}: device went away during `{command[:80]}` "
                                     "(stream closed without an exit status)")
            if chunk:
                last_data = now
                self._last_alive = now
                if on_data(chunk):
                    return
                continue
            if check_link and self.broken is not None:
                raise TransportError(f"{self.serial}: link failed during `{command[:80]}`: {self.broken}")
            if now > deadline:
                raise TransportError(f"command timed out after {timeout_s:.0f} s: {command[:80]}")
            quiet = now - max(last_data, self._last_alive)
            if check_link and quiet > self.link_check_s:
                if not self._alive():
                    self.mark_broken("device stopped answering")
                    raise TransportError(f"{self.serial}: device stopped answering during `{command[:80]}` "
                                         f"(no reply within {self.link_timeout_s:.1f} s)")
                self._last_alive = time.monotonic()

    def _exec_v2(self, command: str, *, timeout_s: float, check_link: bool) -> CommandResult:
        t0 = time.monotonic()
        conn = self._open(f"shell,v2,raw:{command}", min(timeout_s, self.link_timeout_s))
        buf = bytearray()
        out, err = bytearray(), bytearray()
        exit_code: list[int] = []

        def on_data(chunk: bytes) -> bool:
            buf.extend(chunk)
            while len(buf) >= 5:
                kind = buf[0]
                length = int.from_bytes(buf[1:5], "little")
                if len(buf) < 5 + length:
                    return False
                payload = bytes(buf[5:5 + length])
                del buf[:5 + length]
                if kind == 1:
                    out.extend(payload)
                elif kind == 2:
                    err.extend(payload)
                elif kind == 3:
                    exit_code.append(payload[0] if payload else 255)
                    return True
            return False

        try:
            self._read_loop(conn, command, timeout_s, check_link, on_data)
        finally:
            conn.close()
        return CommandResult(exit_code[0], out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                             time.monotonic() - t0)

    def _exec_v1(self, command: str, *, timeout_s: float, check_link: bool) -> CommandResult:
        """Old phones: no exit status on the wire, so the command prints one after a random marker.

        The command runs in its own `sh -c`, so a command ending in `exit N` cannot skip the marker.
        """
        t0 = time.monotonic()
        marker = f"HARNESS-EXIT-{secrets.token_hex(4)}:"
        conn = self._open(f"shell:sh -c {shlex.quote(command)} 2>&1; echo {marker}$?",
                          min(timeout_s, self.link_timeout_s))
        data = bytearray()

        def on_data(chunk: bytes) -> bool:
            data.extend(chunk)
            return False

        try:
            self._read_loop(conn, command, timeout_s, check_link, on_data, eof_ends=True)
        finally:
            conn.close()
        text = data.decode("utf-8", "replace")
        at = text.rfind(marker)
        if at < 0:  # what adbutils' shell() would have returned as '' or a partial output
            self.mark_broken("no exit marker")
            raise TransportError(f"{self.serial}: device went away during `{command[:80]}` (no exit status)")
        code = int(text[at + len(marker):].strip().split()[0] or 255)
        return CommandResult(code, text[:at], "", time.monotonic() - t0)

    # -- files ----------------------------------------------------------------------------------
    def _sync(self) -> Connection:
        conn = self._open("sync:", self.link_timeout_s)
        conn.conn.settimeout(self.link_timeout_s)
        return conn

    @staticmethod
    def _request(conn: Connection, cmd: bytes, arg: bytes) -> None:
        conn.conn.sendall(cmd + struct.pack("<I", len(arg)) + arg)

    def _sync_fail(self, conn: Connection, what: str) -> str:
        (n,) = struct.unpack("<I", conn.read_exact(4))
        return f"{what}: {conn.read_exact(n).decode('utf-8', 'replace')}"

    def _stat(self, conn: Connection, remote: str) -> tuple[int, int]:
        self._request(conn, b"STAT", remote.encode())
        head = conn.read_exact(16)
        if head[:4] != b"STAT":
            raise TransportError(f"{self.serial}: bad sync reply {head[:4]!r}")
        mode, size, _mtime = struct.unpack("<III", head[4:])
        return mode, size

    def _guard(self, what: str, fn: Callable[[], T]) -> T:
        """Run a sync operation; socket failures become TransportError and mark the link broken."""
        self.ensure_ready()
        try:
            return fn()
        except (TransportError, FileNotFoundError, IsADirectoryError):
            raise
        except (self._adbutils.AdbError, OSError, EOFError) as exc:
            self.mark_broken(_one_line(exc))
            raise TransportError(f"{self.serial}: {what} failed: {_one_line(exc)}") from None

    def stat(self, remote: str) -> tuple[int, int] | None:
        """(mode, size) of a device path, or None when it does not exist."""
        def go() -> tuple[int, int] | None:
            conn = self._sync()
            try:
                mode, size = self._stat(conn, remote)
            finally:
                conn.close()
            return (mode, size) if mode else None
        return self._guard(f"stat {remote}", go)

    def _push_bytes(self, data: bytes, remote: str, mode: int) -> None:
        def go() -> None:
            conn = self._sync()
            try:
                self._request(conn, b"SEND", f"{remote},{stat_mod.S_IFREG | mode}".encode())
                for i in range(0, len(data), SYNC_CHUNK):
                    chunk = data[i:i + SYNC_CHUNK]
                    conn.conn.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
                conn.conn.sendall(b"DONE" + struct.pack("<I", int(time.time())))
                reply = conn.read_exact(8)
                if reply[:4] == b"FAIL":
                    n = struct.unpack("<I", reply[4:])[0]
                    raise TransportError(f"push {remote}: {conn.read_exact(n).decode('utf-8', 'replace')}")
                if reply[:4] != b"OKAY":
                    raise TransportError(f"push {remote}: bad sync reply {reply[:4]!r}")
            finally:
                conn.close()
        self._guard(f"push {remote}", go)
        self._last_alive = time.monotonic()

    def push(self, local: Path, remote: str, mode: int = 0o644) -> None:
        self._push_bytes(Path(local).read_bytes(), remote, mode)

    def pull(self, remote: str, local: Path) -> None:
        """Pull one file; a missing path is FileNotFoundError and leaves nothing behind locally."""
        local = Path(local)

        def go() -> None:
            conn = self._sync()
            tmp = local.with_name(f".{local.name}.part-{secrets.token_hex(4)}")
            try:
                mode, _size = self._stat(conn, remote)
                if mode == 0:
                    raise FileNotFoundError(remote)
                if stat_mod.S_ISDIR(mode):
                    raise IsADirectoryError(remote)
                local.parent.mkdir(parents=True, exist_ok=True)
                self._request(conn, b"RECV", remote.encode())
                with open(tmp, "wb") as fh:
                    while True:
                        head = conn.read_exact(8)
                        kind, n = head[:4], struct.unpack("<I", head[4:])[0]
                        if kind == b"DATA":
                            fh.write(conn.read_exact(n))
                        elif kind == b"DONE":
                            break
                        elif kind == b"FAIL":
                            raise TransportError(f"pull {remote}: {conn.read_exact(n).decode('utf-8', 'replace')}")
                        else:
                            raise TransportError(f"pull {remote}: bad sync reply {kind!r}")
                os.replace(tmp, local)
            finally:
                tmp.unlink(missing_ok=True)
                conn.close()
        self._guard(f"pull {remote}", go)
        self._last_alive = time.monotonic()

    def read_text(self, remote: str) -> str | None:
        """A small device file's text via `cat`, or None when it cannot be read."""
        res = self.run(["cat", remote], timeout_s=max(self.link_timeout_s, 10.0))
        return res.stdout if res.ok else None

    def remove(self, remote: str) -> None:
        self.run(["rm", "-f", remote], timeout_s=30)

    def remote_sha256(self, remote: str) -> str | None:
        if self.stat(remote) is None:
            return None
        return super().remote_sha256(remote)

    def close(self) -> None:
        """Nothing is held open between commands; each stream closes itself."""
