"""devices/runtimes.py: what each runtime supports, asked by the planner (delegates) and the orchestrator
(exports, scoring on the device) instead of tables of kinds kept in harness/."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from devices.runtimes import RUNTIMES, delegate_problem, runtime_for
from harness.planning.config import delegate_problem as planner_delegate_problem


def test_every_devices_yaml_kind_and_runtime_is_registered_once():
    from typing import get_args, get_type_hints

    from harness.planning import config

    pairs = [(r.kind, r.name) for r in RUNTIMES]
    assert len(pairs) == len(set(pairs))
    for cls in (config.LocalDevice, config.RaspberryPiDevice, config.JetsonDevice, config.AndroidDevice,
                config.IosDevice):
        hints = get_type_hints(cls)
        (kind,) = get_args(hints["kind"])
        names = get_args(hints["runtime"]) if "runtime" in hints else (None,)
        for name in names:
            assert runtime_for(kind, name) is not None, (kind, name)


@pytest.mark.parametrize("kind, runtime, delegate, library, expected", [
    ("local", None, "xnnpack", None, None),
    ("local", None, "gpu", None, "bench.delegate gpu: the LiteRT runner on local has only xnnpack and none; "
                                 "name the gpu delegate's shared library in bench.delegate_library"),
    ("raspberry_pi", "litert", "gpu", "/lib/libgpu.so", None),
    ("raspberry_pi", "litert", "none", "/lib/libgpu.so",
     "bench.delegate_library needs bench.delegate gpu or nnapi (got none)"),
    ("jetson", "tensorrt", "gpu", "/lib/libgpu.so",
     "bench.delegate_library: jetson runtime tensorrt cannot load an external delegate (only the LiteRT runner can)"),
    ("jetson", "tftrt", "nnapi", None, "bench.delegate nnapi: runtime tftrt on a Jetson has no NNAPI (it runs TensorRT)"),
    ("jetson", "benchmark_model", "gpu", None, None),
    ("android", "benchmark_model", "nnapi", None, None),
    ("android", "app", "gpu", "/lib/x.so",
     "bench.delegate_library: android runtime app cannot load an external delegate (only the LiteRT runner can)"),
    ("ios", None, "nnapi", None, "bench.delegate nnapi: NNAPI exists only on Android"),
    ("ios", None, "gpu", None, None),
])
def test_delegate_rules(kind, runtime, delegate, library, expected):
    assert delegate_problem(kind, runtime, delegate, library) == expected
    dev = SimpleNamespace(kind=kind, runtime=runtime) if runtime else SimpleNamespace(kind=kind)
    assert planner_delegate_problem(dev, SimpleNamespace(delegate=delegate, delegate_library=library)) == expected


def test_exports_and_on_device_scoring_come_from_the_registry():
    from devices.jetson_target import JetsonTarget
    from harness.orchestration.orchestrate import _scores_on_device

    assert JetsonTarget.companions_needed(SimpleNamespace(runtime="tensorrt")) == ("onnx",)
    assert JetsonTarget.companions_needed(SimpleNamespace(runtime="tftrt")) == ("saved_model",)
    assert JetsonTarget.companions_needed(SimpleNamespace(runtime="litert")) == ()
    assert _scores_on_device(SimpleNamespace(kind="ios")) is True
    assert _scores_on_device(SimpleNamespace(kind="android", runtime="app")) is True  # the app returns outputs
    assert _scores_on_device(SimpleNamespace(kind="android", runtime="benchmark_model")) is False
    assert runtime_for("android") == runtime_for("android", "benchmark_model")
    assert runtime_for("pdp11") is None and delegate_problem("pdp11", None, "gpu", None) is None
