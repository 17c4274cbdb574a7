"""Which IosAdapter a target gets: pymobiledevice3's, or the class HARNESS_IOS_ADAPTER names (tests only).

Apart from devices/ios_adapter.py (the interface) so that the interface never imports its implementation
(devices/ios_device.py imports the interface): no import circle.
"""
from __future__ import annotations

import importlib
import os

from devices.ios_adapter import ADAPTER_ENV, IosAdapter


def make_adapter(udid: str, bundle_id: str) -> IosAdapter:
    """pymobiledevice3's adapter, or the class HARNESS_IOS_ADAPTER names (tests only)."""
    spec = os.environ.get(ADAPTER_ENV)
    if spec:
        module, _, name = spec.partition(":")
        adapter: IosAdapter = getattr(importlib.import_module(module), name)(udid, bundle_id)
        return adapter
    from devices.ios_device import PyMobileDeviceAdapter

    return PyMobileDeviceAdapter(udid, bundle_id)
