"""What a runtime on a phone needs of its platform: an Android phone (benchmark_model, the companion app) and an
iPhone (the companion app).

devices/android_target.py's AndroidTarget and devices/ios_target.py's IosTarget fit them; the runtimes type
against these Protocols so that no runtime module imports a platform module (no import circle).
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from devices.adb import AdbTransport
from devices.config import AndroidDevice, IosDevice
from devices.ios_adapter import IosAdapter


class Phone(Protocol):
    """An Android phone over adb: its transport, workdirs, probes and the companion app's installation."""

    name: str
    adb: AdbTransport
    workdir: str
    app_dir: str
    job_t0: float  # host monotonic time the platform's observation of this job began

    @property
    def config(self) -> AndroidDevice: ...  # the device's validated config (devices.yaml)

    def local_binary(self) -> Path: ...
    def ensure_app(self) -> None: ...
    def app_version_code(self) -> int | None: ...
    def cpu_freqs(self) -> dict[str, int]: ...
    def clock_offset(self) -> float | None: ...
    def push_model(self, local: Path, directory: str) -> str: ...


class IPhone(Protocol):
    """An iPhone over USB: pymobiledevice3 (or a test's adapter) behind devices/ios_adapter.py, nothing else."""

    name: str
    adapter: IosAdapter
    job_t0: float  # host monotonic time the platform's observation of this job began

    @property
    def config(self) -> IosDevice: ...  # the device's validated config (devices.yaml)
