"""Before any timed job of a run: every variant converted once, every export a device's runtime needs made,
the held-out inputs of models scored on a phone, and (per device) the matmul peak probe. The orchestrator
(orchestrate.py: the run and its device workers) mixes these steps in.
"""
from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.orchestration.measure import peak_swing
from harness.planning.plan import Plan

if TYPE_CHECKING:
    from converters.build import VariantBuilder
    from converters.device_eval import EvalSet
    from converters.exports import Export
    from converters.variant_metrics import TaskScores
    from devices.job import JobSpec, RawRun
    from harness.planning.config import BenchSettings, DeviceConfig

ExportKey = tuple[str, str, str]  # (model, variant, export kind)
Exports = dict[ExportKey, "Export | Exception"]  # each made export, or why it could not be made
PEAK_KEY = ("__peak_probe__", "matmul")
EVAL_KEY = "__device_eval__"
PEAK_ROUNDS = 2  # the probe runs twice per kind: its run-to-run swing is shown, not hidden


class MeasuringTarget(Protocol):
    """What a worker asks of a device: devices.target.Target on this host, harness.farm's RemoteTarget on an agent
    (which has no `abort`: a farm's job stops through the run's stop flag, `attach`)."""

    def prepare(self) -> None: ...
    def benchmark(self, job: JobSpec) -> RawRun: ...
    def cool_down(self, bench: BenchSettings, stop: threading.Event | None = None) -> float: ...
    def close(self) -> None: ...


class Preparation:
    """The run's steps before its device workers start, as methods of the Orchestrator."""

    plan: Plan
    stop: threading.Event

    def _emit(self, kind: str, **payload: Any) -> None:
        raise NotImplementedError  # the Orchestrator's

    def _convert(self, pairs: set[tuple[str, str]], summary: Any,
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
