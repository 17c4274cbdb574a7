"""`harness devices discover`: the phones attached to this host, as ready-to-paste devices.yaml entries.

Asks the adb server that is already running (never starts one: a missing server is one line saying how to
start it), and usbmuxd for iPhones (through pymobiledevice3, as the iOS target does).
"""
from __future__ import annotations

import re
from typing import TypedDict

from devices.adb import _client_class
from errors import DeviceError


class AdbDevice(TypedDict):
    serial: str
    state: str
    model: str | None
    product: str | None


def adb_devices(host: str = "127.0.0.1", port: int = 5037, timeout_s: float = 5.0) -> list[AdbDevice]:
    """[{serial, state, model, product}] from the server's `host:devices-l`."""
    import adbutils

    client = _client_class()(host=host, port=port, socket_timeout=timeout_s)
    try:
        infos = client.list(extended=True)
    except (OSError, adbutils.AdbError) as exc:
        raise DeviceError("adb", f"no adb server at {host}:{port} ({exc}); start it with `adb start-server` "
                                 "and plug the phone in with USB debugging on") from None
    return [AdbDevice(serial=i.serial, state=i.state, model=i.tags.get("model"), product=i.tags.get("product"))
            for i in infos]


def yaml_entry(dev: AdbDevice, port: int = 5037) -> str:
    """A devices.yaml list item for one phone, named after its model."""
    base = dev.get("model") or dev.get("product") or dev["serial"]
    name = re.sub(r"[^a-z0-9_]+", "_", base.lower()).strip("_") or "phone"
    lines = [f"  - name: {name}", "    kind: android", f"    serial: \"{dev['serial']}\""]
    if port != 5037:
        lines.append(f"    adb_port: {port}")
    if dev.get("state") != "device":
        lines.append(f"    # state: {dev.get('state')} (authorize USB debugging on the phone, then run discover again)")
    return "\n".join(lines)


def ios_udids() -> list[str]:
    """UDIDs usbmuxd lists (USBMUXD_SOCKET_ADDRESS or /var/run/usbmuxd); DeviceError when it cannot be asked."""
    try:
        from devices.ios_device import PyMobileDeviceAdapter, explain
    except ImportError as exc:  # pymobiledevice3 is in the host extra; say so instead of failing
        raise DeviceError("ios", f"cannot list iPhones: {exc.name} is not installed (pip install pymobiledevice3)") \
            from None
    adapter = PyMobileDeviceAdapter("discover", "dev.harness.companion")
    try:
        return adapter.list_udids()
    except DeviceError as exc:  # the adapter already explained it: its reason, not the class name
        raise DeviceError("ios", exc.reason) from None
    except Exception as exc:
        raise DeviceError("ios", explain(exc, "discover", "dev.harness.companion")) from None
    finally:
        adapter.close()


def ios_yaml_entry(udid: str, index: int) -> str:
    return "\n".join([f"  - name: iphone{index + 1}", "    kind: ios", f"    udid: \"{udid}\""])
