"""Run a plan: convert every variant on the host, then measure on every device in parallel.

Conversion happens first and alone, so TensorFlow never competes with a measurement on this host:
that includes the exports a device's runtime needs besides the variant (a SavedModel for TF-TRT,
an ONNX for TensorRT), which are made here and handed to the target in its JobSpec.
Each device has one thread and runs one job at a time; each result is committed as it arrives.
A failing variant or device becomes error rows and the rest goes on.
"""
from __future__ import annotations

import functools
import os
import platform
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
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
from harness.orchestration.pools import PoolQueue
from harness.statistics.compare import model_label
from harness.planning.plan import Plan
from harness.store.results import Measurement, RunInfo
from harness.store.row_fields import facts

if TYPE_CHECKING:
    from converters.build import VariantBuilder
    from converters.device_eval import EvalSet
    from converters.variant_metrics import TaskScores
    from converters.exports import Export
    from devices.job import JobSpec, RawRun
    from devices.target import Target
    from harness.planning.config import BenchSettings, DeviceConfig

EventSink = Callable[[str, dict[str, Any]], None]
ExportKey = tuple[str, str, str]  # (model, variant, export kind)
Exports = dict[ExportKey, "Export | Exception"]  # each made export, or why it could not be made
REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_CONSECUTIVE_DEVICE_FAILURES = 2
STOP_GRACE_S = 1.5  # after Ctrl-C, how long the workers get to return before the run is left to them
SUSTAINED_STOP_GRACE_S = 15.0
PEAK_KEY = ("__peak_probe__", "matmul")
EVAL_KEY = "__device_eval__"
PEAK_ROUNDS = 2  # the probe runs twice per kind: its run-to-run swing is shown, not hidden
__all__ = ["PEAK_MAX_SWING", "Orchestrator", "peak_swing", "run"]


class MeasuringTarget(Protocol):
    """What a worker asks of a device: devices.target.Target on this host, harness.farm's RemoteTarget on an agent
    (which has no `abort`: a farm's job stops through the run's stop flag, `attach`)."""

    def prepare(self) -> None: ...
    def benchmark(self, job: JobSpec) -> RawRun: ...
    def cool_down(self, bench: BenchSettings, stop: threading.Event | None = None) -> float: ...
    def close(self) -> None: ...


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


class Orchestrator:
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

    def _origin(self, device: str, job: tuple[str, str, int] | None = None) -> RowOrigin:
        """Who drove the device (the targets say); in a pool also the pool's name, and for a job handed back
        by another member, where it was tried before (extra.pool, extra.moved_from)."""
        origin = self.targets.origin(device)
        pool = self._pool_of.get(device)
        if pool is None:
            return origin
        queue = self._queues.get(pool)
        moved = tuple(queue.moved.get(job, ())) if queue is not None and job is not None else ()
        return replace(origin, pool=pool, moved_from=moved)

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

    def _done(self, run_id: str, include_errors: bool = True) -> set[tuple[str, str, str, int]]:
        """The jobs a run already holds rows for; a pool's job is done whichever of its devices ran it."""
        if not self.plan.pools:
            return self.db.done_repeats(run_id, include_errors=include_errors)
        return {(str(m.extra.get("pool") or m.device), m.model, m.variant, m.repeat_index)
                for m in self.db.measurements(run_id) if include_errors or m.status == "ok"}

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

    def _convert(self, pairs: set[tuple[str, str]], summary: RunSummary,
                 builder: VariantBuilder) -> dict[tuple[str, str], Any]:
        """Build every needed artifact once; a failure is kept as the exception for its rows."""
        built: dict[tuple[str, str], Any] = {}
        ordered = [(m, v) for m in self.plan.models for v in self.plan.variants if (m, v) in pairs]
        for i, (m, v) in enumerate(ordered):
            if self.stop.is_set():
                break
            self._emit("convert_started", model=m, variant=v, index=i, total=len(ordered))
            try:
                built[(m, v)] = builder.build(m, v)
                err = None
            except Exception as exc:  # ConversionError, or anything TF throws: one line per variant
                built[(m, v)] = exc
                err = _one_line(exc)
            self._emit("convert_finished", model=m, variant=v, index=i, total=len(ordered), error=err,
                       cached=getattr(built[(m, v)], "cached", False))
        summary.converted = builder.converted
        if any(_scores_on_device(d) for d in self.plan.devices.enabled):
            self._device_eval_sets(builder, built)
        if self.plan.peak_probe and not self.stop.is_set():
            try:
                from converters.peak import probe_path

                built[PEAK_KEY] = {kind: probe_path(builder.cache_dir, dtype=kind) for kind in ("fp32", "int8")}
            except Exception as exc:  # no probe: results simply lack the fraction-of-peak column
                built[PEAK_KEY] = exc
        return built

    def _export(self, by_device: dict[str, list[tuple[str, str, int]]], needs: dict[str, tuple[str, ...]],
                built: dict[tuple[str, str], Any], builder: VariantBuilder) -> Exports:
        """Make every export a device's runtime needs, once per (model, variant, kind), before any timed job.

        A failure is kept as the exception: the rows that needed it become errors with its one line.
        """
        from converters.exports import EXPORT_KINDS, export

        wanted = {(m, v, kind) for name, jobs in by_device.items() for m, v, _ in jobs for kind in needs[name]}
        ordered = [(m, v, k) for m in self.plan.models for v in self.plan.variants for k in EXPORT_KINDS
                   if (m, v, k) in wanted and not isinstance(built.get((m, v)), (Exception, type(None)))]
        exports: Exports = {}
        for i, (m, v, kind) in enumerate(ordered):
            if self.stop.is_set():
                break
            self._emit("export_started", model=m, variant=v, export=kind, index=i, total=len(ordered))
            try:
                exports[(m, v, kind)] = export(kind, built[(m, v)].path, source=functools.partial(builder.source, m))
                err = None
            except Exception as exc:  # ExportError, or anything TF or tf2onnx throws: one line for its rows
                exports[(m, v, kind)] = exc
                err = _one_line(exc)
            self._emit("export_finished", model=m, variant=v, export=kind, index=i, total=len(ordered), error=err)
        return exports

    def _device_eval_sets(self, builder: VariantBuilder, built: dict[tuple[str, str], Any]) -> None:
        """Held-out inputs for models scored on the phone (converters.device_eval): Core ML variants on an
        iPhone, and every variant on an Android phone that runs the companion app."""
        from converters import device_eval
        from converters.build import user_accuracy_gate

        apps = any(d.kind == "android" and getattr(d, "runtime", "") == "app" for d in self.plan.devices.enabled)
        for m in {m for (m, v), art in list(built.items()) if isinstance(v, str) and not isinstance(art, Exception)
                  and not str(m).startswith("__") and (v.startswith("coreml") or apps)}:
            try:
                src = builder.source(m)
                if src.spec is None and user_accuracy_gate(builder.task, builder.image_dir):
                    built[(EVAL_KEY, m)] = None  # the user's model, task not named: no accuracy, on the phone too
                    continue
                built[(EVAL_KEY, m)] = device_eval.prepare(src, builder.cache_dir / "eval", self.plan.image_dir)
            except Exception as exc:  # no eval set: the rows keep "accuracy not measured"
                built[(EVAL_KEY, m)] = exc

    def _peak_probe(self, device: DeviceConfig, target: MeasuringTarget, probes: dict[str, tuple[Path, int]],
                    bench: BenchSettings) -> tuple[dict[str, float], dict[str, list[float]]]:
        """Once per device: GFLOP/s of a large fp32 and int8 matmul through the same runner, threads
        and delegate; int8 kernels run several times faster, so each variant is set against its own kind.
        Each kind runs PEAK_ROUNDS times, interleaved: the best is the peak, and every round is kept so
        that the swing between them (162 to 505 GFLOP/s has been seen on a shared host) is reported."""
        from converters.peak import peak_gflops_from_latency
        from devices.target import JobSpec
        from harness.statistics.latency import summarize

        short = bench.model_copy(update={"warmup_runs": 1, "warmup_s": 0.1, "min_runs": 5, "min_s": 0.3,
                                         "max_s": 30.0, "sustained_s": None})  # never a sustained probe
        rounds: dict[str, list[float]] = {}
        errors: dict[str, str] = {}
        for _ in range(PEAK_ROUNDS):
            for kind, (path, flops) in probes.items():
                if self.stop.is_set() or kind in errors:
                    continue
                try:
                    raw = target.benchmark(JobSpec(model_path=path, bench=short))
                    res = raw.result
                    lat = res.latencies_us
                    p50 = summarize(lat).p50_us if lat else float(res.printed.get("p50_us") or 0)
                    if not p50:
                        raise RuntimeError(res.error or "no latency")
                    rounds.setdefault(kind, []).append(peak_gflops_from_latency(flops, p50))
                except Exception as exc:  # no peak of this kind: results lack the share-of-peak figure
                    errors[kind] = _one_line(exc)
        peaks: dict[str, float] = {}
        for kind in probes:
            if kind in rounds:
                peaks[kind] = max(rounds[kind])
                swing = peak_swing(rounds[kind])
                self._emit("probe_finished", device=device.name, probe=kind, peak_gflops=peaks[kind],
                           rounds_gflops=rounds[kind], swing=swing, error=None)
            elif kind in errors:
                self._emit("probe_finished", device=device.name, probe=kind, peak_gflops=None, error=errors[kind])
        return peaks, rounds

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
                self._emit("job_started", device=device.name, model=model, variant=variant, repeat=rep)
                art = built.get((model, variant))
                origin = self._origin(device.name, (model, variant, rep))
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

    def _leave_pool(self, queue: PoolQueue, device: DeviceConfig, job: tuple[str, str, int], m: Measurement,
                    give_back: bool, reason: str, run_id: str, summary: RunSummary) -> None:
        """A pool member went offline during `job` (its row `m`): a lost device's job moves to another member of
        the pool (no row here); what no member is left to run becomes error rows saying why this one went."""
        left = queue.leave(device.name, give_back=give_back, why=m.error or "")
        if give_back and job not in left:
            self._emit("job_moved", device=device.name, pool=queue.name, model=job[0], variant=job[1],
                       repeat=job[2], error=m.error)
        else:
            self._record(m, summary)  # it failed here, or no member is left to run it again
        for model, variant, rep in left:
            if (model, variant, rep) != job:
                self._record(error_measurement(run_id, device.name, model, variant, reason, repeat_index=rep,
                                               origin=self._origin(device.name)), summary)


def _scores_on_device(device: DeviceConfig) -> bool:
    """Whether the device's runtime writes the model's outputs on held-out inputs (the runtime registry says):
    the companion apps return the eval set's outputs as the phone computed them; the host scores them."""
    from devices.runtimes import runtime_for

    rt = runtime_for(getattr(device, "kind", None), getattr(device, "runtime", None))
    return bool(rt and rt.scores_on_device)


def _companions_needed(device: DeviceConfig) -> tuple[str, ...]:
    """What the device's runtime needs exported besides the variant; a kind that cannot load needs nothing
    here (its worker reports the device unreachable)."""
    try:
        from devices.registry import target_class

        return tuple(target_class(device.kind).companions_needed(device))
    except Exception:
        return ()


def _prepared_exports(exports: Exports, device: DeviceConfig, model: str,
                      variant: str) -> tuple[dict[str, Export], str | None]:
    """The exports one job's runtime needs (kind -> converters.exports.Export), or why one is missing."""
    prepared: dict[str, Export] = {}
    for kind in _companions_needed(device):
        made = exports.get((model, variant, kind))
        if made is None:
            return {}, "not exported (interrupted)"
        if isinstance(made, Exception):
            return {}, _one_line(made)
        prepared[kind] = made
    return prepared, None


def device_scores(ev: EvalSet, outputs: Any) -> TaskScores:
    """The accuracy the device's own outputs reach, for the row's metrics; the timing stands without it."""
    from converters import device_eval

    try:
        return {**device_eval.score(ev, outputs)}
    except Exception as exc:
        return {"accuracy_error": f"device outputs: {_one_line(exc)}"}


def _one_line(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:500]


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
