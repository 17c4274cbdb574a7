"""The runtime registry: which runtime runs where and what it supports, asked by the planner and the
orchestrator instead of tables of kinds and runtimes kept in harness/.

A runtime runs a model on a platform (a device kind): the LiteRT runner (rpi/runner.py) on every Linux target,
TFLite's benchmark_model (Android and Linux boards), trtexec and TF-TRT on a Jetson, the companion app on
Android and iOS (Core ML there). devices.yaml is unchanged: a device's `kind` and `runtime` name an entry.
Adding a runtime is an entry here plus its module.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

LITERT_RUNNER_DELEGATES = ("xnnpack", "none")  # the runner's own; gpu/nnapi only through a delegate library
ONNXRUNTIME_CPU_ONLY = "bench.delegate {delegate}: runtime {runtime} runs ONNX Runtime's CPU execution provider"
NO_NNAPI_ON_JETSON = "bench.delegate nnapi: runtime {runtime} on a Jetson has no NNAPI (it runs TensorRT)"


@dataclass(frozen=True)
class Runtime:
    """What one runtime on one platform supports."""

    name: str  # as devices.yaml writes `runtime`
    kind: str  # the platform (devices.yaml `kind`)
    # bench.delegate values it runs by itself; None: whatever the tool is asked (it reports what ran)
    delegates: tuple[str, ...] | None = None
    external_delegate: bool = False  # loads bench.delegate_library (a gpu/nnapi delegate's shared library)
    refuses: Mapping[str, str] = field(default_factory=dict)  # delegate -> why not ({runtime} is filled in)
    exports: tuple[str, ...] = ()  # what it needs made besides the .tflite (JobSpec.companions kinds)
    scores_on_device: bool = False  # it writes the model's outputs on held-out inputs for the host to score
    # "module:Class" of the devices.runtime.base.ModelRuntime that runs it
    impl: str = ""


LITERT = "devices.runtime.litert:LitertRunner"
BOARD_BENCHMARK_MODEL = "devices.runtime.benchmark_model:BoardBenchmarkModel"


def _runner(kind: str, name: str = "litert", impl: str = LITERT) -> Runtime:
    """The LiteRT runner's delegate rule: xnnpack or none, anything else through a delegate library."""
    return Runtime(name, kind, delegates=LITERT_RUNNER_DELEGATES, external_delegate=True, impl=impl)


RUNTIMES: tuple[Runtime, ...] = (
    _runner("local", impl="devices.runtime.litert:HostLitert"),
    Runtime("onnxruntime", "local", refuses={d: ONNXRUNTIME_CPU_ONLY for d in ("gpu", "nnapi")}, exports=("onnx",),
            impl="devices.runtime.ort:OnnxRuntimeHost"),
    _runner("raspberry_pi"),
    # benchmark_model on a Pi keeps the runner's rule, as before
    _runner("raspberry_pi", "benchmark_model", impl=BOARD_BENCHMARK_MODEL),
    _runner("jetson"),
    Runtime("benchmark_model", "jetson", refuses={"nnapi": NO_NNAPI_ON_JETSON}, impl=BOARD_BENCHMARK_MODEL),
    Runtime("tensorrt", "jetson", refuses={"nnapi": NO_NNAPI_ON_JETSON}, exports=("onnx",),
            impl="devices.runtime.trtexec:Trtexec"),
    Runtime("tftrt", "jetson", refuses={"nnapi": NO_NNAPI_ON_JETSON}, exports=("saved_model",),
            impl="devices.runtime.tftrt:TfTrt"),
    Runtime("benchmark_model", "android", impl="devices.runtime.benchmark_model:PhoneBenchmarkModel"),
    Runtime("app", "android", scores_on_device=True, impl="devices.runtime.companion_app:AndroidApp"),
    Runtime("app", "ios", refuses={"nnapi": "bench.delegate nnapi: NNAPI exists only on Android"},
            scores_on_device=True, impl="devices.runtime.companion_app:IosApp"),
)
DEFAULT_RUNTIME = {"local": "litert", "raspberry_pi": "litert", "jetson": "litert", "android": "benchmark_model",
                   "ios": "app"}


def runtime_for(kind: str | None, runtime: str | None = None) -> Runtime | None:
    """The registered runtime a device runs (its `runtime`, else its kind's default); None if none is."""
    name = runtime or DEFAULT_RUNTIME.get(kind or "")
    return next((r for r in RUNTIMES if r.kind == kind and r.name == name), None)


def delegate_problem(kind: str | None, runtime: str | None, delegate: str, library: str | None) -> str | None:
    """Why this runtime cannot run `delegate` (None when it can): a delegate the runtime does not have would
    otherwise be a CPU run under the delegate's name."""
    rt = runtime_for(kind, runtime)
    if rt is None:
        return None  # an unknown kind or runtime is the schema's to name
    if library and not rt.external_delegate:
        where = f"{kind}" + (f" runtime {runtime}" if runtime else "")
        return f"bench.delegate_library: {where} cannot load an external delegate (only the LiteRT runner can)"
    if rt.delegates is not None:
        if library and delegate in rt.delegates:
            return f"bench.delegate_library needs bench.delegate gpu or nnapi (got {delegate})"
        if delegate not in rt.delegates and not library:
            return (f"bench.delegate {delegate}: the LiteRT runner on {kind} has only {' and '.join(rt.delegates)}; "
                    f"name the {delegate} delegate's shared library in bench.delegate_library")
        return None
    why = rt.refuses.get(delegate)
    return why.format(runtime=runtime, delegate=delegate) if why else None
