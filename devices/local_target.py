"""This host as a target: the runner runs as a subprocess, exactly as it would on a board."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from devices.config import LocalDevice
from devices.local import LocalTransport
from devices.runtime.board import Host
from devices.target import RunnerTarget


def default_workdir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "harness" / "local-target"


class LocalTarget(RunnerTarget):
    kind = "local"
    same_clock = True

    config: LocalDevice

    def __init__(self, config: LocalDevice) -> None:
        python = config.python or sys.executable
        super().__init__(config, LocalTransport(), str(default_workdir()), python)

    def temperatures(self) -> dict[str, float]:
        from rpi.runner import read_thermal_zones  # rpi/ is installed with the harness: no sys.path change

        return read_thermal_zones(self.thermal_glob, self.ignored_sensors())


# mypy checks here that this host is what the host runtimes need (devices/runtime/board.py)
_HOST_FITS: type[Host] = LocalTarget
