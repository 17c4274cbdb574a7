"""The seam between platforms (devices/*_target.py) and runtimes (devices/runtime/): a runtime is chosen by the
registry, never by `if config.runtime == ...` in a platform; device config models live in devices/ and harness/
composes them."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from devices import config as models
from devices.runtime import load
from devices.runtime.base import ModelRuntime
from devices.runtimes import RUNTIMES
from harness.planning import config as planning

DEVICES = Path(__file__).resolve().parent.parent / "devices"


def test_no_platform_dispatches_on_its_runtime():
    found = [f"{p.name}:{i}" for p in sorted(DEVICES.glob("*_target.py"))
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"config\.runtime\s*(==|!=|in\b)|\"runtime\", [^)]*\) ==", line)]
    assert found == []  # before: android_target.py 7 lines, jetson_target.py 3, rpi_target.py 1


@pytest.mark.parametrize("entry", [r for r in RUNTIMES if r.impl], ids=lambda r: f"{r.kind}-{r.name}")
def test_every_registered_runtime_loads_as_one_class(entry):
    runtime = load(entry.kind, entry.name)
    assert isinstance(runtime, ModelRuntime) and runtime.entry is entry and runtime.name == entry.name
    assert entry.impl.split(":")[0].startswith("devices.runtime.")  # one module each, under devices/runtime/


def test_unknown_runtime_is_a_key_error():
    with pytest.raises(KeyError, match="no runtime 'tflite-gpu' registered for device kind 'jetson'"):
        load("jetson", "tflite-gpu")


def test_device_models_live_in_devices_and_harness_composes_them():
    for name in ("LocalDevice", "RaspberryPiDevice", "JetsonDevice", "AndroidDevice", "IosDevice"):
        assert issubclass(getattr(planning, name), getattr(models, name)), name
    assert planning.BenchSettings is models.BenchSettings
    with pytest.raises(Exception, match="budget"):  # the budget check harness adds when it composes them
        planning.parse_devices({"devices": [{"name": "pi", "kind": "local", "budget": {"p50_ms": "fast"}}]})
    models.LocalDevice(name="pi", kind="local", budget={"p50_ms": 3.0})  # devices/ alone knows no budget rule
