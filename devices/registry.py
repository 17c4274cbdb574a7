"""Build a Target from a validated device config; each kind lives in its own module."""
from __future__ import annotations

import importlib
from typing import Any

from devices.config import DeviceBase
from devices.target import Target

# kind -> "module:factory"; the factory takes the device config and returns a Target.
TARGETS = {
    "local": "devices.local_target:LocalTarget",
    "raspberry_pi": "devices.rpi_target:RaspberryPiTarget",
    "jetson": "devices.jetson_target:JetsonTarget",
    "android": "devices.android_target:AndroidTarget",
    "ios": "devices.ios_target:IosTarget",
}


def target_class(kind: str) -> type[Target]:
    """Import lazily, so a host without paramiko or adbutils can still benchmark locally."""
    spec = TARGETS.get(kind)
    if spec is None:
        raise KeyError(f"unknown device kind {kind!r}")
    module_name, factory = spec.split(":")
    cls: type[Target] = getattr(importlib.import_module(module_name), factory)
    return cls


def build_target(config: DeviceBase) -> Target:
    factory: Any = target_class(config.kind)  # subclasses take the config alone and make their transport
    target: Target = factory(config)
    return target
