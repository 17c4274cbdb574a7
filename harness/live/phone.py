"""`--on-device SERIAL` for `harness serve` and `harness run --live`: the live page on a phone over adb.

The phone is found by name or serial in the devices file (its adb server, app package and Live activity),
else taken as a bare adb serial on the adb server at $ANDROID_ADB_SERVER_PORT (adb's own variable) or 5037.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from errors import DeviceError, UserError

if TYPE_CHECKING:
    from devices.android_live import PhoneLive
    from harness.live.server import LiveServer
    from harness.planning.config import AndroidDevice


def phone_config(spec: str, devices_path: str | None) -> AndroidDevice:
    """The AndroidDevice that `spec` names: a device of the devices file, else a bare serial."""
    from harness.planning.config import AndroidDevice, load_devices

    path = devices_path or ("devices.yaml" if Path("devices.yaml").exists() else None)
    if path:
        for dev in load_devices(path).devices:
            if dev.kind == "android" and spec in (dev.name, dev.serial):
                return dev
            if dev.name == spec:
                raise UserError(f"--on-device: {spec!r} in {path} is a {dev.kind} device, not an android one")
    port = os.environ.get("ANDROID_ADB_SERVER_PORT", "5037")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"ANDROID_ADB_SERVER_PORT: {port[:20]!r} is not a port number")
    if not spec or any(c.isspace() or not c.isprintable() for c in spec) or len(spec) > 200:
        raise UserError(f"--on-device: {spec[:40]!r} is not an adb serial")
    return AndroidDevice(name=spec, kind="android", serial=spec, adb_port=int(port))


def open_on_phone(spec: str, devices_path: str | None, server: LiveServer) -> PhoneLive:
    """Reverse the live server's port to the phone and open the page there; the caller closes it."""
    from devices.adb import AdbTransport
    from devices.android_live import PhoneLive
    from devices.transport import TransportError
    from harness.live.server import is_loopback

    if not (is_loopback(server.host) or server.host in ("0.0.0.0", "::", "")):
        raise UserError(f"--on-device: the phone reaches the server through adb on the host's localhost; "
                        f"bind 127.0.0.1 instead of {server.host}")
    cfg = phone_config(spec, devices_path)
    adb = AdbTransport(cfg.serial, host=cfg.adb_host, port=cfg.adb_port, connect_timeout_s=cfg.connect_timeout_s,
                       link_timeout_s=cfg.link_timeout_s, link_check_s=cfg.link_check_s)
    phone = PhoneLive(adb, server.port, package=cfg.app_package, live_activity=cfg.app_live_activity,
                      query=f"token={server.token}" if server.token else "")
    try:
        if cfg.apk:  # install or update the app first, so its Live screen (not the browser) opens
            from devices.android_target import AndroidTarget

            target = AndroidTarget(cfg)
            try:
                target.adb.connect()
                target.ensure_app()
            finally:
                target.close()
        how = phone.open()
    except DeviceError as exc:
        raise UserError(str(exc), exit_code=1) from None
    except TransportError as exc:
        raise UserError(f"{cfg.serial}: --on-device: {exc}", exit_code=1) from None
    where = "the companion app's Live screen" if how == "app" else "the phone's browser (companion app not installed)"
    print(f"live on {cfg.serial}: {where} at http://localhost:{server.port}/ (adb reverse)", file=sys.stderr,
          flush=True)
    return phone
