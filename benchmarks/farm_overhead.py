#!/usr/bin/env python3
"""What does the device farm cost, and what does a second agent buy? Side by side, in one run.

A real Ray cluster on this machine (a head and two agent nodes, as tests/test_farm.py starts it)
and local-kind devices running the real runner on a tiny .tflite:
  overhead - the same plan (2 devices x K models) in single-host mode, then through a one-node farm
             whose agent owns both devices; goal farm/single <= 1.10,
  scale-out - 2K jobs on one device of one agent, then the same 2K jobs as equal halves on one
             device of each of two agents; goal two/one <= 0.6.
The four modes are interleaved: each round runs every mode once, in an order rotated round to round,
so a slow minute of the shared host falls on all of them. A ratio is taken within each round (the
pair ran minutes apart at most); the figure is the median of the rounds' ratios, printed with its
range over the rounds and the host's load average before and after. A goal is "met" only when the
median is within it, and "met in every round" only when the worst round is too. Cluster start-up is
outside the timings; starting the device workers on the agents is inside them (a farm run pays it
every time). The last lines are the README's table, as measured.

Usage: python benchmarks/farm_overhead.py [--rounds 5] [--models 3] [--min-seconds 1]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
MB = 1024 * 1024


def tiny_model(path: Path) -> None:
    """The test suite's tiny conv model (about 0.2 ms here): the runner's start-up dominates a job."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(1)
    m = tf.keras.Sequential([tf.keras.Input((32, 32, 3)), tf.keras.layers.Conv2D(8, 3, activation="relu"),
                             tf.keras.layers.GlobalAveragePooling2D(), tf.keras.layers.Dense(4)])
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(m).convert())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--models", type=int, default=3, help="K: jobs per device in the overhead plan")
    ap.add_argument("--min-seconds", type=float, default=1.0, help="timed window of each job")
    args = ap.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    from harness.farm.agent import announce, node_resources
    from harness.farm.coordinator import Farm
    from harness.orchestration import orchestrate
    from harness.planning.config import parse_devices
    from harness.planning.plan import make_plan

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="farm-overhead-"))
    os.environ["XDG_CACHE_HOME"] = str(work / "cache")
    base = work / "m0.tflite"
    tiny_model(base)
    models = [str(base)] + [str(shutil.copyfile(base, work / f"m{i}.tflite")) for i in range(1, 2 * args.models)]
    bench = {"min_runs": 5, "min_s": args.min_seconds, "warmup_s": 0.0, "cooldown_s": 0.0, "threads": 1}

    def devices(*names: str):
        return parse_devices({"devices": [{"name": n, "kind": "local"} for n in names]}, "benchmark")

    def plan(names: tuple[str, ...], k: int):
        return make_plan(devices(*names), models=models[:k], variants=["fp32"], overrides=bench, peak_probe=False)

    # As every farm runs: Ray's token authentication on (the nodes and this driver inherit it).
    token = work / "auth_token"
    token.write_text(os.urandom(32).hex())
    token.chmod(0o600)
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token))
    os.environ.pop("RAY_AUTH_TOKEN", None)
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 80 * MB,
                                                            "include_dashboard": False})
    ray.init(address=cluster.address, namespace="harness", log_to_driver=False, logging_level="ERROR")
    try:
        agents = {"agent1": devices("s0", "s1", "solo", "h0"), "agent2": devices("h1")}
        for name, dev_file in agents.items():
            node = cluster.add_node(num_cpus=1, object_store_memory=80 * MB, node_name=name,
                                    resources=node_resources(dev_file))
            announce(dev_file, name, node.node_id, facts=False)

        def timed(p, farm: bool) -> float:
            db = work / f"r{time.monotonic_ns()}.db"
            t0 = time.perf_counter()
            if farm:
                f = Farm(cluster.address)
                try:
                    s = orchestrate.run(p, db, targets=f)
                finally:
                    f.close()
            else:
                s = orchestrate.run(p, db)
            took = time.perf_counter() - t0
            if s.errors:
                raise SystemExit(f"a job failed: {[m.error for m in s.results if m.status != 'ok'][:2]}")
            return took

        k = args.models
        modes = {
            SINGLE: (plan(("s0", "s1"), k), False),
            FARM1: (plan(("s0", "s1"), k), True),
            ONE: (plan(("solo",), 2 * k), True),
            TWO: (plan(("h0", "h1"), k), True),
        }
        for p, farm in modes.values():  # warm: conversion cache, runner pushed, artifacts on the agents
            timed(p, farm)
        times: dict[str, list[float]] = {m: [] for m in modes}
        names = list(modes)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                times[name].append(timed(*modes[name]))
                print(f"round {r + 1}: {name}: {times[name][-1]:.2f} s", flush=True)
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(work, ignore_errors=True)

    report(times, args.rounds, k, args.min_seconds, load_before, os.getloadavg())
    return 0


SINGLE, FARM1, ONE, TWO = ("single-host, 2 devices x K", "farm, 1 agent, 2 devices x K",
                            "farm, 1 agent, 1 device x 2K", "farm, 2 agents, 1 device each x K")


def verdict(ratios: list[float], goal: float) -> str:
    med = statistics.median(ratios)
    if max(ratios) <= goal:
        return "met in every round"
    return "met (median)" if med <= goal else "MISSED"


def report(times: dict[str, list[float]], rounds: int, k: int, window_s: float,
           load_before: tuple[float, float, float], load_after: tuple[float, float, float]) -> None:
    """Medians per mode, then each goal's ratio per round (paired), its median and range; then the README table."""
    med = {m: statistics.median(v) for m, v in times.items()}
    over = [f / s for f, s in zip(times[FARM1], times[SINGLE], strict=True)]
    scale = [t / o for t, o in zip(times[TWO], times[ONE], strict=True)]
    load = f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    print(f"\nmedian wall time over {rounds} interleaved rounds (K={k}, {window_s:g} s window per job; {load}):")
    for m, v in med.items():
        print(f"  {m:36s} {v:7.2f} s   (rounds: {', '.join(f'{x:.2f}' for x in times[m])})")
    for label, ratios, goal in (("one-node farm / single-host", over, 1.10), ("two agents / one agent", scale, 0.60)):
        print(f"{label:28s} median {statistics.median(ratios):.3f}, range {min(ratios):.3f}-{max(ratios):.3f} "
              f"over {rounds} rounds (goal <= {goal:.2f}): {verdict(ratios, goal)}")
    print(f"\nREADME table (python benchmarks/farm_overhead.py --rounds {rounds} --models {k}; {load}):\n")
    print("| plan | wall time (median) | ratio, median of rounds (range) | goal |")
    print("| --- | --- | --- | --- |")
    print(f"| 2 devices x K jobs, single-host mode | {med[SINGLE]:.2f} s | | |")
    print(f"| the same plan, one-node farm | {med[FARM1]:.2f} s | farm / single-host {statistics.median(over):.2f} "
          f"({min(over):.2f}-{max(over):.2f}) | <= 1.10: {verdict(over, 1.10)} |")
    print(f"| 2K jobs on one device of one agent | {med[ONE]:.2f} s | | |")
    print(f"| the same 2K jobs as halves on one device of each of two agents | {med[TWO]:.2f} s | two / one "
          f"{statistics.median(scale):.2f} ({min(scale):.2f}-{max(scale):.2f}) | <= 0.60: {verdict(scale, 0.60)} |")


if __name__ == "__main__":
    sys.exit(main())
