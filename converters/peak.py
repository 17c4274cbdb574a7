"""The peak probe: one large matrix multiply as a .tflite, timed through the same interpreter.

Its achieved GFLOP/s is the most this runtime gets out of a device for dense float math, so a
model's GFLOP/s (2 x MACs / latency) divided by it says what fraction of the hardware the model
uses. The probe runs like any other model (same runner, threads and delegate), once per device.
"""
from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import TypedDict

PROBE_SIZE = 1024  # M = K = N: 2.1 GFLOP per invoke, ~4 MB of weights


def probe_flops(size: int = PROBE_SIZE) -> int:
    """Floating-point operations of one invoke: a multiply and an add per MAC."""
    return 2 * size * size * size


def build_probe(size: int = PROBE_SIZE, seed: int = 0, dtype: str = "fp32") -> bytes:
    """A .tflite with a single FULLY_CONNECTED: [size, size] input x [size, size] constant weights.

    dtype "int8" quantizes it fully (int8 in, weights and out): int8 kernels run several times
    faster than float ones, so int8 variants are compared with this peak, not the float one.
    """
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    weights = tf.constant(rng.standard_normal((size, size), dtype=np.float32) / size)

    @tf.function(input_signature=[tf.TensorSpec((size, size), tf.float32, name="x")])
    def matmul(x):
        return tf.matmul(x, weights)

    conv = tf.lite.TFLiteConverter.from_concrete_functions([matmul.get_concrete_function()], matmul)
    if dtype == "int8":
        samples = [[rng.standard_normal((size, size), dtype=np.float32)] for _ in range(2)]
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: iter(samples)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int8
    elif dtype != "fp32":
        raise ValueError(f"probe dtype {dtype!r}: fp32 or int8")
    return conv.convert()


def probe_path(cache_dir: str | Path | None = None, size: int = PROBE_SIZE, dtype: str = "fp32") -> tuple[Path, int]:
    """The probe .tflite in the artifact cache (built once per TensorFlow version) and its FLOPs."""
    if cache_dir is None:
        from converters.cache import default_cache_dir

        cache_dir = default_cache_dir()
    try:
        tf_version = metadata.version("tensorflow")
    except metadata.PackageNotFoundError:
        tf_version = "none"
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"peak-probe-{dtype}-{size}-tf{tf_version}.tflite"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(build_probe(size, dtype=dtype))
        tmp.replace(path)
    return path, probe_flops(size)


def peak_gflops_from_latency(flops: float, p50_us: float) -> float:
    """GFLOP/s of one invoke of `flops` operations taking `p50_us` microseconds."""
    if p50_us <= 0:
        raise ValueError(f"latency must be positive, got {p50_us} us")
    return flops / (p50_us * 1e-6) / 1e9


def hardware_fraction(achieved_gflops: float | None, peak_gflops: float | None) -> float | None:
    """What share of the probe's peak a model reaches (None when either is unknown)."""
    if not achieved_gflops or not peak_gflops:
        return None
    return achieved_gflops / peak_gflops


class PeakProbe(TypedDict):
    """One run of the matmul probe on this host."""

    probe: str  # the probe's .tflite file name
    dtype: str  # fp32 | int8
    flops: int  # per inference
    p50_us: float
    runs: int
    threads: int
    delegate: str
    peak_gflops: float


def measure_here(threads: int = 1, delegate: str = "xnnpack", min_runs: int = 10, min_s: float = 1.0,
                 cache_dir: str | Path | None = None, size: int = PROBE_SIZE, dtype: str = "fp32") -> PeakProbe:
    """Run the probe on this host through rpi/runner.py's own timing loop; returns p50 and GFLOP/s."""
    from rpi.runner import run_job

    path, flops = probe_path(cache_dir, size, dtype)
    result = run_job({"model_path": str(path), "threads": threads, "delegate": delegate, "min_runs": min_runs,
                      "min_s": min_s, "warmup_runs": 2, "warmup_s": 0.2, "thermal_glob": ""})
    samples = result["latencies_us"]
    lat = sorted(float(x) for x in samples) if isinstance(samples, list) else []
    p50 = lat[len(lat) // 2]
    return {"probe": path.name, "dtype": dtype, "flops": flops, "p50_us": p50, "runs": len(lat), "threads": threads,
            "delegate": delegate, "peak_gflops": round(peak_gflops_from_latency(flops, p50), 2)}


if __name__ == "__main__":  # python -m converters.peak: this host's peak, as JSON
    print(json.dumps(measure_here()))
