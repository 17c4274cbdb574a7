#!/usr/bin/env python3
"""On-device TF-TRT runner: a SavedModel in, TensorRT segments built by TensorFlow, every call timed.

The Jetson counterpart of runner.py for `runtime: tftrt`. It imports only the standard library,
numpy and TensorFlow (JetPack's TensorFlow is built with TensorRT; pip's never is), plus
runner.py from its own directory for the shared probes, and prints ONE JSON line in runner.py's
shape. Each call feeds host-memory inputs and reads every output back (`.numpy()`), so a latency
includes the copies in and out, as trtexec's host latency does.

`allow_plain_tf: true` times the plain SavedModel with TensorFlow (runtime "tensorflow") where
TensorRT is missing: a labelled fallback, and the way this path is exercised off a Jetson.

`sustained_s` > 0 (harness run --sustained) runs runner.py's own sustained loop on the converted function:
one unbroken loop in `window_s` windows, temperatures and clocks read at each window end.

Usage: python3 tftrt_runner.py --job job.json   (or --job - to read the job from stdin)
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import sys
import time
import traceback
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: a board's older Python never evaluates them
    from collections.abc import Iterator, Sequence
    from types import ModuleType
    from typing import Protocol

    from rpi.runner import Timing

    class _DType(Protocol):
        name: str
        as_numpy_dtype: type

    class _Shape(Protocol):
        rank: int | None

        def as_list(self) -> list[int | None]: ...

    class _Spec(Protocol):  # tf.TensorSpec
        shape: _Shape
        dtype: _DType

    class _Tensor(Protocol):  # tf.Tensor (eager)
        shape: Sequence[int]
        dtype: _DType

        def numpy(self) -> object: ...

    class _Node(Protocol):  # NodeDef
        op: str

    class _FunctionDef(Protocol):
        node_def: Sequence[_Node]

    class _Library(Protocol):
        function: Sequence[_FunctionDef]

    class _GraphDef(Protocol):
        node: Sequence[_Node]
        library: _Library

    class _Graph(Protocol):
        def as_graph_def(self) -> _GraphDef: ...

    class Signature(Protocol):
        """What this runner uses of a SavedModel signature (a tf ConcreteFunction; TensorFlow ships no types)."""
        structured_input_signature: tuple[object, dict[str, _Spec]]
        graph: _Graph

        def __call__(self, **inputs: _Tensor) -> dict[str, _Tensor]: ...

    class TrtJob(Timing, total=False):
        """A TF-TRT job: DEFAULT_JOB's keys and the required saved_model_dir."""
        saved_model_dir: str
        precision: str
        threads: int | None
        signature: str
        input_shapes: dict[str, list[int]] | None
        seed: int
        allow_plain_tf: bool
        converted_dir: str | None
        max_workspace_bytes: int
        minimum_segment_size: int
        thermal_glob: str
        ignore_sensors: list[str]
        cpufreq_glob: str

try:  # pushed beside runner.py on a board; imported as rpi.tftrt_runner on the host
    from runner import SCHEMA_VERSION, _proc_status_kb, _reset_peak_rss, run_sampler, timed_loop
except ImportError:  # pragma: no cover - host package layout
    from rpi.runner import SCHEMA_VERSION, _proc_status_kb, _reset_peak_rss, run_sampler, timed_loop

NO_TENSORRT = ("this TensorFlow has no TensorRT (pip builds never do); "
               "use runtime: tensorrt (trtexec) or JetPack's TensorFlow")
PRECISIONS = ("fp32", "fp16", "int8")
EXIT_NO_TENSORRT = 4
EXIT_FAILED = 3

DEFAULT_JOB: TrtJob = {
    "precision": "fp16",
    "threads": None,  # unused by TF-TRT (GPU); plain TensorFlow uses it for intra-op threads
    "signature": "serving_default",
    "input_shapes": None,  # {"input_name": [1, 224, 224, 3]} where the signature has unknown dims
    "seed": 0,
    "allow_plain_tf": False,
    "converted_dir": None,  # cache of converted models (engines included), per precision and TF version
    "max_workspace_bytes": 1 << 30,
    "minimum_segment_size": 3,
    "warmup_runs": 1,
    "warmup_s": 0.5,
    "min_runs": 50,
    "min_s": 1.0,
    "max_s": 150.0,
    "max_runs": 0,
    "sample_interval_s": 0.5,
    "thermal_glob": "/sys/class/thermal/thermal_zone*",
}


class NoTensorRT(RuntimeError):
    """The board's TensorFlow cannot run TF-TRT: an expected outcome, reported without a traceback."""


def tensorrt_build_flag() -> bool | None:
    """is_tensorrt_build from TensorFlow's build_info, read without importing TensorFlow (slow on a Jetson)."""
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = list(spec.submodule_search_locations)[0]
    try:
        with open(os.path.join(root, "python", "platform", "build_info.py")) as fh:
            text = fh.read()
    except OSError:
        return None
    m = re.search(r"is_tensorrt_build'?\]?[\s:=,]*(True|False)", text)
    return None if m is None else m.group(1) == "True"


def _tf_version() -> str | None:
    for name in ("tensorflow", "tensorflow-cpu", "tensorflow-gpu"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _tensorrt_version() -> str | None:
    """TensorRT version TensorFlow loaded (private API; None where it moved)."""
    try:
        from tensorflow.python.compiler.tensorrt import trt_convert

        version = trt_convert._pywrap_py_utils.get_loaded_tensorrt_version()
        return ".".join(str(v) for v in version)
    except Exception:
        return None


def make_inputs(fn: Signature, cfg: TrtJob, tf: ModuleType, np: ModuleType) -> dict[str, _Tensor]:
    """Random host-memory tensors for every signature input; an unknown batch dim becomes 1."""
    rng = np.random.default_rng(int(cfg["seed"]))
    given = cfg.get("input_shapes") or {}
    out: dict[str, _Tensor] = {}
    for name, spec in sorted(fn.structured_input_signature[1].items()):
        dims = list(spec.shape.as_list()) if spec.shape.rank is not None else None
        if name in given:
            dims = [int(d) for d in given[name]]
        if dims is None:
            raise ValueError(f"input {name!r} has unknown rank; give input_shapes")
        if dims and dims[0] is None:
            dims[0] = 1
        if any(d is None for d in dims):
            raise ValueError(f"input {name!r} has unknown dims {spec.shape}; give input_shapes")
        dtype = spec.dtype.as_numpy_dtype
        if np.issubdtype(dtype, np.floating):
            data = rng.random(dims, dtype=np.float32).astype(dtype)
        elif np.issubdtype(dtype, np.integer):
            data = rng.integers(0, 128, size=dims).astype(dtype)
        elif dtype == np.bool_:
            data = rng.random(dims) > 0.5
        else:
            raise ValueError(f"unsupported input dtype {spec.dtype.name} for {name!r}")
        with tf.device("/CPU:0"):
            out[name] = tf.constant(data)
    return out


def count_engine_ops(fn: Signature) -> tuple[int, int]:
    """(TRTEngineOp nodes, other nodes) in a converted function's graph and its function library."""
    graph_def = fn.graph.as_graph_def()
    nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
    engines = sum(1 for n in nodes if n.op == "TRTEngineOp")
    return engines, len(nodes) - engines


def convert(tf: ModuleType, cfg: TrtJob, inputs: dict[str, _Tensor], out_dir: str) -> None:
    """TF-TRT conversion, engines built for the job's input shapes, saved to out_dir."""
    trt = tf.experimental.tensorrt
    precision = cfg["precision"]
    params = {"precision_mode": precision.upper(), "max_workspace_size_bytes": int(cfg["max_workspace_bytes"]),
              "minimum_segment_size": int(cfg["minimum_segment_size"]), "use_calibration": precision == "int8"}
    common = {"input_saved_model_dir": cfg["saved_model_dir"], "input_saved_model_signature_key": cfg["signature"]}
    try:
        try:
            converter = trt.Converter(**common, **params)
        except TypeError:  # TensorFlow before 2.9 takes a ConversionParams instead
            converter = trt.Converter(**common, conversion_params=trt.ConversionParams(**params))
    except RuntimeError as exc:  # TensorRT linked at build time but its libraries do not load
        raise RuntimeError(f"TF-TRT unavailable: {(str(exc).strip().splitlines() or ['?'])[0][:300]}") from exc
    ordered = tuple(inputs[name] for name in sorted(inputs))  # the converted function's flat input order

    def feed() -> Iterator[tuple[_Tensor, ...]]:
        yield ordered

    try:
        if precision == "int8":  # calibrated on random inputs: the figure is for speed, not accuracy
            converter.convert(calibration_input_fn=feed)
        else:
            converter.convert()
        converter.build(input_fn=feed)
        converter.save(out_dir)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise RuntimeError(f"TF-TRT {precision} conversion failed: {first}") from exc


def load_model(tf: ModuleType, cfg: TrtJob, result: dict[str, object]) -> tuple[Signature, dict[str, _Tensor]]:
    """The signature to time: TF-TRT converted (or reused from converted_dir), or the plain SavedModel."""
    import numpy as np

    sig = cfg["signature"]
    plain = tf.saved_model.load(cfg["saved_model_dir"])
    if sig not in plain.signatures:
        raise ValueError(f"SavedModel has no signature {sig!r} (has: {', '.join(plain.signatures) or 'none'})")
    fn = plain.signatures[sig]
    inputs = make_inputs(fn, cfg, tf, np)
    if result["runtime"] == "tensorflow":
        return fn, inputs
    del plain, fn
    cache = cfg.get("converted_dir")
    target = os.path.join(cache, f"{cfg['precision']}-tf{tf.__version__}") if cache else None
    result["converted_now"] = not (target and os.path.isfile(os.path.join(target, "saved_model.pb")))
    if result["converted_now"]:
        if target:
            os.makedirs(str(cache), exist_ok=True)
            out = f"{target}.tmp{os.getpid()}"
        else:
            import atexit
            import tempfile

            tmp_root = tempfile.mkdtemp(prefix="tftrt-")
            atexit.register(shutil.rmtree, tmp_root, True)  # engines may be read from its assets at first call
            out = os.path.join(tmp_root, "converted")
        t0 = time.perf_counter_ns()
        convert(tf, cfg, inputs, out)
        result["conversion_us"] = (time.perf_counter_ns() - t0) / 1000.0
        if target:
            shutil.rmtree(target, ignore_errors=True)
            os.rename(out, target)
            out = target
    else:
        out = str(target)  # reused: converted_now is False only where target names a converted model
    fn = tf.saved_model.load(out).signatures[sig]
    result["trt_engine_ops"], result["tf_ops_outside_trt"] = count_engine_ops(fn)
    if result["trt_engine_ops"] == 0:
        result["note"] = "TF-TRT made no TensorRT segment: the whole graph runs in TensorFlow"
    return fn, inputs


def run_job(job: TrtJob) -> dict[str, object]:
    """Check TensorRT, convert and load, warm up, time every call, sample temperatures."""
    cfg: TrtJob = {**DEFAULT_JOB, **job}
    if cfg["precision"] not in PRECISIONS:
        raise ValueError(f"precision {cfg['precision']!r} is not one of {', '.join(PRECISIONS)}")
    if not os.path.isfile(os.path.join(cfg["saved_model_dir"], "saved_model.pb")):
        raise ValueError(f"no SavedModel at {cfg['saved_model_dir']} (no saved_model.pb)")
    allow_plain = bool(cfg["allow_plain_tf"])
    if importlib.util.find_spec("tensorflow") is None:
        raise NoTensorRT(f"no TensorFlow for {sys.executable}: install JetPack's TensorFlow (the harness venv "
                         "sees system packages), or use runtime: tensorrt (trtexec)")
    if tensorrt_build_flag() is False and not allow_plain:
        raise NoTensorRT(NO_TENSORRT)  # known without paying for the TensorFlow import
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    has_trt = bool(tf.sysconfig.get_build_info().get("is_tensorrt_build", False))
    if not has_trt and not allow_plain:
        raise NoTensorRT(NO_TENSORRT)
    given_threads = cfg.get("threads")
    threads = int(given_threads) if not has_trt and given_threads else None
    if threads:  # plain TensorFlow on the CPU: threads matter, and are recorded (set before any op runs)
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    result: dict[str, object] = {
        "schema_version": SCHEMA_VERSION,
        "runtime": "tf-trt" if has_trt else "tensorflow",
        "runtime_version": tf.__version__,
        "tensorrt_version": _tensorrt_version() if has_trt else None,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "model_path": cfg["saved_model_dir"],
        "precision": cfg["precision"] if has_trt else "fp32",
        "threads": threads,
        "delegate": f"tf-trt-{cfg['precision']}" if has_trt else "tensorflow",
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "error": None,
    }
    pattern = cfg["thermal_glob"]
    origin = time.monotonic()  # t = 0 of the readings and of sustained mode's windows alike
    sample, temps, freqs = run_sampler(pattern, cfg.get("ignore_sensors") or (),
                                       cfg.get("cpufreq_glob", "/sys/devices/system/cpu/cpu[0-9]*/cpufreq"), origin)

    sample("before")
    rss_reset = _reset_peak_rss()  # after the TensorFlow import: the peak covers conversion, load and runs
    rss_base_kb = _proc_status_kb("VmRSS")
    t0 = time.perf_counter_ns()
    fn, inputs = load_model(tf, cfg, result)
    result["init_us"] = (time.perf_counter_ns() - t0) / 1000.0
    result["inputs"] = [{"name": k, "shape": [int(s) for s in v.shape], "dtype": v.dtype.name}
                        for k, v in sorted(inputs.items())]

    def invoke() -> None:
        for value in fn(**inputs).values():
            value.numpy()

    # With sustained_s the shared loop runs unbroken in windows (runner.py _sustained_loop; SIGTERM ends it
    # with what it measured), the readings at each window end on the same origin.
    result.update(timed_loop(invoke, cfg, sample if pattern else None, origin))
    sample("after")
    hwm_kb = _proc_status_kb("VmHWM")
    ok = rss_reset and hwm_kb is not None and rss_base_kb is not None
    result["peak_rss_delta_mb"] = round((hwm_kb - rss_base_kb) / 1024.0, 3) if ok else None
    result["peak_rss_mb"] = round(hwm_kb / 1024.0, 3) if hwm_kb is not None else None
    result["temperatures"] = temps
    result["cpu_freq"] = freqs
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", required=True, help="path to a JSON job, or - for stdin")
    args = parser.parse_args(argv)
    # TensorFlow and TensorRT log from C++; keep stdout for the one JSON line.
    sys.stdout.flush()
    real_stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        text = sys.stdin.read() if args.job == "-" else open(args.job).read()
        job = json.loads(text)
        if "saved_model_dir" not in job:
            raise ValueError("job has no saved_model_dir")
        out, code = run_job(job), 0
    except NoTensorRT as exc:
        out = {"schema_version": SCHEMA_VERSION, "runtime": "tf-trt", "runtime_version": _tf_version(),
               "error": str(exc)}
        code = EXIT_NO_TENSORRT
    except Exception as exc:  # the host turns this into a result row with its error
        first = (str(exc).strip().splitlines() or [""])[0][:500]
        out = {"schema_version": SCHEMA_VERSION, "error": f"{type(exc).__name__}: {first}",
               "traceback": traceback.format_exc(limit=5)}
        code = EXIT_FAILED
    sys.stdout.flush()
    os.dup2(real_stdout, 1)
    os.close(real_stdout)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
