"""Run a plan: convert every variant on the host, then measure on every device in parallel.

Conversion happens first and alone, so TensorFlow never competes with a measurement on this host:
that includes the exports a device's runtime needs besides the variant (a SavedModel for TF-TRT,
an ONNX for TensorRT), which are made here and handed to the target in its JobSpec.
Each device has one thread and runs one job at a time; each result is committed as it arrives.
A failing variant or device becomes error rows and the rest goes on.
"""
from __future__ import annotations

import os
import platform
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from collections.abc import Callable, Iterable

from harness.store.db import ResultsDB, StoreError
from harness.store.pending import pending_path
from errors import DeviceError, UserError
from harness.orchestration.hostload import cpu_times, host_noise, runner_noise
from harness.orchestration.measure import (PEAK_MAX_SWING, RowContext, RowOrigin, error_measurement, peak_swing,
                                           to_measurement)
from harness.orchestration.pools import PoolMoves, PoolQueue
from harness.orchestration.prepare import (EVAL_KEY, PEAK_KEY, Exports, MeasuringTarget, Preparation,
                                           _companions_needed, _one_line, _prepared_exports, _scores_on_device,
                                           device_scores)
from harness.statistics.compare import model_label
from harness.planning.plan import Plan
from harness.store.results import Measurement, RunInfo
from harness.store.row_fields import facts

if TYPE_CHECKING:
    from devices.target import Target
    from harness.planning.config import DeviceConfig

EventSink = Callable[[str, dict[str, Any]], None]
REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_CONSECUTIVE_DEVICE_FAILURES = 2
STOP_GRACE_S = 1.5  # after Ctrl-C, how long the workers get to return before the run is left to them
SUSTAINED_STOP_GRACE_S = 15.0
__all__ = ["PEAK_MAX_SWING", "Orchestrator", "peak_swing", "run"]


class Targets(Protocol):
    """Where the devices are driven from: this host (LocalTargets) or a farm (harness.farm.coordinator.Farm)."""

    def build(self, device: DeviceConfig) -> MeasuringTarget: ...
    def origin(self, device: str) -> RowOrigin: ...


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=10,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def package_versions() -> dict[str, str]:
    out = {}
    for name in ("harness", "tensorflow", "ai-edge-litert", "numpy", "tf-keras", "tensorflow-model-optimization"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


class LocalTargets:
    """Single-host mode, the default: every device is driven from this process, on this host.
    A farm (harness.farm.coordinator.Farm) offers the same two methods for devices on its agents."""

    def build(self, device: DeviceConfig) -> Target:
        from devices.registry import build_target

        return build_target(device)

    def origin(self, device: str) -> RowOrigin:
        """The host that drove the device, on every row."""
        return RowOrigin(host=platform.node())


@dataclass
class RunSummary:
    run_id: str
    measured: int = 0
    errors: int = 0
    skipped: int = 0
    interrupted: bool = False
    converted: int = 0
    kept: int = 0  # measured but kept beside the database (it refused them): `--resume` stores them
    results: list[Measurement] = field(default_factory=list)


class Orchestrator(Preparation, PoolMoves):
    """Owns one run: its id, the database, the stop flag and the event stream."""

    def __init__(self, plan: Plan, db: ResultsDB, *, events: EventSink | None = None,
                 cache_dir: Path | None = None, targets: Targets | None = None) -> None:
        self.plan = plan
        self.db = db
        self.targets: Targets = targets or LocalTargets()
        self.events = events or (lambda kind, payload: None)
        self.cache_dir = cache_dir
        self.stop = threading.Event()
        getattr(self.targets, "attach", lambda stop: None)(self.stop)  # a farm stops waiting on Ctrl-C
        self._lock = threading.Lock()
        self._active: set[MeasuringTarget] = set()  # targets in use now, aborted on Ctrl-C
        self._queues: dict[str, PoolQueue] = {}  # `run --pool`: each pool's jobs, shared by its devices
        self._pool_of = {d.name: d.pool for d in plan.devices.enabled if plan.job_key(d) != d.name}

    def _emit(self, kind: str, **payload: Any) -> None:
        try:
            self.events(kind, payload)
        except Exception:  # a broken listener must never cost a measurement
            pass

    def start(self, run_id: str | None = None) -> str:
        if run_id is not None:
            self.db.get_run(run_id)  # raises UserError for unknown ids
            self.db.set_run_status(run_id, "running")
            return run_id
        run_id = new_run_id()
        self.db.add_run(
            RunInfo(
                run_id=run_id,
                created_at=time.time(),
                host=platform.node(),
                git_revision=git_revision(),
                packages=package_versions(),
                plan=self.plan.to_dict(),
            )
        )
        return run_id

    def execute(self, run_id: str) -> RunSummary:
        summary = RunSummary(run_id)
        done_ok = self._done(run_id, include_errors=False)
        every = self.plan.repeated_jobs()
        todo = [j for j in every if (j[0], model_label(j[1]), j[2], j[3]) not in done_ok]
        summary.skipped = len(every) - len(todo)
        self._emit("run_started", run_id=run_id, total=len(every), todo=len(todo),
                   skipped=summary.skipped)
        if not todo:
            self.db.set_run_status(run_id, "finished")
            self._emit("run_finished", run_id=run_id, **_counts(summary))
            return summary
        try:
            from converters.build import VariantBuilder

            builder = VariantBuilder(self.cache_dir, Path(self.plan.image_dir) if self.plan.image_dir else None,
                                     progress=lambda m, v, phase, done, total: self._emit(
                                         "convert_progress", model=m, variant=v, phase=phase, done=done, total=total),
                                     task=self.plan.task)
            built = self._convert({(m, v) for _, m, v, _ in todo}, summary, builder)
            by_key: dict[str, list[tuple[str, str, int]]] = {}
            for key, m, v, r in todo:  # whole rounds in order: A B C A B C; a key is a device, or a pool
                by_key.setdefault(key, []).append((m, v, r))
            devices = {d.name: d for d in self.plan.devices.enabled if self.plan.job_key(d) in by_key}
            by_device = {name: by_key[self.plan.job_key(d)] for name, d in devices.items()}
            self._queues = {key: PoolQueue(key, jobs, [n for n, d in devices.items() if self.plan.job_key(d) == key],
                                           self.stop) for key, jobs in by_key.items() if key in self.plan.pools}
            needs = {name: _companions_needed(devices[name]) for name in by_device}
            exports = self._export(by_device, needs, built, builder)
            lanes = self._lanes([devices[name] for name in by_device])
            pool = ThreadPoolExecutor(max_workers=max(1, len(lanes)), thread_name_prefix="device")
            futures = [
                pool.submit(self._lane, run_id, lane, by_device, built, exports, summary) for lane in lanes
            ]
            try:
                while any(not f.done() for f in futures):
                    time.sleep(0.05)
            except KeyboardInterrupt:
                self._interrupt(futures)
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
            for f in futures:
                f.result()
        except KeyboardInterrupt:
            self.stop.set()
            summary.interrupted = True
        status = "interrupted" if summary.interrupted or self.stop.is_set() else "finished"
        summary.interrupted = status == "interrupted"
        self.db.set_run_status(run_id, status)
        self._emit("run_finished", run_id=run_id, status=status, **_counts(summary))
        return summary

    def _lanes(self, devices: list[DeviceConfig]) -> list[list[DeviceConfig]]:
        """Devices that run at the same time, one lane each. Every `kind: local` device of this host shares
        one lane (measured in turn): two at once would each perturb the other's timings. A local device marked
        separate_machine, or any device of a farm (its agents are other hosts), has a lane of its own."""
        here = isinstance(self.targets, LocalTargets)
        shared: list[DeviceConfig] = [d for d in devices if here and d.kind == "local"
                                      and not getattr(d, "separate_machine", False)]
        return ([shared] if shared else []) + [[d] for d in devices if not any(d is x for x in shared)]

    def _lane(self, run_id: str, lane: list[DeviceConfig], by_device: dict[str, list[tuple[str, str, int]]],
              built: dict[tuple[str, str], Any], exports: Exports, summary: RunSummary) -> None:
        for device in lane:
            if self.stop.is_set():
                return
            self._guarded_worker(run_id, device, by_device[device.name], built, exports, summary)

    def _interrupt(self, futures: list[Future[None]]) -> None:
        """Ctrl-C: set the stop flag (cool-downs return at once), kill what the targets run now, and give
        the workers STOP_GRACE_S to return; a worker still blocked after that is left behind."""
        self.stop.set()
        with self._lock:
            targets = list(self._active)
        for t in targets:
            try:
                getattr(t, "abort", lambda: None)()
            except Exception:
                pass
        sustained = any(getattr(self.plan.bench_for(d), "sustained_s", None) for d in self.plan.devices.enabled)
        # A sustained loop ends on the signal and hands back its minutes: time to store them.
        deadline = time.monotonic() + (SUSTAINED_STOP_GRACE_S if sustained else STOP_GRACE_S)
        while time.monotonic() < deadline and any(not f.done() for f in futures):
            time.sleep(0.02)

    def _record(self, m: Measurement, summary: RunSummary) -> None:
        if self.stop.is_set() and not facts(m.extra, "sustained").get("interrupted"):
            return  # a job cut short by Ctrl-C is not a result (a sustained loop's minutes are); resume measures it
        problem = self.db.keep(m)  # stored, or kept beside the database for --resume: never thrown away
        if problem:
            with self._lock:
                summary.kept += 1
            print(f"harness: {m.device} {m.model} {m.variant}: not stored: {problem}", file=sys.stderr, flush=True)
        with self._lock:
            summary.results.append(m)
            if m.status == "ok":
                summary.measured += 1
            else:
                summary.errors += 1
        self._emit("job_finished", measurement=m)  # the row as stored: listeners show it, never re-read it

    def _guarded_worker(self, run_id: str, device: DeviceConfig, jobs: list[tuple[str, str, int]],
                        built: dict[tuple[str, str], Any], exports: Exports,
                        summary: RunSummary) -> None:
        """A bug in one device's worker must not cost the other devices: its unfinished jobs become rows."""
        try:
            self._device_worker(run_id, device, jobs, built, exports, summary)
        except Exception as exc:
            queue = self._queues.get(self.plan.job_key(device))
            done = self._done(run_id) if queue is None else set()
            for model, variant, rep in jobs if queue is None else queue.leave(device.name, give_back=True):
                if (self.plan.job_key(device), model_label(model), variant, rep) not in done:
                    self._record(error_measurement(run_id, device.name, model, variant,
                                                   f"internal error: {type(exc).__name__}: {_one_line(exc)}",
                                                   repeat_index=rep, origin=self._origin(device.name)),
                                 summary)

    def _device_worker(self, run_id: str, device: DeviceConfig, jobs: Iterable[tuple[str, str, int]],
                       built: dict[tuple[str, str], Any], exports: Exports,
                       summary: RunSummary) -> None:
        from devices.target import JobSpec

        bench = self.plan.bench_for(device)
        target: MeasuringTarget | None = None  # built; None while the device is unreachable
        offline_reason: str | None = None
        queue = self._queues.get(self.plan.job_key(device))
        try:
            target = self.targets.build(device)
            with self._lock:
                self._active.add(target)
            target.prepare()
        except Exception as exc:
            offline_reason = f"device unreachable: {_one_line(exc)}"
        if queue is not None:  # a pool's member takes the pool's next job whenever it is free
            jobs = list(queue.leave(device.name, give_back=True)) if offline_reason else queue.jobs(device.name)
        failures = 0
        peak: dict[str, float] | None = None
        peak_rounds: dict[str, list[float]] = {}
        if target is not None and offline_reason is None and built.get(PEAK_KEY) is not None \
                and not isinstance(built[PEAK_KEY], Exception):
            peak, peak_rounds = self._peak_probe(device, target, built[PEAK_KEY], bench)
        try:
            for model, variant, rep in jobs:
                if self.stop.is_set():
                    return
                started = time.time()
                origin = self._origin(device.name, (model, variant, rep))
                if origin.moved_from:  # a pool's job handed back by a member that went offline: one event, here
                    self._emit("job_moved", device=device.name, pool=origin.pool, model=model, variant=variant,
                               repeat=rep, moved_from=list(origin.moved_from))
                else:
                    self._emit("job_started", device=device.name, model=model, variant=variant, repeat=rep)
                art = built.get((model, variant))
                if offline_reason is not None or target is None:
                    self._record(error_measurement(run_id, device.name, model, variant,
                                                   offline_reason or "device unreachable", started, rep, origin),
                                 summary)
                    continue
                if art is None or isinstance(art, Exception):
                    why = _one_line(art) if art is not None else "not converted (interrupted)"
                    self._record(error_measurement(run_id, device.name, model, variant, f"conversion: {why}", started,
                                                   rep, origin), summary)
                    continue
                prepared, why_not = _prepared_exports(exports, device, model, variant)
                if why_not is not None:
                    self._record(error_measurement(run_id, device.name, model, variant, f"export: {why_not}",
                                                   started, rep, origin), summary)
                    continue
                ev = built.get((EVAL_KEY, model)) if _scores_on_device(device) else None
                ev = None if isinstance(ev, Exception) else ev
                job = JobSpec(model_path=art.path, bench=bench, input_shapes=self.plan.input_shapes or None,
                              companions={kind: e.path for kind, e in prepared.items()},
                              companion_origins={kind: e.describe() for kind, e in prepared.items()},
                              eval_inputs=ev.path if ev else None, eval_shape=ev.sample_shape if ev else None,
                              eval_count=ev.count if ev else 0)
                try:
                    target.cool_down(bench, self.stop)
                    if self.stop.is_set():
                        return
                    # this host's own CPUs only: in a farm the job runs on an agent's host, not this one
                    here = device.kind == "local" and isinstance(self.targets, LocalTargets)
                    before = cpu_times() if here else None
                    raw = target.benchmark(job)
                    # What else used the target's CPUs: the runner's own reading of the timed window (any
                    # Linux target), else this host's over the whole job (local tools that do not report it).
                    noise = runner_noise(raw.result) or (host_noise(before, cpu_times()) if before else None)
                    scores = device_scores(ev, raw.outputs) if ev is not None and raw.outputs is not None else None
                    m = to_measurement(run_id, device.name, art, bench, raw, started, repeat_index=rep,
                                       context=RowContext(peak_gflops=peak, peak_rounds=peak_rounds, noise=noise,
                                                          busy_pct=bench.host_busy_pct, scores=scores,
                                                          origin=origin))
                    failures = 0
                except Exception as exc:  # transport or device failure: a row, then maybe offline
                    failures += 1
                    m = error_measurement(run_id, device.name, model, variant, _one_line(exc), started, rep, origin)
                    if failures >= MAX_CONSECUTIVE_DEVICE_FAILURES or isinstance(exc, DeviceError):
                        offline_reason = f"device offline after: {_one_line(exc)}"
                        if queue is not None:  # the pool's other devices take its jobs (a lost host's job too)
                            self._leave_pool(queue, device, (model, variant, rep), m, isinstance(exc, DeviceError),
                                             offline_reason, run_id, summary)
                            return
                self._record(m, summary)
        finally:
            if target is not None:
                with self._lock:
                    self._active.discard(target)
                try:
                    target.close()
                except Exception:
                    pass

def _counts(s: RunSummary) -> dict[str, int]:
    return {"measured": s.measured, "errors": s.errors, "skipped": s.skipped}


def run(plan: Plan, db_path: str | os.PathLike[str], *, resume: str | None = None,
        events: EventSink | None = None, cache_dir: Path | None = None, targets: Targets | None = None) -> RunSummary:
    """The library entry point behind `harness run`; `targets` is a farm, or None for this host."""
    db = ResultsDB(os.fspath(db_path))
    try:
        try:
            stored = db.store_pending()
        except StoreError as exc:
            raise UserError(f"{exc}; measurements kept beside it wait for the next try") from None
        if stored:
            print(f"harness: stored {stored} measurements kept in {pending_path(db_path)} while the database "
                  "refused them", file=sys.stderr)
        orch = Orchestrator(plan, db, events=events, cache_dir=cache_dir, targets=targets)
        run_id = orch.start(resume)
        return orch.execute(run_id)
    finally:
        db.close()
