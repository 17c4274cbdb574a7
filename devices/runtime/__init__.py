"""Runtimes: what runs a model on a platform, one module each.

A platform (devices/*_target.py) owns reaching and observing a device: transport, facts, probes, clock
offset, sampler, cool-down. A runtime owns running a model there: the LiteRT runner (litert.py),
benchmark_model on Android and Linux boards (benchmark_model.py), trtexec (trtexec.py), TF-TRT (tftrt.py),
the companion app on Android and iOS alike (companion_app.py; what it puts in the app's folder: app_files.py).
Each is registered in devices/runtimes.py with what it supports (delegates, exports) and the class that runs it;
a platform builds its runtime with `load` instead of dispatching on `config.runtime`. Adding a runtime is one
module here plus its entry there.
"""
from __future__ import annotations

import importlib
from typing import Any

from devices.runtime.base import ModelRuntime
from devices.runtimes import runtime_for


def load(kind: str, runtime: str | None) -> ModelRuntime[Any, Any]:
    """The registered runtime of this kind named `runtime` (None: the kind's default), ready to run jobs."""
    entry = runtime_for(kind, runtime)
    if entry is None or not entry.impl:
        raise KeyError(f"no runtime {runtime!r} registered for device kind {kind!r}")
    module_name, cls_name = entry.impl.split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    made: ModelRuntime[Any, Any] = cls(entry)
    return made
