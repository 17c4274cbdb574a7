#!/usr/bin/env python3
"""How much does harness add to a measurement? Three ways, side by side, in one run.

For a model of about 1 ms and one of about 50 ms on this host:
  bare    - a bare `invoke()` loop in a fresh process (the floor),
  harness - rpi/runner.py through the local target, exactly as `harness run` measures,
  peer    - the benchmark tool inside the ai-edge-litert wheel
            (`python -m ai_edge_litert.tools.benchmark_litert_model`).
Each round runs the three in a rotated order; the figure per method is the median over rounds of
each round's median latency. Targets: harness/bare <= 1.02 and harness/peer <= 1.02.

Usage: python benchmarks/overhead.py [--rounds 5] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BARE = r"""
import sys, time, numpy as np
from ai_edge_litert.interpreter import Interpreter
path, threads, runs, warm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
it = Interpreter(model_path=path, num_threads=threads)
it.allocate_tensors()
for d in it.get_input_details():
    it.set_tensor(d["index"], np.random.default_rng(0).random(d["shape"], dtype=np.float32))
for _ in range(warm):
    it.invoke()
out = []
for _ in range(runs):
    t0 = time.perf_counter_ns(); it.invoke(); out.append((time.perf_counter_ns() - t0) / 1000.0)
out.sort()
print(out[len(out) // 2] if len(out) % 2 else (out[len(out) // 2 - 1] + out[len(out) // 2]) / 2)
"""

# name -> (builder kwargs, timed runs, warm-up runs); sizes picked for ~1 ms and ~50 ms on 2 cores.
MODELS = {
    "srcnn_915_96px (~1 ms)": ({"size": 96, "f2": 1}, 400, 40),
    "srcnn_955_384px (~50 ms)": ({"size": 384, "f2": 5}, 30, 3),
}


def build(kwargs: dict, path: Path) -> None:
    import tensorflow as tf
    import tf_keras as keras

    from converters.zoo import srcnn

    keras.utils.set_random_seed(0)
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(srcnn(**kwargs)).convert())


def bare(path: Path, threads: int, runs: int, warm: int) -> float:
    out = subprocess.run([sys.executable, "-c", BARE, str(path), str(threads), str(runs), str(warm)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def harness(path: Path, threads: int, runs: int, warm: int) -> float:
    from devices.local_target import LocalTarget
    from devices.target import JobSpec
    from harness.planning.config import BenchSettings, LocalDevice
    from harness.statistics.latency import summarize

    target = LocalTarget(LocalDevice(name="local", kind="local"))
    target.prepare()
    bench = BenchSettings(threads=threads, warmup_runs=warm, warmup_s=0, min_runs=runs, min_s=0, max_runs=runs,
                          cooldown_s=0)
    raw = target.benchmark(JobSpec(model_path=path, bench=bench))
    if raw.runner.get("error"):
        raise RuntimeError(raw.runner["error"])
    return summarize(raw.runner["latencies_us"]).p50_us


def peer(path: Path, threads: int, runs: int, warm: int) -> float:
    with tempfile.NamedTemporaryFile(suffix=".json") as fh:
        subprocess.run([sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model", "--model", str(path),
                        "--num_runs", str(runs), "--warmup_runs", str(warm), "--num_threads", str(threads),
                        "--result_json", fh.name], capture_output=True, text=True, check=True)
        return json.loads(Path(fh.name).read_text())["latency"]["median_ms"] * 1000.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    methods = {"bare": bare, "harness": harness, "peer": peer}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (kwargs, runs, warm) in MODELS.items():
            path = Path(tmp) / "model.tflite"
            build(kwargs, path)
            per: dict[str, list[float]] = {m: [] for m in methods}
            order = list(methods)
            for r in range(args.rounds):
                for m in order[r % 3:] + order[: r % 3]:
                    per[m].append(methods[m](path, args.threads, runs, warm))
            med = {m: statistics.median(v) for m, v in per.items()}
            rows.append((name, med, per))
    print(f"\nmedian of {args.rounds} round medians, {args.threads} threads (latency in ms)")
    print(f"{'model':<26}{'bare':>9}{'harness':>9}{'peer':>9}{'harness/bare':>14}{'harness/peer':>14}")
    for name, med, _ in rows:
        print(f"{name:<26}{med['bare'] / 1e3:>9.3f}{med['harness'] / 1e3:>9.3f}{med['peer'] / 1e3:>9.3f}"
              f"{med['harness'] / med['bare']:>14.3f}{med['harness'] / med['peer']:>14.3f}")
    print("\nper-round medians (ms):")
    for name, _, per in rows:
        for m, v in per.items():
            print(f"  {name:<26}{m:<8} " + " ".join(f"{x / 1e3:.3f}" for x in v))
    print("\npeer note: benchmark_litert_model reports its median rounded to 0.01 ms.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
