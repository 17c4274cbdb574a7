"""A fake iPhone behind the IosAdapter interface (test double; a class, as the guide asks).

It keeps the app's container in a folder on disk (`<root>/<udid>/Documents`) and "runs" a job the way
the companion app does: it reads Documents/jobs/NAME.json, checks the model it names exists (a Core ML
package must have its Manifest.json), and a moment later writes Documents/results/NAME.json built from
the golden contract (contracts/results/ok.json) with the job's model path and the app's `ios` extras,
or the runner's error shape (contracts/results/error.json) when the job cannot run.

How a phone behaves comes from `<root>/behaviour.json` ({udid: mode}), so `harness run` in a subprocess
can be steered: ok (on battery), usb (charging over USB), crash (exits without a result), hang (never
writes one), not_installed, developer_mode_off, hot (thermal state serious during the run), heating (a
sustained job's loop: the phone warms, its thermal state turns serious HEAT_AFTER_S into the loop and each
inference then takes 1.6x as long, the moment kept in `throttled_at_unix`).

A job with `sustained_s` runs the app's sustained loop (HarnessCore `sustainedLoop`) in real time: sleeps of
the inference's cost, a window boundary at the first inference past each `window_s`, the thermal state
read at each boundary, Documents/jobs/NAME.stop (the host's Ctrl-C) honoured there and at every sampling
point (the part run so far closed as a window), and the optional
sustained keys in the result, `after_loop_s` included (the fake spends AFTER_LOOP_S on "probes").
The root folder is HARNESS_FAKE_IOS_ROOT. Used only through HARNESS_IOS_ADAPTER in tests.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from devices.ios_adapter import IosAdapter
from errors import DeviceError

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"
ROOT_ENV = "HARNESS_FAKE_IOS_ROOT"
JOB_KEYS = set(json.loads((CONTRACTS / "jobs" / "ios_coreml.json").read_text()))
SUSTAINED_KEYS = {"sustained_s", "window_s"}  # optional: only a sustained job has them
COLD_US, HOT_FACTOR, HEAT_AFTER_S, AFTER_LOOP_S = 2000.0, 1.6, 1.5, 0.3


class FakeIosAdapter(IosAdapter):
    def __init__(self, udid: str, bundle_id: str, root: Path | None = None, mode: str | None = None) -> None:
        super().__init__(udid, bundle_id)
        self.root = Path(root or os.environ[ROOT_ENV])
        behaviour = self.root / "behaviour.json"
        modes = json.loads(behaviour.read_text()) if behaviour.exists() else {}
        self.mode = mode or modes.get(udid, "ok")
        self.documents = self.root / udid / "Documents"
        self.documents.mkdir(parents=True, exist_ok=True)
        self.pushes: list[str] = []
        self.launches: list[list[str]] = []
        self._pids: dict[int, threading.Thread] = {}
        self._next_pid = 400
        self.throttled_at_unix: float | None = None
        self._heat_from: float | None = None

    def _path(self, remote: str) -> Path:
        p = (self.documents / remote).resolve()
        if not str(p).startswith(str(self.documents.resolve())):
            raise ValueError(f"{remote!r} leaves Documents")
        return p

    def check_ready(self) -> dict[str, Any]:
        if self.mode == "developer_mode_off":
            raise DeviceError(self.udid, "Developer Mode is off: Settings > Privacy & Security > Developer Mode, "
                              "then restart")
        return {"product_type": "iPhone15,2", "ios_version": "17.5.1", "name": "fake iPhone", "os": "iOS 17.5.1"}

    def app_installed(self) -> bool:
        return self.mode != "not_installed"

    def push(self, local: Path, remote: str) -> None:
        dest = self._path(remote)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if Path(local).is_dir():
            shutil.copytree(local, dest, dirs_exist_ok=True)
        else:
            shutil.copyfile(local, dest)
        self.pushes.append(remote)

    def size(self, remote: str) -> int | None:
        p = self._path(remote)
        return p.stat().st_size if p.is_file() else (0 if p.is_dir() else None)

    def pull(self, remote: str, local: Path) -> None:
        p = self._path(remote)
        if not p.is_file():
            raise FileNotFoundError(remote)
        shutil.copyfile(p, local)

    def remove(self, remote: str) -> None:
        p = self._path(remote)
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()

    def launch(self, arguments: list[str]) -> int:
        self.launches.append(list(arguments))
        self._next_pid += 1
        pid = self._next_pid
        t = threading.Thread(target=self._app, args=(arguments,), daemon=True)
        self._pids[pid] = t
        t.start()
        return pid

    def running(self, pid: int) -> bool | None:
        t = self._pids.get(pid)
        return bool(t and t.is_alive())

    def kill(self, pid: int) -> None:
        self._pids.pop(pid, None)

    def power_source(self) -> dict[str, Any] | None:
        usb = self.mode == "usb"
        warm = 0 if self._heat_from is None else min(time.monotonic() - self._heat_from, 20.0) * 400  # 4 C/s
        return {"Voltage": 3850, "InstantAmperage": 350 if usb else -420, "Temperature": int(3125 + warm),
                "IsCharging": usb, "ExternalConnected": usb, "CurrentCapacity": 81}

    # -- the app --------------------------------------------------------------------------------
    def _app(self, arguments: list[str]) -> None:
        """What ios_app's headless mode does with `--job NAME`, minus Core ML."""
        if self.mode == "crash":
            time.sleep(0.05)
            return
        if self.mode == "hang":
            time.sleep(30)
            return
        name = arguments[arguments.index("--job") + 1]
        job = json.loads(self._path(f"jobs/{name}.json").read_text())
        time.sleep(0.1)
        loop = self._sustained(name, job) if job.get("sustained_s") else None
        out = self._result(job)
        if loop is not None and not out.get("error"):
            out.update(loop)
        dest = self._path(f"results/{name}.json")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".tmp")
        tmp.write_text(json.dumps(out))
        tmp.replace(dest)  # the app writes atomically, so the host never pulls half a file

    def _result(self, job: dict[str, Any]) -> dict[str, Any]:
        error = json.loads((CONTRACTS / "results" / "error.json").read_text())
        if set(job) - {"eval"} - SUSTAINED_KEYS != JOB_KEYS:
            return {**error, "error": f"job keys differ from the contract: {sorted(set(job) ^ JOB_KEYS)}"}
        model = self._path(job["model_path"])
        if job["model_path"].endswith(".tflite"):
            return {**error, "error": "this build of the app has no TensorFlow Lite (built without the pod)",
                    "traceback": ""}
        if not (model / "Manifest.json").is_file():
            return {**error, "error": f"no Core ML package at {job['model_path']}", "traceback": ""}
        ok = json.loads((CONTRACTS / "results" / "ok.json").read_text())
        during = ["serious"] if self.mode == "hot" else ["nominal"]
        ok.update({"model_path": job["model_path"], "runtime": "coreml", "runtime_version": "iOS 17.5.1",
                   "python": None, "machine": "iPhone15,2", "delegate": "coreml", "temperatures": [],
                   "ops_total": None, "ops_delegated": None,
                   "ios": {**json.loads((CONTRACTS / "results" / "ios_ok.json").read_text())["ios"],
                           "outputs_path": None, "outputs_shape": None,
                           "compute_units": job["compute_units"], "thermal_state_before": "nominal",
                           "thermal_states_during": during, "thermal_state_after": during[-1],
                           "battery_level_before": 0.81, "battery_level_after": 0.81,
                           "battery_state_before": "charging" if self.mode == "usb" else "unplugged",
                           "battery_state_after": "charging" if self.mode == "usb" else "unplugged",
                           "memory_metric": "phys_footprint", "phys_footprint_mb": 61.5}})
        if "eval" in job:  # the "model" is the identity: its outputs are its inputs (the host scores them)
            ev = job["eval"]
            data = self._path(ev["path"]).read_bytes()
            name = Path(job["model_path"]).name
            out = self._path(f"results/{name}.outputs.f32")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
            ok["ios"].update({"outputs_path": f"results/{name}.outputs.f32", "outputs_shape": [ev["count"], *ev["shape"][1:]]})
        return ok

    def _sustained(self, name: str, job: dict[str, Any]) -> dict[str, Any]:
        """HarnessCore.sustainedLoop in real time (see the module's note)."""
        total = float(job["sustained_s"])
        window = float(job.get("window_s") or 0) or max(total / 20.0, 0.5)
        heating = self.mode == "heating"

        def cost_s() -> float:
            hot = self.throttled_at_unix is not None
            return (COLD_US * (HOT_FACTOR if hot else 1.0)) / 1e6

        time.sleep(cost_s())  # the first inference
        first = COLD_US
        base = start = time.monotonic()
        wall_start = time.time()
        if heating:
            self._heat_from = start
        lat: list[float] = []
        windows: list[list[float]] = []
        states: list[str] = []
        interval = float(job.get("sample_interval_s") or 0.5)
        next_window, next_sample, interrupted = start + window, start + interval, False
        while True:
            t0 = time.monotonic()
            if heating and self.throttled_at_unix is None and t0 - start >= HEAT_AFTER_S:
                self.throttled_at_unix = time.time()
            cost = cost_s()
            time.sleep(cost)  # the inference's time passes; its figure is the modelled cost, as the adb
            lat.append(round(cost * 1e6, 3))  # simulator's benchmark_model prints (sleep overshoots under load)
            now = time.monotonic()
            if now >= next_window or now - start >= total:
                windows.append([round(now - base, 3), len(lat)])
                states.append("serious" if self.throttled_at_unix is not None else "nominal")
                next_window, next_sample = now + window, now + interval
                if now - start < total and self._path(f"jobs/{name}.stop").exists():
                    interrupted = True
                    break
            elif now >= next_sample:  # the stop request is asked at every sampling point too
                next_sample = now + interval
                if now - start < total and self._path(f"jobs/{name}.stop").exists():
                    windows.append([round(now - base, 3), len(lat)])
                    states.append("serious" if self.throttled_at_unix is not None else "nominal")
                    interrupted = True
                    break
            if now - start >= total:
                break
        duration = round(time.monotonic() - start, 6)
        wall_end = time.time()
        time.sleep(AFTER_LOOP_S)  # thermal state, battery, footprint, compute plan after the loop
        return {"first_inference_us": first, "warmup_runs_done": 0, "duration_s": duration,
                "timed_window_unix_s": [round(wall_start, 6), round(wall_end, 6)], "latencies_us": lat,
                "sustained_s": total, "window_s": window, "windows": windows, "timed_start_s": 0.0,
                "interrupted": interrupted, "window_thermal_states": states,
                "after_loop_s": round(time.monotonic() - start - duration, 3)}
