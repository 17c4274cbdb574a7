#!/usr/bin/env python3
"""How many jobs a second can one farm coordinator hand out, and is a device ever double-booked?

A real Ray cluster on this machine: a head and A agent nodes (default 8, each its own raylet, object store
and worker processes), each agent owning D devices (default 8), J jobs per device (default 10): 640 jobs
through the farm's real coordinator (`Farm`, `orchestrate.run`, one thread per device, every job three
actor calls, rows committed to SQLite as they come).

The devices' runtime is NOT a measurement: `SleepWorker` stands in for each device's worker on its agent
and sleeps `--job-seconds` per job (its rows say runtime `sleep-not-a-measurement`). It checks the one
rule that matters at scale, on the agent's side: it refuses to start a job while another runs on the same
device (each refusal is counted as a double booking); the rows' own start and end times are checked too.

Printed: wall time, jobs per second, the coordinator process's CPU seconds per job (what a bigger lab adds
on the head), the lower bound J x job-seconds, and the extrapolation to a lab of 50 hosts and 500 devices.

Usage: python benchmarks/farm_scale.py [--agents 8] [--devices 8] [--jobs 10] [--job-seconds 0.5]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
MB = 1024 * 1024
RUNTIME = "sleep-not-a-measurement"


class SleepWorker:
    """A device's worker that sleeps instead of measuring (named as the farm's DeviceWorker is, so the
    coordinator finds it). It records every job's span and counts jobs that found the device busy."""

    def __init__(self, device: dict[str, Any], job_s: float) -> None:
        import platform

        self.name = device["name"]
        self.job_s = job_s
        self.host_name = platform.node()
        self._job = threading.Lock()
        self._have: set[str] = set()
        self.spans: list[tuple[float, float]] = []
        self.double_booked = 0

    def host(self) -> str:
        return self.host_name

    def status(self) -> dict[str, Any]:
        return {"busy": self._job.locked(), "host": self.host_name}

    def facts(self) -> dict[str, Any]:
        return {"runtime": RUNTIME}

    def prepare(self) -> None:
        return None

    def has(self, sha: str) -> bool:
        return sha in self._have

    def benchmark(self, model: dict[str, Any], companions: Any, origins: Any, bench: Any, input_shapes: Any,
                  seed: int) -> Any:
        import ray

        from devices.target import RawRun
        from devices.runner_result import RunnerResult

        if model["blob"]:
            ray.get(model["blob"][0])  # the artifact travels as in a real farm, once per agent
            self._have.add(model["sha"])
        if not self._job.acquire(blocking=False):
            self.double_booked += 1
            self._job.acquire()
        try:
            t0 = time.time()
            time.sleep(self.job_s)
            t1 = time.time()
            self.spans.append((t0, t1))
        finally:
            self._job.release()
        took_us = (t1 - t0) * 1e6
        return RawRun(RunnerResult(runtime=RUNTIME, runtime_version="0", threads=1, latencies_us=(took_us,),
                                   duration_s=t1 - t0, warmup_runs_done=0))

    def cool_down(self, bench: Any) -> float:
        return 0.0

    def temperatures(self) -> dict[str, float]:
        return {}

    def close(self) -> None:
        return None

    def report(self) -> dict[str, Any]:
        return {"spans": list(self.spans), "double_booked": self.double_booked}


def overlaps(spans: list[tuple[float, float]]) -> int:
    s = sorted(spans)
    return sum(1 for a, b in zip(s, s[1:]) if b[0] < a[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--devices", type=int, default=8, help="devices per agent")
    ap.add_argument("--jobs", type=int, default=10, help="jobs per device")
    ap.add_argument("--job-seconds", type=float, default=0.5, help="how long each sleeping job takes")
    args = ap.parse_args()
    return run(args.agents, args.devices, args.jobs, args.job_seconds)


def run(n_agents: int, n_devices: int, n_jobs: int, job_s: float, out: Any = print) -> int:
    import ray
    from ray.cluster_utils import Cluster

    from benchmarks.farm_overhead import tiny_model
    from harness.farm.agent import announce, node_resources, worker_name
    from harness.farm.cluster import NAMESPACE, device_resource
    from harness.farm.coordinator import Farm
    from harness.orchestration import orchestrate
    from harness.planning.config import parse_devices
    from harness.planning.plan import make_plan
    from harness.store.db import ResultsDB

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="farm-scale-"))
    os.environ["XDG_CACHE_HOME"] = str(work / "cache")
    token = work / "auth_token"
    token.write_text(os.urandom(32).hex())
    token.chmod(0o600)
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token))
    os.environ.pop("RAY_AUTH_TOKEN", None)
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()
    base = work / "m0.tflite"
    tiny_model(base)
    models = [str(base)] + [str(shutil.copyfile(base, work / f"m{i}.tflite")) for i in range(1, n_jobs)]
    bench = {"min_runs": 1, "min_s": 0.0, "warmup_s": 0.0, "cooldown_s": 0.0, "threads": 1}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 80 * MB,
                                                            "include_dashboard": False})
    ray.init(address=cluster.address, namespace="harness", log_to_driver=False, logging_level="ERROR")
    try:
        t_up = time.perf_counter()
        workers: dict[str, Any] = {}
        for a in range(n_agents):
            name = f"agent{a}"
            dev_file = parse_devices({"devices": [{"name": f"a{a}d{d}", "kind": "local"} for d in range(n_devices)]},
                                     "benchmark")
            node = cluster.add_node(num_cpus=1, object_store_memory=75 * MB, node_name=name,
                                    resources=node_resources(dev_file))
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            for d in dev_file.enabled:  # the sleeping stand-in takes the device worker's name and unit first
                workers[d.name] = ray.remote(SleepWorker).options(
                    name=worker_name(d.name), namespace=NAMESPACE, lifetime="detached", num_cpus=0,
                    resources={device_resource(d.name): 1}, max_concurrency=4,
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
                ).remote(d.model_dump(mode="json"), job_s)
            announce(dev_file, name, node.node_id, facts=False)
        up_s = time.perf_counter() - t_up
        farm = Farm(cluster.address)
        plan = make_plan(farm.devices_file(), models=models, variants=["fp32"], overrides=bench, peak_probe=False)
        db = work / "scale.db"
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        try:
            summary = orchestrate.run(plan, db, targets=farm)
        finally:
            farm.close()
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        reports = {n: ray.get(w.report.remote()) for n, w in workers.items()}
    finally:
        ray.shutdown()
        cluster.shutdown()
    rows = [(m.device, m.status, m.runtime, m.started_at, m.finished_at)
            for m in ResultsDB(db).measurements(summary.run_id)]
    shutil.rmtree(work, ignore_errors=True)

    jobs = n_agents * n_devices * n_jobs
    ok = sum(1 for r in rows if r[1] == "ok" and r[2] == RUNTIME)
    booked = sum(r["double_booked"] for r in reports.values())
    span_overlaps = sum(overlaps(r["spans"]) for r in reports.values())
    by_device: dict[str, list[tuple[float, float]]] = {}
    for dev, _, _, s, f in rows:
        by_device.setdefault(dev, []).append((s, f))
    row_overlaps = sum(overlaps(v) for v in by_device.values())
    cpu_s = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    per_job_cpu = cpu_s / max(1, len(rows))
    floor = n_jobs * job_s
    load = f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after"
    out(f"{n_agents} agents x {n_devices} devices x {n_jobs} jobs = {jobs} jobs, {job_s:g} s sleeping job "
        f"(runtime {RUNTIME}); cluster up in {up_s:.1f} s; {load}")
    out(f"rows: {len(rows)} ({ok} ok), summary measured {summary.measured}, errors {summary.errors}")
    out(f"double-booked: {booked} refused starts on the agents, {span_overlaps} overlapping spans on the agents, "
        f"{row_overlaps} overlapping rows per device")
    out(f"wall {wall:.1f} s for {jobs} jobs: {jobs / wall:.1f} jobs/s through one coordinator "
        f"(floor {floor:.1f} s = {n_jobs} x {job_s:g} s per device; wall / floor {wall / floor:.2f})")
    out(f"coordinator CPU {cpu_s:.1f} s: {per_job_cpu * 1000:.1f} ms per job")
    # A lab of 50 hosts and 500 devices: the coordinator's CPU per job is what grows with the lab.
    for job_len in (30.0, 60.0):
        rate = 500 / job_len
        out(f"50 hosts / 500 devices, {job_len:.0f} s jobs: {rate:.1f} jobs/s needed, coordinator CPU "
            f"{rate * per_job_cpu:.2f} cores at {per_job_cpu * 1000:.1f} ms per job "
            f"({'within' if jobs / wall >= rate else 'ABOVE'} the {jobs / wall:.1f} jobs/s measured here)")
    good = len(rows) == jobs and ok == jobs and booked == 0 and span_overlaps == 0 and row_overlaps == 0
    out("no device double-booked, every job one row" if good else "FAILED: see the counts above")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
