"""The small interface an iOS target needs from a phone, apart from how it is reached.

devices/ios_device.py implements it with pymobiledevice3 (usbmuxd, lockdown, house_arrest/AFC, DVT,
diagnostics); tests implement it with a class that keeps a Documents folder on disk. Paths are relative
to the app's Documents folder (`jobs/NAME.json`, `models/...`, `results/NAME.json`).

Every failure the adapter can name is a DeviceError with one actionable line.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict

# Test-only hook: "module:factory" of an adapter class to use instead of pymobiledevice3's.
# harness run reads it so an end-to-end test can drive a fake phone; never set it in production.
ADAPTER_ENV = "HARNESS_IOS_ADAPTER"


class BatteryReading(TypedDict):
    """IOPMPowerSource in units (`battery_reading`)."""

    voltage_v: float
    current_a: float  # negative while discharging
    power_mw: float
    temperature_c: float | None
    charging: bool  # IsCharging or ExternalConnected: the battery's current includes charging
    external_connected: bool
    level_pct: float | None


class IosAdapter(ABC):
    """One phone (udid) and one app (bundle_id)."""

    def __init__(self, udid: str, bundle_id: str) -> None:
        self.udid = udid
        self.bundle_id = bundle_id

    @abstractmethod
    def check_ready(self) -> dict[str, object]:
        """Find the phone, check it is paired, unlocked, in Developer Mode and reachable by DVT (iOS 17+:
        through tunneld); return its facts (product_type, ios_version, name). Raises DeviceError."""

    @abstractmethod
    def app_installed(self) -> bool:
        """Whether the companion app (bundle_id) is installed (installation proxy)."""

    @abstractmethod
    def push(self, local: Path, remote: str) -> None:
        """Copy a file, or a folder recursively, into Documents/remote (parents created)."""

    @abstractmethod
    def size(self, remote: str) -> int | None:
        """Size in bytes of Documents/remote, or None when it does not exist."""

    @abstractmethod
    def pull(self, remote: str, local: Path) -> None:
        """Copy Documents/remote (a file) to local; FileNotFoundError when it does not exist."""

    @abstractmethod
    def remove(self, remote: str) -> None:
        """Delete Documents/remote (recursively); a missing path is not an error."""

    @abstractmethod
    def launch(self, arguments: list[str]) -> int:
        """Start the app (killing a running instance) with these arguments; returns its pid."""

    @abstractmethod
    def running(self, pid: int) -> bool | None:
        """Whether pid still runs; None when the phone cannot tell."""

    @abstractmethod
    def kill(self, pid: int) -> None:
        """Stop pid; a process that already exited is not an error."""

    @abstractmethod
    def power_source(self) -> Mapping[str, object] | None:
        """The battery's IOPMPowerSource entry (Voltage mV, InstantAmperage mA, Temperature in 1/100 C,
        IsCharging, ExternalConnected, CurrentCapacity...), or None when diagnostics cannot read it."""

    def close(self) -> None:
        """Release connections; the default holds none."""
        return None


def battery_reading(entry: Mapping[str, object] | None) -> BatteryReading | None:
    """IOPMPowerSource fields in units: volts, amps (negative while discharging), watts, C, charging."""
    if not entry:
        return None
    raw_ma = entry.get("InstantAmperage")
    if isinstance(raw_ma, int) and raw_ma >= 2**63:  # the signed value read back as unsigned 64-bit
        raw_ma -= 2**64
    voltage = entry.get("Voltage")
    if not isinstance(voltage, (int, float, str)) or not isinstance(raw_ma, (int, float, str)):
        return None
    try:
        mv = float(voltage)
        ma = float(raw_ma)
    except ValueError:
        return None
    temp = entry.get("Temperature")
    charging = bool(entry.get("IsCharging")) or bool(entry.get("ExternalConnected"))
    level = entry.get("CurrentCapacity")
    return {"voltage_v": mv / 1000.0, "current_a": ma / 1000.0, "power_mw": abs(mv * ma) / 1000.0,
            "temperature_c": float(temp) / 100.0 if isinstance(temp, (int, float)) else None,
            "charging": charging, "external_connected": bool(entry.get("ExternalConnected")),
            "level_pct": float(level) if isinstance(level, (int, float)) else None}
