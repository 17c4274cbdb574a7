"""Per-op profile of a .tflite through the LiteRT C API profiler, driven with ctypes.

The LiteRT Python API (ai-edge-litert 2.x) has no op profiler, but the same wheel ships libLiteRt.so,
whose C API compiles a model with the runtime option `enable_profiling` and hands out the compiled
model's profiler (LiteRtCompiledModelGetProfiler). Its events are the runtime's own: one per TFLite
node, and with XNNPACK (the default CPU path) one per XNNPACK operator inside the delegate. This is the
same instrumentation benchmark_model's --enable_op_profiling reads.

Like runner.py this file imports only the standard library and numpy, so it is pushed next to the
runner to any Linux target with the wheel. Nothing here is estimated: a failure is one line
(ProfilerUnavailable), never a made-up profile.
"""
from __future__ import annotations

import ctypes as C
import os
import statistics
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; mypy reads the name as True
if TYPE_CHECKING:  # annotations only, never run: pushed beside runner.py, it imports what runner.py may
    from types import ModuleType
    from typing import TypedDict

    import numpy

    class _OpRowBase(TypedDict):
        position: int
        node_type: str
        op_type: str
        level: str
        node_index: int
        median_ms: float
        avg_ms: float
        times_called: int

    class OpRow(_OpRowBase, total=False):
        """One op of the profile's run_order (median over runs)."""
        pct: float | None
        tflite_node: int
        tflite_name: str

    class _TypeRowBase(TypedDict):
        node_type: str
        count: int
        avg_ms: float
        kernels: list[str]

    class TypeRow(_TypeRowBase, total=False):
        """One op type of the profile's by_node_type (the sum of its ops' medians)."""
        avg_pct: float | None

    Event = tuple[str, int, int, int]  # (tag, event type, elapsed us, metadata1)

METHOD = ("LiteRT C API profiler (libLiteRt.so CompiledModel, runtime option enable_profiling), "
          "a separate pass after the timed runs")

# LiteRtProfilerEventType (litert/c/litert_profiler_event.h)
_DEFAULT, _OPERATOR, _DELEGATE_OP, _DELEGATE_PROFILED_OP = 1, 2, 4, 8
_EVENT_TYPES = {1 << k for k in range(9)}
_HW_CPU = 1
_LOCK_WRITE = 1
_LAYOUT_BYTES = 4 + 8 * 4 + 8 * 4  # LiteRtLayout: rank/has_strides bit-field word, dimensions[8], strides[8]

# XNNPACK operators (name before " (") that run a TFLite MAC op, and those ops (converters/analysis.py
# MAC_OPS, kept equal by a test): see _op_types.
XNNPACK_MAC_KERNELS = ("Convolution", "Deconvolution", "Fully Connected", "Batch Matrix Multiply")
MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "BATCH_MATMUL")


class ProfilerUnavailable(RuntimeError):
    """The LiteRT C API profiler cannot run here; the message is one line saying why."""


class _Usage(C.Structure):  # tflite::profiling::memory::MemoryUsage as the C++ library lays it out
    _fields_ = [("mem_footprint_kb", C.c_int64), ("total_allocated_bytes", C.c_size_t),
                ("in_use_allocated_bytes", C.c_size_t)]


class _Event(C.Structure):  # ProfiledEventData (the C++ struct the library fills)
    _fields_ = [("tag", C.c_char_p), ("event_type", C.c_int), ("start_us", C.c_uint64),
                ("elapsed_us", C.c_uint64), ("begin_mem", _Usage), ("end_mem", _Usage),
                ("metadata1", C.c_uint64), ("metadata2", C.c_uint64), ("source", C.c_int)]


def library_path() -> str:
    """libLiteRt.so of the installed ai-edge-litert wheel."""
    try:
        import ai_edge_litert
    except ImportError:
        raise ProfilerUnavailable("no per-op profile: ai-edge-litert is not installed "
                                  "(pip install 'ai-edge-litert>=2.3'; its libLiteRt.so has the profiler)") from None
    path = os.path.join(os.path.dirname(ai_edge_litert.__file__), "libLiteRt.so")
    if not os.path.isfile(path):
        version = getattr(ai_edge_litert, "__version__", "?")
        raise ProfilerUnavailable(f"no per-op profile: ai-edge-litert {version} ships no libLiteRt.so "
                                  "(the C API profiler needs ai-edge-litert>=2.3)")
    return path


_VP = C.c_void_p
_SIGNATURES = {
    "LiteRtCreateEnvironment": [C.c_int, _VP, C.POINTER(_VP)],
    "LiteRtCreateModelFromBuffer": [_VP, _VP, C.c_size_t, C.POINTER(_VP)],
    "LiteRtCreateOptions": [C.POINTER(_VP)],
    "LiteRtSetOptionsHardwareAccelerators": [_VP, C.c_int],
    "LiteRtCreateOpaqueOptions": [C.c_char_p, _VP, _VP, C.POINTER(_VP)],
    "LiteRtAddOpaqueOptions": [_VP, _VP],
    "LiteRtCreateCompiledModel": [_VP, _VP, _VP, C.POINTER(_VP)],
    "LiteRtGetModelSignature": [_VP, C.c_size_t, C.POINTER(_VP)],
    "LiteRtGetNumSignatureInputs": [_VP, C.POINTER(C.c_size_t)],
    "LiteRtGetNumSignatureOutputs": [_VP, C.POINTER(C.c_size_t)],
    "LiteRtGetSignatureInputTensorByIndex": [_VP, C.c_size_t, C.POINTER(_VP)],
    "LiteRtGetSignatureOutputTensorByIndex": [_VP, C.c_size_t, C.POINTER(_VP)],
    "LiteRtGetRankedTensorType": [_VP, _VP],
    "LiteRtGetTensorName": [_VP, C.POINTER(C.c_char_p)],
    "LiteRtCompiledModelResizeInputTensor": [_VP, C.c_size_t, C.c_size_t, C.POINTER(C.c_int), C.c_size_t],
    "LiteRtGetCompiledModelInputTensorLayout": [_VP, C.c_size_t, C.c_size_t, _VP],
    "LiteRtGetCompiledModelOutputTensorLayouts": [_VP, C.c_size_t, C.c_size_t, _VP, C.c_bool],
    "LiteRtGetCompiledModelInputBufferRequirements": [_VP, C.c_size_t, C.c_size_t, C.POINTER(_VP)],
    "LiteRtGetCompiledModelOutputBufferRequirements": [_VP, C.c_size_t, C.c_size_t, C.POINTER(_VP)],
    "LiteRtGetTensorBufferRequirementsBufferSize": [_VP, C.POINTER(C.c_size_t)],
    "LiteRtCreateManagedTensorBufferFromRequirements": [_VP, _VP, _VP, C.POINTER(_VP)],
    "LiteRtLockTensorBuffer": [_VP, C.POINTER(_VP), C.c_int],
    "LiteRtUnlockTensorBuffer": [_VP],
    "LiteRtRunCompiledModel": [_VP, C.c_size_t, C.c_size_t, _VP, C.c_size_t, _VP],
    "LiteRtCompiledModelGetProfiler": [_VP, C.POINTER(_VP)],
    "LiteRtStartProfiler": [_VP],
    "LiteRtStopProfiler": [_VP],
    "LiteRtResetProfiler": [_VP],
    "LiteRtGetNumProfilerEvents": [_VP, C.POINTER(C.c_int)],
    "LiteRtGetProfilerEvents": [_VP, C.c_int, _VP],
}
_DESTROY = ("LiteRtDestroyTensorBuffer", "LiteRtDestroyCompiledModel", "LiteRtDestroyOptions",
            "LiteRtDestroyModel", "LiteRtDestroyEnvironment")


def _load(path: str) -> C.CDLL:
    try:
        lib = C.CDLL(path)
    except OSError as exc:
        raise ProfilerUnavailable(f"no per-op profile: cannot load {path}: {str(exc)[:200]}") from None
    for name, args in {**_SIGNATURES, **{d: [_VP] for d in _DESTROY}}.items():
        fn = getattr(lib, name, None)
        if fn is None:
            raise ProfilerUnavailable(f"no per-op profile: {os.path.basename(path)} has no {name} "
                                      "(the C API profiler needs ai-edge-litert>=2.3)")
        fn.argtypes = args
        fn.restype = None if name in _DESTROY else C.c_int
    return lib


class _Session:
    """One compiled model with profiling on, its buffers, and everything to free afterwards."""

    def __init__(self, lib: C.CDLL, model_path: str, threads: int, accelerator: int, seed: int,
                 profiling: bool = True, input_shapes: dict[str, list[int]] | None = None) -> None:
        self.lib = lib
        self.profiling = profiling  # False: the same compiled model without the option (overhead benchmark)
        self._free: list[tuple[str, _VP]] = []
        self._keep: list[object] = []  # the model bytes: LiteRtCreateModelFromBuffer does not copy them
        try:
            self._build(model_path, threads, accelerator, seed, input_shapes or {})
        except BaseException:
            self.close()
            raise

    def _ok(self, status: int, what: str) -> None:
        if status != 0:
            raise ProfilerUnavailable(f"no per-op profile: LiteRT C API {what} failed (status {status})")

    def _options(self, threads: int, accelerator: int) -> _VP:
        lib, libc = self.lib, C.CDLL(None)
        libc.strdup.restype, libc.strdup.argtypes = _VP, [C.c_char_p]
        opts = _VP()
        self._ok(lib.LiteRtCreateOptions(C.byref(opts)), "LiteRtCreateOptions")
        self._free.append(("LiteRtDestroyOptions", opts))
        self._ok(lib.LiteRtSetOptionsHardwareAccelerators(opts, accelerator), "setting the CPU accelerator")
        # Opaque options are TOML text the library frees with free(): identifiers and keys of
        # litert/c/options/litert_runtime_options.cc and litert_cpu_options.cc.
        settings = [(b"xnnpack", f"num_threads = {int(threads)}\n".encode())]
        if self.profiling:
            settings.append((b"runtime_options_string", b"enable_profiling = true\n"))
        for ident, toml in settings:
            opaque = _VP()
            self._ok(lib.LiteRtCreateOpaqueOptions(ident, libc.strdup(toml), C.cast(libc.free, _VP),
                                                   C.byref(opaque)), f"{ident.decode()} options")
            self._ok(lib.LiteRtAddOpaqueOptions(opts, opaque), f"adding {ident.decode()} options")
        return opts

    def _build(self, model_path: str, threads: int, accelerator: int, seed: int,
               input_shapes: dict[str, list[int]]) -> None:
        import numpy as np

        lib = self.lib
        env, model, cm = _VP(), _VP(), _VP()
        self._ok(lib.LiteRtCreateEnvironment(0, None, C.byref(env)), "LiteRtCreateEnvironment")
        self._free.append(("LiteRtDestroyEnvironment", env))
        with open(model_path, "rb") as fh:
            data = fh.read()
        raw = C.create_string_buffer(data, len(data))
        self._keep.append(raw)
        self._ok(lib.LiteRtCreateModelFromBuffer(env, C.cast(raw, _VP), len(data), C.byref(model)),
                 "loading the model")
        self._free.append(("LiteRtDestroyModel", model))
        opts = self._options(threads, accelerator)
        self._ok(lib.LiteRtCreateCompiledModel(env, model, opts, C.byref(cm)), "compiling the model")
        self._free.insert(0, ("LiteRtDestroyCompiledModel", cm))
        self.env, self.model, self.cm = env, model, cm
        sig = _VP()
        self._ok(lib.LiteRtGetModelSignature(model, 0, C.byref(sig)), "reading the model's signature")
        n_in, n_out = C.c_size_t(), C.c_size_t()
        self._ok(lib.LiteRtGetNumSignatureInputs(sig, C.byref(n_in)), "counting inputs")
        self._ok(lib.LiteRtGetNumSignatureOutputs(sig, C.byref(n_out)), "counting outputs")
        for i in range(n_in.value):  # the shapes the timed runs used, for inputs with dynamic dims
            tensor, name = _VP(), C.c_char_p()
            self._ok(lib.LiteRtGetSignatureInputTensorByIndex(sig, i, C.byref(tensor)), "reading an input")
            self._ok(lib.LiteRtGetTensorName(tensor, C.byref(name)), "reading an input's name")
            shape = input_shapes.get((name.value or b"").decode("utf-8", "replace"))
            layout = (C.c_byte * _LAYOUT_BYTES)()
            self._ok(lib.LiteRtGetCompiledModelInputTensorLayout(cm, 0, i, layout), "reading an input layout")
            rank = C.c_uint32.from_buffer(layout).value & 0x7F
            if shape and list(shape) != list((C.c_int32 * rank).from_buffer(layout, 4)):
                dims = (C.c_int * len(shape))(*[int(d) for d in shape])
                self._ok(lib.LiteRtCompiledModelResizeInputTensor(cm, 0, i, dims, len(shape)),
                         f"resizing input {i} to {list(shape)}")
        out_layouts = (C.c_byte * (_LAYOUT_BYTES * max(1, n_out.value)))()
        self._ok(lib.LiteRtGetCompiledModelOutputTensorLayouts(cm, 0, n_out.value, out_layouts, True),
                 "reading output layouts")
        rng = np.random.default_rng(seed)
        self.shapes: list[list[int]] = []
        self.inputs = [self._buffer(sig, i, True, None) for i in range(n_in.value)]
        self.outputs = [self._buffer(sig, i, False, out_layouts) for i in range(n_out.value)]
        for buf, element_type, size in self.inputs:
            self._fill(buf, element_type, size, rng, np)
        self._in = (_VP * max(1, len(self.inputs)))(*[b for b, _, _ in self.inputs])
        self._out = (_VP * max(1, len(self.outputs)))(*[b for b, _, _ in self.outputs])
        prof = _VP()
        if not self.profiling:
            self.profiler = prof
            return
        self._ok(lib.LiteRtCompiledModelGetProfiler(cm, C.byref(prof)), "LiteRtCompiledModelGetProfiler")
        if not prof.value:
            raise ProfilerUnavailable("no per-op profile: this LiteRT build gave the compiled model no profiler "
                                      "(runtime option enable_profiling not honoured)")
        self.profiler = prof

    def _buffer(self, sig: _VP, i: int, is_input: bool,
                out_layouts: C.Array[C.c_byte] | None) -> tuple[_VP, int, int]:
        lib = self.lib
        tensor, req, buf, size = _VP(), _VP(), _VP(), C.c_size_t()
        get = lib.LiteRtGetSignatureInputTensorByIndex if is_input else lib.LiteRtGetSignatureOutputTensorByIndex
        self._ok(get(sig, i, C.byref(tensor)), "reading a signature tensor")
        ranked = (C.c_byte * 256)()  # LiteRtRankedTensorType: element type, then the layout
        self._ok(lib.LiteRtGetRankedTensorType(tensor, ranked), "reading a tensor type (unranked tensor?)")
        if is_input:  # the compiled model's layout: dynamic dims (-1) resolved
            self._ok(lib.LiteRtGetCompiledModelInputTensorLayout(self.cm, 0, i, C.byref(ranked, 4)),
                     "reading an input layout")
        else:
            assert out_layouts is not None, "an output's layout comes from the compiled model's output layouts"
            C.memmove(C.byref(ranked, 4), C.byref(out_layouts, _LAYOUT_BYTES * i), _LAYOUT_BYTES)
        reqs = lib.LiteRtGetCompiledModelInputBufferRequirements if is_input else \
            lib.LiteRtGetCompiledModelOutputBufferRequirements
        self._ok(reqs(self.cm, 0, i, C.byref(req)), "reading buffer requirements")
        self._ok(lib.LiteRtGetTensorBufferRequirementsBufferSize(req, C.byref(size)), "reading a buffer size")
        self._ok(lib.LiteRtCreateManagedTensorBufferFromRequirements(self.env, ranked, req, C.byref(buf)),
                 "creating a tensor buffer")
        self._free.insert(0, ("LiteRtDestroyTensorBuffer", buf))
        if is_input:  # what was profiled: rank in the low 7 bits of the layout's first word, then the dims
            rank = C.c_uint32.from_buffer(ranked, 4).value & 0x7F
            self.shapes.append(list((C.c_int32 * rank).from_buffer(ranked, 8)))
        return buf, C.c_int32.from_buffer(ranked).value, size.value

    def _fill(self, buf: _VP, element_type: int, size: int, rng: numpy.random.Generator, np: ModuleType) -> None:
        """Inputs like runner.py's: uniform [0, 1) floats, small random integers, random bools."""
        host = _VP()
        self._ok(self.lib.LiteRtLockTensorBuffer(buf, C.byref(host), _LOCK_WRITE), "locking an input")
        try:
            assert host.value is not None, "LiteRtLockTensorBuffer gave no host address"
            raw = (C.c_ubyte * size).from_address(host.value)
            dtype = {1: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_, 7: np.int16,
                     9: np.int8, 10: np.float16}.get(element_type)
            if dtype is None:
                raise ProfilerUnavailable(f"no per-op profile: input element type {element_type} not handled")
            view = np.frombuffer(raw, dtype=dtype)
            if np.issubdtype(dtype, np.floating):
                view[:] = rng.random(view.shape, dtype=np.float32).astype(dtype)
            elif dtype == np.bool_:
                view[:] = rng.random(view.shape) > 0.5
            else:
                info = np.iinfo(dtype)
                view[:] = rng.integers(max(info.min, -128), min(info.max, 255) + 1, size=view.shape).astype(dtype)
        finally:
            self.lib.LiteRtUnlockTensorBuffer(buf)

    def run(self) -> None:
        self._ok(self.lib.LiteRtRunCompiledModel(self.cm, 0, len(self.inputs), self._in, len(self.outputs),
                                                 self._out), "running the model")

    def events(self) -> list[Event]:
        """(tag, event type, elapsed us, metadata1) of every event since the last reset."""
        n = C.c_int()
        self._ok(self.lib.LiteRtGetNumProfilerEvents(self.profiler, C.byref(n)), "counting profiler events")
        if n.value <= 0:
            return []
        arr = (_Event * n.value)()
        self._ok(self.lib.LiteRtGetProfilerEvents(self.profiler, n.value, arr), "reading profiler events")
        out: list[Event] = []
        for e in arr:
            if e.event_type not in _EVENT_TYPES or e.tag is None:
                raise ProfilerUnavailable("no per-op profile: the profiler's events do not have the layout this "
                                          "reader knows (ProfiledEventData changed in this LiteRT build)")
            out.append((e.tag.decode("utf-8", "replace"), int(e.event_type), int(e.elapsed_us), int(e.metadata1)))
        return out

    def close(self) -> None:
        """Buffers, compiled model, options, model, environment: each freed before what it uses."""
        for name, handle in sorted(self._free, key=lambda f: _DESTROY.index(f[0])):
            if handle.value:
                getattr(self.lib, name)(handle)
        self._free = []


def _is_mac_kernel(kernel: str) -> bool:
    return kernel.split(" (")[0].strip() in XNNPACK_MAC_KERNELS


def _op_types(rows: list[OpRow], tflite_ops: list[str] | None, cpu_nodes: set[int],
              names: list[str] | None = None) -> str:
    """Name each XNNPACK MAC kernel by the TFLite node it runs, so the .tflite's MACs can sit next to it.

    XNNPACK builds its operators in node order and turns each delegated conv / depthwise / transposed
    conv / fully-connected / batch-matmul node into exactly one MAC kernel (a 1x1 CONV_2D may run as
    "Fully Connected"), so the k-th MAC kernel is the k-th delegated MAC node. When the counts differ
    the kernels keep their own names (no MACs) and the returned note says so.
    """
    kernels = [r for r in rows if r["level"] == "xnnpack" and _is_mac_kernel(r["node_type"])]
    if not kernels:
        return "no XNNPACK MAC kernels"
    if tflite_ops is None:
        return "no TFLite op list given: XNNPACK kernels keep their names"
    nodes = [(i, name) for i, name in enumerate(tflite_ops) if name in MAC_OPS and i not in cpu_nodes]
    if len(nodes) != len(kernels):
        return (f"{len(kernels)} XNNPACK MAC kernels for {len(nodes)} delegated MAC nodes: "
                "kernels keep their names")
    for row, (index, name) in zip(kernels, nodes):
        row["op_type"], row["tflite_node"] = name, index
        if names and index < len(names) and names[index]:
            row["tflite_name"] = names[index]  # the node's output tensor (first fused name)
    return "k-th XNNPACK MAC kernel = k-th delegated MAC node (node order)"


def summarize(runs: list[list[Event]], tflite_ops: list[str] | None = None,
              tflite_names: list[str] | None = None) -> dict[str, object]:
    """Per-op rows (median over runs), per-op-type totals, and the whole-invoke time, from raw events.

    Ops are XNNPACK operators where the delegate profiles its own (event types 4/8) and TFLite nodes
    elsewhere (type 2); a delegate's umbrella node is dropped then, so no time is counted twice. An op
    is its position among the run's op events (XNNPACK numbers its operators per partition).
    """
    delegate_ops = any(t in (_DELEGATE_OP, _DELEGATE_PROFILED_OP) for run in runs for _, t, _, _ in run)
    per_op: dict[tuple[int, str], list[float]] = {}
    meta_of: dict[tuple[int, str], tuple[str, int]] = {}
    invoke: list[float] = []
    for run in runs:
        pos = 0
        for tag, kind, us, meta in run:
            if kind == _DEFAULT and tag == "Invoke":
                invoke.append(us / 1000.0)
                continue
            if kind in (_DELEGATE_OP, _DELEGATE_PROFILED_OP):
                level = "xnnpack"
            elif kind == _OPERATOR and not (delegate_ops and "delegate" in tag.lower()):
                level = "tflite"
            else:
                continue
            key = (pos, tag)
            pos += 1
            per_op.setdefault(key, []).append(us / 1000.0)
            meta_of[key] = (level, meta)
    rows: list[OpRow] = []
    for (pos, tag), samples in sorted(per_op.items()):
        level, meta = meta_of[(pos, tag)]
        rows.append({"position": pos, "node_type": tag, "op_type": tag, "level": level, "node_index": meta,
                     "median_ms": round(statistics.median(samples), 4),
                     "avg_ms": round(sum(samples) / len(samples), 4), "times_called": len(samples)})
    cpu_nodes = {r["node_index"] for r in rows if r["level"] == "tflite"}
    mapping = _op_types(rows, tflite_ops, cpu_nodes, tflite_names)
    for r in rows:  # a TFLite op the delegate left on the CPU: metadata1 is its node index
        if r["level"] == "tflite":
            r["tflite_node"] = r["node_index"]
            if tflite_names and 0 <= r["node_index"] < len(tflite_names) and tflite_names[r["node_index"]]:
                r["tflite_name"] = tflite_names[r["node_index"]]
    total = sum(r["median_ms"] for r in rows)
    for r in rows:
        r["pct"] = round(100.0 * r["median_ms"] / total, 3) if total else None
    types: dict[str, TypeRow] = {}
    for r in rows:
        t = types.setdefault(r["op_type"], {"node_type": r["op_type"], "count": 0, "avg_ms": 0.0, "kernels": []})
        t["count"] += 1
        t["avg_ms"] += r["median_ms"]
        if r["node_type"] != r["op_type"] and r["node_type"] not in t["kernels"]:
            t["kernels"].append(r["node_type"])
    by_type = sorted(types.values(), key=lambda t: -t["avg_ms"])
    for t in by_type:
        t["avg_ms"] = round(t["avg_ms"], 4)
        t["avg_pct"] = round(100.0 * t["avg_ms"] / total, 3) if total else None
    out: dict[str, object] = {
        "run_order": rows, "by_node_type": by_type, "nodes_executed": len(rows), "runs": len(runs),
        "op_type_mapping": mapping, "sum_of_ops_ms": round(total, 4),
        "time_per_op": "median over runs (ms); a type's time is the sum of its ops' medians"}
    if invoke:
        p50 = round(statistics.median(invoke), 4)
        out["invoke_p50_ms"] = p50
        out["sum_of_ops_over_invoke"] = round(total / p50, 4) if p50 else None
    return out


def profile(model_path: str, threads: int = 1, delegate: str = "xnnpack", runs: int = 20, warmup: int = 2,
            seed: int = 0, max_s: float = 60.0, tflite_ops: list[str] | None = None,
            input_shapes: dict[str, list[int]] | None = None,
            tflite_names: list[str] | None = None) -> dict[str, object]:
    """Profile `runs` invocations (after `warmup`) of the model on LiteRT's CPU path (XNNPACK).

    `tflite_ops`: the model's op names in node order, to name the MAC kernels (see _op_types).
    `input_shapes`: {input tensor name: shape} for inputs with dynamic dims (the runner's resolved shapes).
    Returns the summary (see `summarize`) with the method named; raises ProfilerUnavailable.
    """
    if delegate != "xnnpack":
        raise ProfilerUnavailable("no per-op profile: the LiteRT C API profiler compiles for LiteRT's CPU "
                                  f"accelerator (XNNPACK), not delegate {str(delegate)[:40]}")
    lib = _load(library_path())
    s = _Session(lib, model_path, threads, _HW_CPU, seed, input_shapes=input_shapes)
    try:
        for _ in range(max(0, warmup)):
            s.run()
        p = s.profiler
        collected: list[list[Event]] = []
        deadline = time.monotonic() + max_s
        while len(collected) < max(1, runs) and (not collected or time.monotonic() < deadline):
            s._ok(lib.LiteRtResetProfiler(p), "LiteRtResetProfiler")
            s._ok(lib.LiteRtStartProfiler(p), "LiteRtStartProfiler")
            s.run()
            s._ok(lib.LiteRtStopProfiler(p), "LiteRtStopProfiler")
            collected.append(s.events())
        shapes = s.shapes
    finally:
        s.close()
    out = summarize(collected, tflite_ops, tflite_names)
    out["input_shapes"] = shapes
    if not out["run_order"]:
        raise ProfilerUnavailable("no per-op profile: the LiteRT profiler recorded no operator events")
    out.update({"method": METHOD, "threads": int(threads), "delegate": delegate})
    return out


def main(argv: list[str] | None = None) -> int:
    """`python3 litert_profile.py --job -`: the runner's child process (a crash here loses no latency).

    Prints one JSON line: {"op_profile": {...}} or {"op_profile_error": "one line"}.
    """
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", required=True, help="path to a JSON job, or - for stdin")
    args = parser.parse_args(argv)
    out: dict[str, object]
    try:
        job = json.loads(sys.stdin.read() if args.job == "-" else open(args.job).read())
        out = {"op_profile": profile(job["model_path"], threads=int(job.get("threads", 1)),
                                     delegate=str(job.get("delegate", "xnnpack")), runs=int(job.get("runs", 20)),
                                     seed=int(job.get("seed", 0)), max_s=float(job.get("max_s", 60.0)),
                                     tflite_ops=job.get("tflite_ops"), input_shapes=job.get("input_shapes"),
                                     tflite_names=job.get("tflite_names"))}
    except ProfilerUnavailable as exc:
        out = {"op_profile_error": str(exc)}
    except Exception as exc:  # one line for the result row, never a traceback in place of the runner's JSON
        out = {"op_profile_error": f"no per-op profile: {type(exc).__name__}: {str(exc)[:300]}"}
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
