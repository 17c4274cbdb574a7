"""iPhone targets: accepted in devices.yaml, not implemented yet.

Measuring on iOS needs the companion app (ios_app/) reached through pymobiledevice3; until it exists,
an `ios` device says so in one line and its jobs become error rows while the other devices go on.
"""
from __future__ import annotations

from typing import Any

from errors import DeviceError


class IosTarget:
    kind = "ios"

    def __init__(self, config: Any) -> None:
        raise DeviceError(config.name, "iOS targets are not implemented yet (needs the ios_app companion app)")
