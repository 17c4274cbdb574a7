#!/usr/bin/env python3
"""Regenerate the golden contract files from the real Python code (runner, live server).

The files are what the Python host, the Swift core (ios_app/) and the JVM core (android_app/) must all
agree on. They are committed; tests/test_contracts.py checks that the Python side still produces them,
`swift test` and the JVM tests load the same files. Run this only when the contract changes on purpose
(a new SCHEMA_VERSION), then update the Swift and JVM types to match.

Usage: python contracts/regenerate.py   (needs the host extra: TensorFlow makes the tiny model)
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from contracts.timed_loop_cases import CASES, SUSTAINED_CASES, run_case, run_sustained_case  # noqa: E402


def tiny_tflite(folder: Path) -> Path:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(1)
    m = tf.keras.Sequential([tf.keras.Input((16, 16, 3)), tf.keras.layers.Conv2D(4, 3, activation="relu"),
                             tf.keras.layers.GlobalAveragePooling2D(), tf.keras.layers.Dense(2)])
    path = folder / "tiny.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(m).convert())
    return path


def write(rel: str, data: object) -> None:
    path = HERE / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else json.dumps(data, indent=2, sort_keys=True) + "\n"
    path.write_text(text)
    print("wrote", path.relative_to(REPO))


def results(model: Path) -> None:
    jobs = json.loads((HERE / "jobs" / "basic.json").read_text())
    job = {**jobs, "model_path": str(model)}
    out = subprocess.run([sys.executable, str(REPO / "rpi" / "runner.py"), "--job", "-"], input=json.dumps(job),
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["model_path"] = "models/tiny.tflite"  # no host path in a committed file
    write("results/ok.json", result)
    bad = {**job, "model_path": str(model.with_name("missing.tflite"))}
    out = subprocess.run([sys.executable, str(REPO / "rpi" / "runner.py"), "--job", "-"], input=json.dumps(bad),
                         capture_output=True, text=True)
    err = json.loads(out.stdout.strip().splitlines()[-1])
    if "model_path" in err:
        err["model_path"] = "models/missing.tflite"
    err["error"] = err["error"].replace(str(model.parent), "models")
    if "traceback" in err:  # host paths out; the contract is only that a traceback string may be there
        err["traceback"] = "Traceback (most recent call last):\n  ...\n" + err["error"] + "\n"
    write("results/error.json", err)


# The companion apps' own blocks: what the Swift app writes under "ios" (HarnessCore.IosExtras) and the
# Android app under "android" (dev.harness.core.AndroidReadings), every key present (null when not read),
# on top of the runner's ok result. These example values are the apps' shapes, not a measurement; `swift
# test`, the JVM tests and pytest (tests/test_contracts.py, the host's readers) all load these files.
IOS_BLOCK = {
    "compute_units": "cpuAndNeuralEngine", "thermal_state_before": "nominal",
    "thermal_states_during": ["nominal", "fair"], "thermal_state_after": "fair",
    "battery_level_before": 0.81, "battery_level_after": 0.8, "battery_state_before": "unplugged",
    "battery_state_after": "unplugged", "memory_metric": "phys_footprint", "phys_footprint_mb": 61.5,
    "outputs_path": "results/h-0a1b2c3d4e5f.outputs.f32", "outputs_shape": [2, 2], "device": "iPhone15,2",
    "os_version": "Version 17.5.1 (Build 21F90)", "delegate_error": None, "eval_error": None,
    "compute_plan": {"available": True, "reason": None, "ops_total": 7,
                     "ops_by_device": {"cpu": 1, "gpu": 0, "neural_engine": 5}, "ops_unplaced": 1,
                     "fell_back_count": 1, "fell_back_to_cpu": [{"op": "ios17.reduce_mean", "supported": ["cpu"]}]},
}
ANDROID_BLOCK = {
    "delegate_requested": "gpu", "delegate_applied": "gpu", "delegate_error": None,
    "nodes_by_delegate": {"gpu": 3, "cpu": 0},
    "tflite_log": ["I/tflite  (12345): Created TensorFlow Lite delegate for GPU.",
                   "I/tflite  (12345): Replacing 3 out of 3 node(s) with delegate (TfLiteGpuDelegateV2) node, "
                   "yielding 1 partitions for the whole graph."],
    "battery_before": {"level_pct": 81, "current_ua": -452000, "charge_counter_uah": 3012000, "plugged": False,
                       "plugged_source": None},
    "battery_after": {"level_pct": 80, "current_ua": -610000, "charge_counter_uah": 3009000, "plugged": False,
                      "plugged_source": None},
    "thermal_status_before": 0, "thermal_status_after": 1, "thermal_headroom_before": 0.42,
    "thermal_headroom_after": 0.61, "pss_mb": 48.25, "sdk_int": 34, "device_model": "Google Pixel 8",
    "run_token": "0123456789ab", "latency_timer": "native_invoke",
    "outputs_path": "/sdcard/Android/data/dev.harness.companion/files/harness/result-0123456789ab.outputs.f32",
    "outputs_shape": [2, 2], "eval_error": None,
}


def app_results() -> None:
    """results/ios_ok.json and android_ok.json: the runner's ok result as each app fills it, plus its block."""
    ok = json.loads((HERE / "results" / "ok.json").read_text())
    ios = {**ok, "runtime": "coreml", "runtime_version": IOS_BLOCK["os_version"], "python": None,
           "machine": "iPhone15,2", "model_path": "models/0123456789abcdef-tiny.mlpackage",
           "delegate_requested": "coreml", "delegate": "coreml", "ops_total": None, "ops_delegated": None,
           "ops_on_cpu_kernels": [], "temperatures": [], "cpu_freq": [], "ios": IOS_BLOCK}
    write("results/ios_ok.json", ios)
    android = {**ok, "runtime": "litert-android", "runtime_version": "1.4.0", "python": None,
               "machine": "arm64-v8a", "model_path": "/sdcard/Android/data/dev.harness.companion/files/harness/"
               "models/0123456789abcdef-tiny.tflite", "delegate_requested": "gpu", "delegate": "gpu",
               "ops_total": 3, "ops_delegated": 3, "ops_on_cpu_kernels": [], "cpu_freq": [],
               "temperatures": [[0.0, "before", {"battery": 31.5}]], "android": ANDROID_BLOCK}
    write("results/android_ok.json", android)


def timed_loops() -> None:
    write("timed_loop/cases.json", [{**c, "expected": run_case(c)} for c in CASES])
    sustained_loops()


def sustained_loops() -> None:
    """timed_loop/sustained.json alone (`python -c 'from contracts.regenerate import sustained_loops; ...'`):
    adding sustained vectors must not rewrite the other goldens (events/run.sse's run id is pinned)."""
    write("timed_loop/sustained.json", [{**c, "expected": run_sustained_case(c)} for c in SUSTAINED_CASES])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def event_stream(model: Path, tmp: Path) -> None:
    """A real `harness run --live` on the tiny model, its SSE stream read raw off the socket."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--models", str(model), "--variants", "fp32",
                             "--runs", "5", "--min-seconds", "0.05", "--warmup-seconds", "0", "--cooldown", "0",
                             "--no-peak-probe", "--no-progress", "--db", str(tmp / "r.db"),
                             "--live", f"127.0.0.1:{port}"], env=env, cwd=tmp,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    raw = b""
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/events", timeout=60) as resp:
                    while b"event: run_finished" not in raw:
                        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
                        if not chunk:
                            break
                        raw += chunk
                break
            except OSError:
                time.sleep(0.05)
    finally:
        proc.wait(timeout=120)
    text = raw.decode()
    text = text.replace(str(model), "models/tiny.tflite")
    write("events/run.sse", text)


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model = tiny_tflite(tmp)
        results(model)
        app_results()
        timed_loops()
        event_stream(model, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
