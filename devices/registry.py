"""Build a Target from a validated device config; each kind lives in its own module."""
from __future__ import annotations

import importlib
from collections.abc import Callable

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


def _spec(kind: str) -> tuple[str, str]:
    """(module, class) of a kind; imported lazily, so a host without paramiko or adbutils can still benchmark
    locally."""
    spec = TARGETS.get(kind)
    if spec is None:
        raise KeyError(f"unknown device kind {kind!r}")
    module_name, factory = spec.split(":")
    return module_name, factory


def target_class(kind: str) -> type[Target]:
    module_name, factory = _spec(kind)
    cls: type[Target] = getattr(importlib.import_module(module_name), factory)
    return cls


def build_target(config: DeviceBase) -> Target:
    module_name, name = _spec(config.kind)
    # each kind's class takes the config alone and makes its own transport (Target's own __init__ takes both)
    factory: Callable[[DeviceBase], Target] = getattr(importlib.import_module(module_name), name)
    return factory(config)
