"""What a runtime on an Android phone (benchmark_model, the companion app) needs of its platform.

devices/android_target.py's AndroidTarget fits it; the runtimes type against this Protocol so that no runtime
module imports the platform module (no import circle).
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from devices.adb import AdbTransport
from devices.config import AndroidDevice


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
