"""A usbmuxd stand-in on a local unix socket, speaking the plist protocol the real daemon speaks.

Enough of usbmuxd (libimobiledevice/usbmuxd src/client.c) for discovery and its error paths, so the
real pymobiledevice3 client can be tested without an iPhone:

- packets are `u32 length (incl. the 16-byte header), u32 version (1 = plist), u32 message (8 = plist),
  u32 tag` little-endian, then an XML plist; every reply echoes the request's tag;
- ReadBUID -> {BUID}; ListDevices -> {DeviceList: [{DeviceID, MessageType: Attached, Properties}]} (the
  real reply has no MessageType at the top level); Listen -> Result 0 then one Attached per device;
- ReadPairRecord for an unknown record -> Result Number 2 (usbmuxd returns -ENOENT as the number);
- Connect to a device without a lockdownd here -> Result Number 3 (CONNREFUSED); with one, Result 0 and
  the same socket then carries lockdownd's protocol (u32 big-endian length + XML plist);
- an unknown MessageType -> Result Number 1 (BADCOMMAND).

The lockdownd stand-in answers what an unpaired phone answers before a session: QueryType, and GetValue
with the public values. StartSession without a pair record is refused with InvalidHostID, as lockdownd does.
"""
from __future__ import annotations

import os
import plistlib
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLIST_VERSION, PLIST_MESSAGE = 1, 8
RESULT_OK, RESULT_BADCOMMAND, RESULT_BADDEV, RESULT_CONNREFUSED = 0, 1, 2, 3
LOCKDOWN_PORT = 62078


@dataclass
class SimPhone:
    udid: str
    device_id: int
    connection_type: str = "USB"
    lockdownd: bool = True  # False: lockdownd refuses the connection (Result 3)
    values: dict[str, Any] = field(default_factory=dict)

    def public_values(self) -> dict[str, Any]:
        return {"UniqueDeviceID": self.udid, "ProductType": "iPhone15,2", "ProductVersion": "17.5.1",
                "BuildVersion": "21F90", "DeviceClass": "iPhone", "DeviceName": "sim iPhone",
                "HardwareModel": "D73AP", "CPUArchitecture": "arm64e", "UniqueChipID": 1234, **self.values}


class UsbmuxdSim:
    """Serve on `path` until stop(); `requests` records every MessageType received, in order."""

    def __init__(self, path: Path, phones: list[SimPhone], buid: str = "00000000-1111-2222-3333-444444444444") -> None:
        self.path = Path(path)
        self.phones = phones
        self.buid = buid
        self.requests: list[str] = []
        self.lockdown_requests: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(self.path))
        self._sock.listen(16)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> UsbmuxdSim:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        try:
            self._sock.close()
        finally:
            if self.path.exists():
                os.unlink(self.path)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _recv(conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client closed")
            data += chunk
        return data

    def _send(self, conn: socket.socket, tag: int, payload: dict[str, Any]) -> None:
        body = plistlib.dumps(payload)
        conn.sendall(struct.pack("<IIII", 16 + len(body), PLIST_VERSION, PLIST_MESSAGE, tag) + body)

    def _result(self, conn: socket.socket, tag: int, number: int) -> None:
        self._send(conn, tag, {"MessageType": "Result", "Number": number})

    def _attached(self, p: SimPhone) -> dict[str, Any]:
        return {"DeviceID": p.device_id, "MessageType": "Attached",
                "Properties": {"ConnectionSpeed": 480000000, "ConnectionType": p.connection_type,
                               "DeviceID": p.device_id, "LocationID": 0x14100000, "ProductID": 0x12A8,
                               "SerialNumber": p.udid, "USBSerialNumber": p.udid.replace("-", "")}}

    def _serve(self, conn: socket.socket) -> None:
        try:
            while True:
                length, version, message, tag = struct.unpack("<IIII", self._recv(conn, 16))
                body = self._recv(conn, length - 16)
                if version != PLIST_VERSION or message != PLIST_MESSAGE:
                    self._result(conn, tag, RESULT_BADCOMMAND)  # this stand-in speaks plist only
                    continue
                req = plistlib.loads(body)
                kind = req.get("MessageType")
                self.requests.append(str(kind))
                if kind == "ReadBUID":
                    self._send(conn, tag, {"BUID": self.buid})
                elif kind == "ListDevices":
                    self._send(conn, tag, {"DeviceList": [self._attached(p) for p in self.phones]})
                elif kind == "Listen":
                    self._result(conn, tag, RESULT_OK)
                    for p in self.phones:
                        self._send(conn, 0, self._attached(p))
                elif kind == "ReadPairRecord":
                    self._result(conn, tag, RESULT_BADDEV)  # -ENOENT: no record for this id
                elif kind == "Connect":
                    phone = next((p for p in self.phones if p.device_id == req.get("DeviceID")), None)
                    port = socket.ntohs(int(req.get("PortNumber", 0)))
                    if phone is None:
                        self._result(conn, tag, RESULT_BADDEV)
                    elif not phone.lockdownd or port != LOCKDOWN_PORT:
                        self._result(conn, tag, RESULT_CONNREFUSED)
                    else:
                        self._result(conn, tag, RESULT_OK)
                        self._lockdownd(conn, phone)
                        return
                else:
                    self._result(conn, tag, RESULT_BADCOMMAND)
        except (ConnectionError, OSError, struct.error):
            pass
        finally:
            conn.close()

    def _lockdownd(self, conn: socket.socket, phone: SimPhone) -> None:
        """Pre-session lockdownd of an unpaired phone."""
        while True:
            (length,) = struct.unpack(">I", self._recv(conn, 4))
            req = plistlib.loads(self._recv(conn, length))
            kind = req.get("Request")
            self.lockdown_requests.append(str(kind))
            if kind == "QueryType":
                reply = {"Request": kind, "Type": "com.apple.mobile.lockdown"}
            elif kind == "GetValue" and not req.get("Domain") and not req.get("Key"):
                reply = {"Request": kind, "Value": phone.public_values()}
            elif kind == "StartSession":
                reply = {"Request": kind, "Error": "InvalidHostID"}
            else:
                reply = {"Request": kind, "Error": "SessionInactive"}
            body = plistlib.dumps(reply)
            conn.sendall(struct.pack(">I", len(body)) + body)
