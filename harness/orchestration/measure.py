"""Turn what a target returned (the runtime's typed result plus probes) into a Measurement: a pure function.

The row is built once, with everything it says in hand (`RowContext`: the device's peak probe and its rounds,
the host's noise, the scores of the device's own outputs, the host that drove it); nothing replaces it after.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devices.runner_result import RunnerResult, json_value
from devices.target import RawRun
from devices.timing import timed_window_on_host
from devices.energy_validity import NO_SAMPLE_NEAR_WINDOW, NO_WINDOW, few_samples_note
from harness.statistics.energy import window_energy
from harness.statistics.latency import LatencySummary, judge, level_shift, summarize, summary_from_printed
from harness.statistics.sustained import bounded_sample, from_runner, sustained_text
from harness.statistics.throttle import clock_fell
from harness.store.results import Measurement, PowerSample, TempSample
from harness.store.row_fields import Metrics, as_row_metrics
from harness.statistics.compare import model_label
from harness.orchestration.hostload import HOST_BUSY_OTHERS_PCT, HostNoise, noise_columns

if TYPE_CHECKING:
    from converters.build import BuiltVariant
    from converters.variant_metrics import TaskScores
    from devices.config import BenchSettings

PEAK_MAX_SWING = 0.25  # above this the peak probe is no denominator: no fraction-of-peak figure


@dataclass(frozen=True)
class RowOrigin:
    """Who drove the device (this host, or a farm agent) and, from a farm, the device's facts as of its join."""

    host: str | None = None
    device_facts: Mapping[str, Any] | None = None
    pool: str | None = None  # `run --pool`: the pool the job was planned on (the row keeps the device that ran it)
    moved_from: tuple[str, ...] = ()  # "device: why" for each pool member that handed this job back


@dataclass(frozen=True)
class RowContext:
    """What a row says besides the target's answer, in hand before the row is built."""

    peak_gflops: Mapping[str, float] | None = None  # kernel kind (fp32, int8) -> the device's matmul peak
    peak_rounds: Mapping[str, Sequence[float]] = field(default_factory=dict)  # each probe round, per kind
    noise: HostNoise | None = None  # what else used the target's CPUs
    busy_pct: float = HOST_BUSY_OTHERS_PCT
    scores: TaskScores | None = None  # accuracy of the device's own outputs (device_eval.score)
    origin: RowOrigin = RowOrigin()


def summary_from_dict(d: dict[str, Any]) -> LatencySummary:
    """A LatencySummary from a tool's printed statistics: each under its own name, the rest empty."""
    return summary_from_printed(d)


def _model_meta(model: str) -> dict[str, Any]:
    """A row names its model as the user did (model_label: a file by its name, a zoo name with its
    @parameters as written); the path it was given with stays here."""
    return {"model_path": model} if model_label(model) != model else {}


def error_measurement(run_id: str, device: str, model: str, variant: str, error: str,
                      started: float | None = None, repeat_index: int = 0,
                      origin: RowOrigin | None = None) -> Measurement:
    extra = _with_facts(_model_meta(model), origin)
    return Measurement(run_id=run_id, device=device, model=model_label(model), variant=variant, status="error",
                       error=error, started_at=started, finished_at=time.time(), extra=extra,
                       repeat_index=repeat_index, host=origin.host if origin else None)


def _with_facts(extra: dict[str, Any], origin: RowOrigin | None) -> dict[str, Any]:
    """A farm's device facts where the job brought none of its own; a pool's name, and where the job was tried."""
    if origin is not None and origin.device_facts and "device_facts" not in extra:
        extra["device_facts"] = origin.device_facts
    if origin is not None and origin.pool is not None:
        extra["pool"] = origin.pool
    if origin is not None and origin.moved_from:
        extra["moved_from"] = list(origin.moved_from)
    return extra


def peak_swing(rounds: Sequence[float]) -> float | None:
    """max / min - 1 of the probe's rounds; None with fewer than two."""
    return max(rounds) / min(rounds) - 1 if len(rounds) >= 2 and min(rounds) > 0 else None


def peak_swing_metrics(metrics: Metrics, rounds: Mapping[str, Sequence[float]]) -> Metrics:
    """The probe's rounds beside the peak; an unsteady probe is no denominator (its fraction goes)."""
    kind = metrics.get("peak_kind")
    if not isinstance(kind, str) or kind not in rounds:
        return metrics
    metrics = {**metrics}
    metrics["device_peak_rounds_gflops"] = [round(v, 2) for v in rounds[kind]]
    swing = peak_swing(rounds[kind])
    if swing is not None:
        metrics["device_peak_swing"] = round(swing, 4)
        if swing > PEAK_MAX_SWING and "fraction_of_peak" in metrics:
            del metrics["fraction_of_peak"]
            metrics["fraction_of_peak_note"] = (f"not computed: the {kind} peak probe swung {swing:.0%} between "
                                                f"runs ({', '.join(f'{v:.0f}' for v in rounds[kind])} GFLOP/s)")
    return metrics


def device_score_metrics(metrics: Metrics, scores: TaskScores | None) -> Metrics:
    """The accuracy the device's own outputs reach (metrics say accuracy_source); the host's per-example
    scores are not the device's, so no interval is drawn from them beside device scores."""
    if scores is None:
        return metrics
    out: Metrics = {**metrics}
    out.pop("accuracy_note", None)
    out.pop("per_example", None)
    return {**out, **scores}


def _hottest(reading: dict[str, float] | None) -> float | None:
    return max(reading.values()) if reading else None


def host_window(raw: RawRun) -> tuple[float, float] | None:
    """The timed loop on the host's wall clock: the target's own estimate, else the runner's window
    moved by the board's clock offset; None when neither is known."""
    return timed_window_on_host(raw.window_unix_s, raw.result.timed_window_unix_s, raw.clock_offset_s)


def _energy(raw: RawRun, window: tuple[float, float] | None, started: float, inferences: int,
            extra: dict[str, Any]) -> dict[str, Any]:
    """Energy fields over the timed window; what was not measured stays empty, with the reason in extra."""
    out: dict[str, Any] = {"avg_power_mw": None, "energy_per_inference_mj": None, "energy_source": None,
                           "power_samples_in_window": None, "idle_power_mw": None}
    samples = list(raw.power_samples)
    if not samples:
        return out
    out["energy_source"] = samples[0][2]
    if window is None:
        extra["energy_invalid"] = extra.get("energy_invalid") or NO_WINDOW
        return out
    lo, hi = window
    idle = [(t, p) for t, p, _ in raw.idle_power_samples]
    e = window_energy([(t, p) for t, p, _ in samples], lo, hi, idle)
    extra["power_window"] = {"timed_loop_s": [round(lo - started, 3), round(hi - started, 3)],
                             "clock_offset_s": raw.clock_offset_s,
                             "samples_session": len(samples),
                             "samples_timed_loop": e.samples_in_window if e else 0}
    if e is None:
        extra["energy_invalid"] = NO_SAMPLE_NEAR_WINDOW
        return out
    out.update(avg_power_mw=round(e.avg_power_mw, 3), power_samples_in_window=e.samples_in_window,
               idle_power_mw=round(e.idle_power_mw, 3) if e.idle_power_mw is not None else None)
    per = e.per_inference_mj(inferences)
    out["energy_per_inference_mj"] = per
    note = few_samples_note(e.samples_in_window, e.window_s)
    if note:
        extra["energy_few_samples"] = note
    return out


def _clock(res: RunnerResult, raw: RawRun,
           window: tuple[float, float] | None) -> tuple[bool | None, str | None]:
    """Runner cpufreq rows (phase before/run), or the target's (host time, MHz) series within the window."""
    before = [row[2] for row in res.cpu_freq if row[1] == "before"]
    # "after" is read the moment the timed loop ends, before anything else runs: the window's last reading.
    during = [row[2] for row in res.cpu_freq if row[1] in ("run", "after")]
    fell, why = clock_fell(before, during)
    series = raw.freq_samples
    if fell or window is None or not series:
        return fell, why
    lo, hi = window
    probe_fell, probe_why = clock_fell([{"cpu": mhz} for t, mhz in series if t < lo],
                                       [{"cpu": mhz} for t, mhz in series if lo <= t <= hi])
    return (probe_fell, probe_why) if probe_fell is not None else (fell, why)


def node_macs(profile: dict[str, Any], path: str | Path) -> None:
    """Give each profiled op that names its TFLite node that node's MACs from the .tflite (counted, not timed)."""
    from converters.analysis import macs_by_node

    try:
        per_node = macs_by_node(Path(path).read_bytes())
    except Exception:  # not a .tflite this reader knows: the rows keep no MACs rather than a guess
        return
    for row in profile.get("run_order") or []:
        node = row.get("tflite_node")
        if node in per_node:
            row["macs"] = per_node[node]


def _temperatures(res: RunnerResult) -> tuple[tuple[TempSample, ...], float | None, float | None, float | None]:
    """The runner's series, and the hottest zone before, after and at any point (None where not read)."""
    temps = tuple(TempSample(t_s=t[0], phase=t[1], zones_c=dict(t[2])) for t in res.temperatures)
    before = next((_hottest(t.zones_c) for t in temps if t.phase == "before"), None)
    after = next((_hottest(t.zones_c) for t in reversed(temps) if t.phase == "after"), None)
    temp_max = max((_hottest(t.zones_c) or float("-inf") for t in temps), default=None)
    return temps, before, after, (None if temp_max == float("-inf") else temp_max)


def _metrics(art: BuiltVariant, s: LatencySummary, peak_gflops: Mapping[str, float] | None) -> Metrics:
    """The variant's counted metrics plus achieved GFLOP/s and its share of the device's peak of that kind."""
    metrics = as_row_metrics(art.metrics)
    if isinstance(getattr(art, "params", None), dict) and art.params:
        metrics["pass_params"] = dict(art.params)  # the table shows them where variants of one pass differ
    macs = metrics.get("macs")
    if macs and s.p50_us:
        metrics["achieved_gflops"] = round(2.0 * macs / (s.p50_us * 1e-6) / 1e9, 3)
    kind = "int8" if "INT8" in (metrics.get("kernel_dtypes") or ()) else "fp32"
    peak = (peak_gflops or {}).get(kind)
    if peak:
        metrics["device_peak_gflops"] = round(peak, 2)
        metrics["peak_kind"] = kind
        if metrics.get("achieved_gflops"):
            share = metrics["achieved_gflops"] / peak
            if share <= 1.0:
                metrics["fraction_of_peak"] = round(share, 4)
            else:  # a probe slower than the model itself measured a busy moment, not the device's peak
                metrics["fraction_of_peak_note"] = (
                    f"not computed: the {kind} matmul probe ({peak:.1f} GFLOP/s) ran below this model's "
                    f"achieved {metrics['achieved_gflops']:.1f} GFLOP/s, so it is no peak (a busy host "
                    "during the probe); unreliable")
    return metrics


def _runner_extra(res: RunnerResult, art: BuiltVariant, extra: dict[str, Any]) -> None:
    """What the runner saw that has no column of its own: kept in extra, as JSON."""
    if getattr(art, "path", None):  # the artifact measured: a nightly re-measures it beside a suspect's
        extra["artifact_path"] = str(art.path)
    if res.model_path and "remote_model_path" not in extra:
        extra["remote_model_path"] = res.model_path  # the board's copy, named by content hash
    if res.ops_on_cpu_kernels:
        extra["ops_on_cpu_kernels"] = json_value(res.ops_on_cpu_kernels)
    if res.inputs:
        extra["inputs"] = json_value(res.inputs)
    if res.op_profile:  # the runner's per-op profile pass (op_profiling)
        extra["op_profile"] = res.op_profile
    if res.op_profile_error:
        extra["op_profile_error"] = res.op_profile_error
    if extra.get("op_profile") and getattr(art, "path", None):
        node_macs(extra["op_profile"], art.path)
    if res.cpu_freq:
        extra["cpu_freq_mhz"] = json_value(res.cpu_freq)
    if res.machine:  # `uname -m` where the runner ran: an x86 stand-in and an arm64 board differ here
        extra["machine"] = res.machine


# The latency summary's figures that are Measurement columns of the same name.
SUMMARY_COLUMNS = ("p5_us", "p50_us", "p90_us", "p95_us", "p99_us", "mean_us", "std_us", "min_us", "max_us", "cv",
                   "robust_spread")


def to_measurement(run_id: str, device: str, art: BuiltVariant, bench: BenchSettings, raw: RawRun, started: float,
                   peak_gflops: Mapping[str, float] | None = None, repeat_index: int = 0,
                   context: RowContext | None = None) -> Measurement:
    """`art` is a BuiltVariant, `bench` the BenchSettings used, `raw` what the target returned;
    `peak_gflops` (or context.peak_gflops) maps a kernel type (fp32, int8) to the device's matmul probe of that
    type, so a result shows what share of the hardware it used against the peak of the kernels it runs."""
    ctx = context or RowContext(peak_gflops=peak_gflops)
    res = raw.result
    if not res.ok:
        err = res.error or "runner returned no latency samples"
        return error_measurement(run_id, device, art.model, art.variant, f"runner: {err}", started, repeat_index,
                                 ctx.origin)
    lat = res.latencies_us
    # Tools that print only statistics (benchmark_model, trtexec) hand a summary instead of samples.
    s = summarize(lat) if lat else summary_from_printed(res.printed)
    temps, before, after, temp_max = _temperatures(res)
    window = host_window(raw)
    fell, fell_why = _clock(res, raw, window)
    hot = temp_max is not None and temp_max >= bench.throttle_temp_c
    throttled = bool(raw.throttled) or hot or bool(fell)
    sustained = from_runner(res)
    if sustained is not None:  # throttling is what a sustained run measures, not a fault of the row
        throttled = False
    why = fell_why if fell else (f"a zone reached {temp_max:.1f} C (>= {bench.throttle_temp_c:g} C)" if hot
                                 else "thermal throttling seen during the run")
    extra = _with_facts({**_model_meta(art.model), **raw.extra}, ctx.origin)
    validity = judge(
        runs=s.count,
        duration_s=float(res.duration_s or 0.0),
        cv=s.cv,
        min_runs=bench.min_runs,
        min_s=bench.min_s,
        cv_threshold=bench.cv_threshold,
        throttled=throttled,
        ops_total=res.ops_total,
        ops_delegated=res.ops_delegated,
        delegate=res.delegate_asked,
        robust_spread=s.robust_spread,
        spread_threshold=getattr(bench, "spread_threshold", 0.10),
        p99_measured=s.p99_us is not None,
        throttle_why=why,
        # a sustained run measures how the speed changes over time: a shift is its result, not a flaw
        shift=None if sustained is not None else level_shift(res.latencies_us),
    )
    if sustained is not None:
        extra["sustained"] = sustained.to_dict()
        validity = dataclasses.replace(validity, notes=validity.notes + (f"sustained: {sustained_text(sustained)}",))
    if extra.get("emulated"):  # read where validity is read, not only in extra
        validity = dataclasses.replace(validity, notes=validity.notes + (
            f"emulated ({extra['emulated']}): timings are not a real board's",))
    energy = _energy(raw, window, started, s.count, extra)
    if extra.get("energy_few_samples"):  # the row says so where its validity is read, not only in extra
        validity = dataclasses.replace(validity, notes=validity.notes + (extra["energy_few_samples"],))
    power = tuple(PowerSample(t_s=round(p[0] - started, 3), power_mw=p[1], source=p[2]) for p in raw.power_samples)
    if sustained is not None:  # every figure above came from all the samples; the row keeps a bounded sample
        lat, kept = bounded_sample(lat)
        if kept:
            extra["latencies_kept"] = kept
    metrics = device_score_metrics(peak_swing_metrics(_metrics(art, s, ctx.peak_gflops), ctx.peak_rounds),
                                   ctx.scores)
    _runner_extra(res, art, extra)
    return Measurement(
        run_id=run_id,
        device=device,
        model=model_label(art.model),
        variant=art.variant,
        status="ok",
        runtime=res.runtime,
        runtime_version=res.runtime_version,
        threads=res.threads,
        delegate=res.delegate,
        delegate_requested=res.delegate_requested or getattr(bench, "delegate", None),
        repeat_index=repeat_index,
        model_size_bytes=metrics.get("size_bytes"),
        init_us=res.init_us,
        first_inference_us=res.first_inference_us,
        latencies_us=lat,
        duration_s=res.duration_s,
        **{name: getattr(s, name) for name in SUMMARY_COLUMNS},
        peak_rss_mb=res.peak_rss_mb,
        peak_rss_delta_mb=res.peak_rss_delta_mb,
        peak_footprint_mb=res.peak_footprint_mb,
        end_rss_mb=res.end_rss_mb,
        board_ram_used_peak_mb=raw.memory.get("board_ram_used_peak_mb"),
        temp_before_c=before,
        temp_after_c=after,
        temp_max_c=temp_max,
        temperatures=temps,
        power_samples=power,
        cpu_clock_fell=fell,
        ops_total=res.ops_total,
        ops_delegated=res.ops_delegated,
        metrics=metrics,
        extra=extra,
        started_at=started,
        finished_at=time.time(),
        host=ctx.origin.host,
        **{"validity": validity, **noise_columns(validity, ctx.noise, ctx.busy_pct)},
        **energy,
    )
