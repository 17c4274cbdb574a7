"""An iPhone as a target: the companion app (ios_app/) runs the job with Core ML; the host drives it over USB.

The host pushes the model (an .mlpackage, unpacked from the cached zip, or a .tflite for apps built with
the TensorFlow Lite pod) and a job into the app's Documents, launches the app with `--job NAME`, samples
the battery's IOPMPowerSource while it runs, waits for Documents/results/NAME.json and pulls it.

Energy: an iPhone on USB is powered by the host, so the battery's current includes charging; as on
Android, energy per inference is computed only when the battery reports neither charging nor external
power during the run; otherwise the readings are kept in extra and extra["energy_invalid"] says why.
"""
from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devices.bench import Bench
from devices.config import IosDevice
from devices.ios_adapter import IosAdapter, battery_reading
from devices.ios_connect import make_adapter
from devices.energy_validity import battery_samples_verdict
from devices.remote_paths import content_key
from devices.runner_result import RunnerResult
from devices.sampler import SamplerThread
from devices.target import JobSpec, RawRun, Target, job_timeout_s
from devices.timing import window_ending_at
from devices.app_outputs import pull_outputs
from devices.transport import CommandResult, Transport
from errors import DeviceError

COREML_SUFFIX = ".mlpackage.zip"
HOT_STATES = ("serious", "critical")  # ProcessInfo.thermalState values that mean throttling
# ProcessInfo.thermalState as a thermal status for the first throttle event (>= 1 is one): Apple documents
# "fair" as slightly elevated with no throttling, "serious" as reduced performance (Android's 2, moderate).
STATE_STATUS = {"nominal": 0, "fair": 0, "serious": 2, "critical": 3}


class _NoTransport(Transport):
    """iOS has no shell: the adapter moves files. Target.close() still calls transport.close()."""

    name = "ios"

    def run(self, argv: Sequence[str], *, timeout_s: float, stdin: str | None = None) -> CommandResult:
        raise DeviceError("ios", "iOS targets run no shell commands")

    def push(self, local: Path, remote: str) -> None:
        raise DeviceError("ios", "use the iOS adapter")

    def pull(self, remote: str, local: Path) -> None:
        raise DeviceError("ios", "use the iOS adapter")

    def remove(self, remote: str) -> None:
        raise DeviceError("ios", "use the iOS adapter")


class _PowerSampler(SamplerThread):
    """Reads IOPMPowerSource every interval on a thread while the app runs."""

    def __init__(self, adapter: IosAdapter, interval_s: float, t0: float) -> None:
        super().__init__(interval_s, "ios-power", join_timeout_s=10)
        self.adapter, self.t0 = adapter, t0
        self.readings: list[tuple[float, dict[str, Any]]] = []
        self.wall: list[float] = []

    def tick(self, n: int) -> None:
        r = battery_reading(self.adapter.power_source())
        if r is not None:
            self.readings.append((round(time.monotonic() - self.t0, 3), r))
            self.wall.append(time.time())  # the host's wall clock: energy is kept to the timed window


class IosTarget(Target):
    kind = "ios"

    config: IosDevice

    def __init__(self, config: IosDevice, adapter: IosAdapter | None = None) -> None:
        super().__init__(config, _NoTransport())
        self.adapter = adapter or make_adapter(config.udid, config.bundle_id)
        self._facts: dict[str, Any] | None = None
        self._sustained_job: str | None = None  # the job whose loop a Ctrl-C asks to stop (abort)
        self._result_first_seen: float | None = None

    def _fail(self, message: str) -> DeviceError:
        return DeviceError(self.name, message)

    def facts(self) -> dict[str, Any]:
        facts = dict(self.adapter.check_ready())
        facts["udid"] = self.config.udid
        facts["runtime"] = f"companion app {self.config.bundle_id} (Core ML)"
        facts["app_installed"] = self.adapter.app_installed()
        batt = battery_reading(self.adapter.power_source())
        facts["battery"] = batt
        facts["temperatures_c"] = facts["thermal_zones"] = (
            {"battery": batt["temperature_c"]} if batt and batt.get("temperature_c") is not None else {})
        return facts

    def prepare(self) -> None:
        try:
            self._facts = self.adapter.check_ready()
            installed = self.adapter.app_installed()
        except DeviceError as exc:  # "udid: reason" from the adapter, under this device's name
            raise self._fail(str(exc)) from None
        if not installed:
            raise self._fail(f"companion app {self.config.bundle_id} is not installed: build ios_app/ with Xcode "
                             "and install it (ios_app/README.md), or set bundle_id in devices.yaml")

    def temperatures(self) -> dict[str, float]:
        batt = battery_reading(self.adapter.power_source())
        return {"battery": batt["temperature_c"]} if batt and batt.get("temperature_c") is not None else {}

    # -- measuring ------------------------------------------------------------------------------
    def _push_model(self, local: Path) -> str:
        """Content-addressed under Documents/models, pushed once per phone."""
        sha = content_key(local)
        name = local.name
        if name.endswith(COREML_SUFFIX):
            remote = f"models/{sha}-{name[:-len('.zip')]}"
            if self.adapter.size(f"{remote}/Manifest.json") is None:
                with tempfile.TemporaryDirectory() as tmp:
                    pkg = self._unzip_package(local, Path(tmp))
                    self.adapter.remove(remote)  # a half-pushed package from a broken run
                    staged = pkg.with_name(Path(remote).name)
                    pkg.rename(staged)
                    self.adapter.push(staged, remote)
            return remote
        if name.endswith(".tflite"):
            remote = f"models/{sha}-{name}"
            if self.adapter.size(remote) != local.stat().st_size:
                self.adapter.push(local, remote)
            return remote
        raise self._fail(f"{name}: the iOS app runs Core ML (.mlpackage) or .tflite variants, not {local.suffix}")

    def _unzip_package(self, artifact: Path, dest: Path) -> Path:
        """The cached `.mlpackage.zip` (one top-level `*.mlpackage/` folder) unpacked under dest; entries
        that would land outside dest are refused."""
        dest = dest.resolve()
        try:
            with zipfile.ZipFile(artifact) as zf:
                names = zf.namelist()
                tops = {n.split("/", 1)[0] for n in names}
                if len(tops) != 1 or not next(iter(tops)).endswith(".mlpackage"):
                    raise self._fail(f"{artifact.name}: not a zipped .mlpackage")
                if any(not str((dest / n).resolve()).startswith(str(dest) + os.sep) for n in names):
                    raise self._fail(f"{artifact.name}: an entry points outside the package")
                zf.extractall(dest)
        except zipfile.BadZipFile as exc:
            raise self._fail(f"{artifact.name}: not a zip ({exc})") from None
        return dest / next(iter(tops))

    def runner_job(self, job: JobSpec, remote_model: str) -> dict[str, Any]:
        b = job.bench
        return {"model_path": remote_model, "threads": b.threads,
                "delegate": "coreml" if remote_model.endswith(".mlpackage") else b.delegate,
                "input_shapes": job.input_shapes, "seed": job.seed, "warmup_runs": b.warmup_runs,
                "warmup_s": b.warmup_s, "min_runs": b.min_runs, "min_s": b.min_s, "max_s": b.max_s,
                "max_runs": b.max_runs, "sample_interval_s": b.sample_interval_s,
                "thermal_glob": "", "compute_units": self.config.compute_units,
                **sustained_keys(b)}

    def _push_eval(self, job: JobSpec) -> dict[str, Any] | None:
        """The held-out inputs under Documents/eval (once per phone), as the job's `eval` entry."""
        if job.eval_inputs is None or not job.eval_shape or job.eval_count <= 0:
            return None
        local = Path(job.eval_inputs)
        remote = f"eval/{content_key(local)}.f32"
        if self.adapter.size(remote) != local.stat().st_size:
            self.adapter.push(local, remote)
        return {"path": remote, "shape": [int(d) for d in job.eval_shape], "count": int(job.eval_count)}

    def _pull_outputs(self, runner: dict[str, Any]) -> Any:
        """The app's evaluation outputs (raw little-endian float32) as an array of outputs_shape."""
        ios: dict[str, Any] = runner["ios"] if isinstance(runner.get("ios"), dict) else {}
        remote, shape = ios.get("outputs_path"), ios.get("outputs_shape")
        if runner.get("error") or not remote or not shape:
            return None
        try:
            return pull_outputs(self.adapter.pull, self.adapter.remove, str(remote), shape)
        except ValueError as exc:
            raise self._fail(str(exc)) from None

    def benchmark(self, job: JobSpec) -> RawRun:
        remote_model = self._push_model(Path(job.model_path))
        name = f"h-{secrets.token_hex(6)}"
        job_path, result_path = f"jobs/{name}.json", f"results/{name}.json"
        payload = self.runner_job(job, remote_model)
        ev = self._push_eval(job) if remote_model.endswith(".mlpackage") else None
        if ev is not None:
            payload["eval"] = ev
        with tempfile.TemporaryDirectory() as tmp:
            local_job = Path(tmp) / f"{name}.json"
            local_job.write_text(json.dumps(payload))
            self.adapter.push(local_job, job_path)
        t0 = time.monotonic()
        before = battery_reading(self.adapter.power_source())
        launched_wall = time.time()
        extra: dict[str, Any] = {"job_name": name, "compute_units": self.config.compute_units,
                                 "launch_arguments": ["--job", name]}
        with _PowerSampler(self.adapter, job.bench.sample_interval_s, t0) as sampler:
            self._sustained_job = name if payload.get("sustained_s") else None
            pid = self.adapter.launch(["--job", name])
            try:
                runner = self._wait_for_result(pid, result_path, job_timeout_s(job.bench))
                seen_wall = time.time()
            finally:
                self._sustained_job = None
                try:
                    if self.adapter.running(pid):
                        self.adapter.kill(pid)
                except Exception:
                    pass
        after = battery_reading(self.adapter.power_source())
        after_wall = time.time()
        if runner.get("windows") and not runner.get("error"):
            place_sustained(runner, self._result_first_seen, t0)
            extra["sustained_method"] = ("the app's loop (one Core ML model, loaded once); windows placed on the "
                                         "host's clock from when the result appeared, less after_loop_s")
        for path in (job_path, result_path, f"jobs/{name}.stop"):
            try:
                self.adapter.remove(path)
            except Exception:  # leftovers in Documents cost space, not the measurement
                pass
        raw = self._raw(runner, extra, before, after, sampler, t0)
        if raw.power_samples:  # the readings just before launch and after the result bracket the window
            edges = [(w, r["power_mw"], "battery") for w, r in ((launched_wall, before), (after_wall, after))
                     if r and r.get("power_mw") is not None]
            raw.power_samples = sorted([*raw.power_samples, *edges])
        if raw.power_samples and not runner.get("error") and runner.get("duration_s"):
            # The phone's clock is not the host's: the timed loop ended at the latest when its result was seen,
            # and lasted duration_s. An estimate, said so, like trtexec's window.
            end = seen_wall
            raw.window_unix_s = window_ending_at(end, runner["duration_s"], not_before_unix_s=launched_wall)
            raw.extra["power_window_estimated"] = ("timed loop placed on the host's clock as [result seen - "
                                                   "duration_s, result seen]: the phone's clock is not read")
        try:
            raw.outputs = self._pull_outputs(runner)
        except (DeviceError, FileNotFoundError, ValueError) as exc:  # the timing stands; accuracy is lost
            raw.extra["outputs_error"] = str(exc)[:300]
        return raw

    def _wait_for_result(self, pid: int, result_path: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        last = -1
        gone = 0
        self._result_first_seen = None
        while True:
            size = self.adapter.size(result_path)
            if size is not None and self._result_first_seen is None:
                self._result_first_seen = time.monotonic()
            if size is not None and size > 0 and size == last:
                break
            last = size if size is not None else -1
            if size is None:
                alive = self.adapter.running(pid)
                gone = gone + 1 if alive is False else 0
                if gone >= 3:  # exited three polls in a row without a result: it crashed or refused the job
                    return {"error": f"the app (pid {pid}) exited without writing Documents/{result_path}: it "
                                     "crashed or could not read the job (see the device's crash logs)"}
            if time.monotonic() > deadline:
                return {"error": f"the app wrote no Documents/{result_path} within {timeout_s:.0f} s"}
            time.sleep(0.25)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "result.json"
            self.adapter.pull(result_path, local)
            text = local.read_text(errors="replace")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return {"error": f"the app's result is not JSON: {exc}"}
        return data if isinstance(data, dict) else {"error": "the app's result is not a JSON object"}

    def _raw(self, runner: dict[str, Any], extra: dict[str, Any], before: dict[str, Any] | None,
             after: dict[str, Any] | None, sampler: _PowerSampler, t0: float) -> RawRun:
        ios: dict[str, Any] = runner["ios"] if isinstance(runner.get("ios"), dict) else {}
        temps: list[tuple[float, str, dict[str, float]]] = []
        if before and before.get("temperature_c") is not None:
            temps.append((0.0, "before", {"battery": before["temperature_c"]}))
        temps += [(t, "run", {"battery": r["temperature_c"]}) for t, r in sampler.readings
                  if r.get("temperature_c") is not None]
        if after and after.get("temperature_c") is not None:
            temps.append((round(time.monotonic() - t0, 3), "after", {"battery": after["temperature_c"]}))
        if not runner.get("error"):
            runner["temperatures"] = runner.get("temperatures") or temps
        if runner.get("windows") and runner.get("window_thermal_states"):  # sustained: the first throttle event
            runner["thermal_status"] = [[w[0], STATE_STATUS.get(str(st), 0)]
                                        for w, st in zip(runner["windows"], runner["window_thermal_states"])]
        states = [ios.get("thermal_state_before"), *(ios.get("thermal_states_during") or []),
                  ios.get("thermal_state_after")]
        extra.update({"battery_before": before, "battery_after": after, "probe_failures": sampler.failures,
                      "thermal_states": [s for s in states if s]})
        if ios:
            extra["ios"] = ios
        # the app's JSON, as placed on the host's clock above, typed once
        raw = RawRun(RunnerResult.from_json(runner), throttled=any(s in HOT_STATES for s in states), extra=extra)
        readings = [r for _, r in sampler.readings]
        powered = any(r.get("charging") for r in [*(x for x in (before, after) if x), *readings])
        samples = [(w, r["power_mw"], "battery") for w, (_, r) in zip(sampler.wall, sampler.readings)]
        kept, said = battery_samples_verdict(
            samples, powered, "ios", "no battery readings (diagnostics IORegistry IOPMPowerSource unreadable)")
        extra.update(said)
        if kept:
            raw.power_samples = kept
        return raw

    def abort(self) -> None:
        """Ctrl-C: a sustained loop is asked to stop (Documents/jobs/NAME.stop; the app ends at its next sampling
        point and writes what it measured, which the waiting benchmark() still collects). Other jobs run out."""
        name = self._sustained_job
        if name is None:
            return
        try:
            with tempfile.TemporaryDirectory() as tmp:
                stop = Path(tmp) / f"{name}.stop"
                stop.write_text("stop\n")
                self.adapter.push(stop, f"jobs/{name}.stop")
        except Exception:  # a phone that cannot take the file runs to the end of its loop instead
            pass

    def close(self) -> None:
        try:
            self.adapter.close()
        finally:
            super().close()


def sustained_keys(bench: Bench) -> dict[str, Any]:
    """The job's sustained-mode keys (optional, not in the golden job): the app runs its `sustainedLoop`."""
    total = getattr(bench, "sustained_s", None)
    if not total:
        return {}
    return {"sustained_s": float(total), "window_s": float(getattr(bench, "sustained_window_s", None) or 0)}


def place_sustained(runner: dict[str, Any], first_seen: float | None, t0: float) -> None:
    """The app's windows count from its own loop; the host's temperatures from t0 (its launch). The loop ended
    `after_loop_s` before the result was put together, which the host first saw at `first_seen` (within one
    0.25 s poll of its writing): the windows move by that offset, and the row says it is placed so."""
    if first_seen is None:
        return
    end_app = float(runner.get("timed_start_s") or 0.0) + float(runner.get("duration_s") or 0.0)
    end_host = first_seen - t0 - float(runner.get("after_loop_s") or 0.0)
    shift = end_host - end_app
    runner["windows"] = [[round(float(w[0]) + shift, 3), int(w[1])] for w in runner["windows"]]
    runner["timed_start_s"] = round(float(runner.get("timed_start_s") or 0.0) + shift, 3)
