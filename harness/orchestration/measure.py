"""Turn what a target returned (runner JSON plus probes) into a Measurement: a pure function."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from harness.statistics.energy import MIN_WINDOW_SAMPLES, window_energy
from harness.statistics.latency import LatencySummary, judge, summarize, summary_from_printed
from harness.statistics.throttle import clock_fell
from harness.store.results import Measurement, PowerSample, TempSample
from harness.statistics.compare import model_label


def summary_from_dict(d: dict[str, Any]) -> LatencySummary:
    """A LatencySummary from a tool's printed statistics: each under its own name, the rest empty."""
    return summary_from_printed(d)


def _model_meta(model: str) -> dict[str, Any]:
    """A row names its model as the user did (model_label: a file by its name, a zoo name with its
    @parameters as written); the path it was given with stays here."""
    return {"model_path": model} if model_label(model) != model else {}


def error_measurement(run_id: str, device: str, model: str, variant: str, error: str,
                      started: float | None = None, repeat_index: int = 0) -> Measurement:
    return Measurement(run_id=run_id, device=device, model=model_label(model), variant=variant, status="error",
                       error=error, started_at=started, finished_at=time.time(), extra=_model_meta(model),
                       repeat_index=repeat_index)


def _hottest(reading: dict[str, float] | None) -> float | None:
    return max(reading.values()) if reading else None


def host_window(raw: Any) -> tuple[float, float] | None:
    """The timed loop on the host's wall clock: the target's own estimate, else the runner's window
    moved by the board's clock offset; None when neither is known."""
    own = getattr(raw, "window_unix_s", None)
    if own:
        return float(own[0]), float(own[1])
    window = raw.runner.get("timed_window_unix_s")
    offset = getattr(raw, "clock_offset_s", None)
    if window and offset is not None:
        return float(window[0]) + offset, float(window[1]) + offset
    return None


def _energy(raw: Any, window: tuple[float, float] | None, started: float, inferences: int,
            extra: dict[str, Any]) -> dict[str, Any]:
    """Energy fields over the timed window; what was not measured stays empty, with the reason in extra."""
    out: dict[str, Any] = {"avg_power_mw": None, "energy_per_inference_mj": None, "energy_source": None,
                           "power_samples_in_window": None, "idle_power_mw": None}
    samples = list(raw.power_samples)
    if not samples:
        return out
    out["energy_source"] = samples[0][2]
    if window is None:
        extra["energy_invalid"] = extra.get("energy_invalid") or (
            "timed window unknown on the host's clock: no energy per inference")
        return out
    lo, hi = window
    idle = [(t, p) for t, p, _ in getattr(raw, "idle_power_samples", None) or []]
    e = window_energy([(t, p) for t, p, _ in samples], lo, hi, idle)
    extra["power_window"] = {"timed_loop_s": [round(lo - started, 3), round(hi - started, 3)],
                             "clock_offset_s": getattr(raw, "clock_offset_s", None),
                             "samples_session": len(samples),
                             "samples_timed_loop": e.samples_in_window if e else 0}
    if e is None:
        extra["energy_invalid"] = "no power sample near the timed window"
        return out
    out.update(avg_power_mw=round(e.avg_power_mw, 3), power_samples_in_window=e.samples_in_window,
               idle_power_mw=round(e.idle_power_mw, 3) if e.idle_power_mw is not None else None)
    per = e.per_inference_mj(inferences)
    out["energy_per_inference_mj"] = per
    if e.few_samples:
        extra["energy_few_samples"] = (f"{e.samples_in_window} power samples in the {e.window_s:.2f} s timed window "
                                       f"(< {MIN_WINDOW_SAMPLES}): energy rests on interpolation")
    return out


def _clock(r: dict[str, Any], raw: Any, window: tuple[float, float] | None) -> tuple[bool | None, str | None]:
    """Runner cpufreq rows (phase before/run), or the target's (host time, MHz) series within the window."""
    rows = r.get("cpu_freq") or []
    before = [row[2] for row in rows if len(row) == 3 and row[1] == "before"]
    # "after" is read the moment the timed loop ends, before anything else runs: the window's last reading.
    during = [row[2] for row in rows if len(row) == 3 and row[1] in ("run", "after")]
    fell, why = clock_fell(before, during)
    series = getattr(raw, "freq_samples", None) or []
    if fell or window is None or not series:
        return fell, why
    lo, hi = window
    probe_fell, probe_why = clock_fell([{"cpu": mhz} for t, mhz in series if t < lo],
                                       [{"cpu": mhz} for t, mhz in series if lo <= t <= hi])
    return (probe_fell, probe_why) if probe_fell is not None else (fell, why)


def node_macs(profile: dict[str, Any], path: Any) -> None:
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


def to_measurement(run_id: str, device: str, art: Any, bench: Any, raw: Any, started: float,
                   peak_gflops: dict[str, float] | None = None, repeat_index: int = 0) -> Measurement:
    """`art` is a BuiltVariant, `bench` the BenchSettings used, `raw` a devices.target.RawRun;
    `peak_gflops` maps a kernel type (fp32, int8) to the device's matmul probe of that type, so a
    result shows what share of the hardware it used against the peak of the kernels it runs."""
    r = raw.runner
    if r.get("error") or not (r.get("latencies_us") or r.get("summary")):
        err = r.get("error") or "runner returned no latency samples"
        return error_measurement(run_id, device, art.model, art.variant, f"runner: {err}", started, repeat_index)
    lat = tuple(float(x) for x in r.get("latencies_us") or ())
    # Tools that print only statistics (benchmark_model, trtexec) hand a summary instead of samples.
    s = summarize(lat) if lat else summary_from_printed(r["summary"])
    temps = tuple(TempSample(t_s=t[0], phase=t[1], zones_c=t[2]) for t in r.get("temperatures") or ())
    before = next((_hottest(t.zones_c) for t in temps if t.phase == "before"), None)
    after = next((_hottest(t.zones_c) for t in reversed(temps) if t.phase == "after"), None)
    temp_max = max((_hottest(t.zones_c) or float("-inf") for t in temps), default=None)
    if temp_max == float("-inf"):
        temp_max = None
    window = host_window(raw)
    fell, fell_why = _clock(r, raw, window)
    hot = temp_max is not None and temp_max >= bench.throttle_temp_c
    throttled = bool(raw.throttled) or hot or bool(fell)
    why = fell_why if fell else (f"a zone reached {temp_max:.1f} C (>= {bench.throttle_temp_c:g} C)" if hot
                                 else "thermal throttling seen during the run")
    extra = {**_model_meta(art.model), **raw.extra}
    validity = judge(
        runs=s.count,
        duration_s=float(r.get("duration_s") or 0.0),
        cv=s.cv,
        min_runs=bench.min_runs,
        min_s=bench.min_s,
        cv_threshold=bench.cv_threshold,
        throttled=throttled,
        ops_total=r.get("ops_total"),
        ops_delegated=r.get("ops_delegated"),
        delegate=r.get("delegate_requested") or r.get("delegate"),
        robust_spread=s.robust_spread,
        spread_threshold=getattr(bench, "spread_threshold", 0.10),
        p99_measured=s.p99_us is not None,
        throttle_why=why,
    )
    energy = _energy(raw, window, started, s.count, extra)
    if extra.get("energy_few_samples"):  # the row says so where its validity is read, not only in extra
        validity = dataclasses.replace(validity, notes=validity.notes + (extra["energy_few_samples"],))
    power = tuple(PowerSample(t_s=round(p[0] - started, 3), power_mw=p[1], source=p[2]) for p in raw.power_samples)
    metrics = dict(art.metrics)
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
            metrics["fraction_of_peak"] = round(metrics["achieved_gflops"] / peak, 4)
    if r.get("model_path") and "remote_model_path" not in extra:
        extra["remote_model_path"] = r["model_path"]  # the board's copy, named by content hash
    if r.get("ops_on_cpu_kernels"):
        extra["ops_on_cpu_kernels"] = r["ops_on_cpu_kernels"]
    if r.get("inputs"):
        extra["inputs"] = r["inputs"]
    for key in ("op_profile", "op_profile_error"):  # the runner's per-op profile pass (op_profiling)
        if r.get(key):
            extra[key] = r[key]
    if extra.get("op_profile") and getattr(art, "path", None):
        node_macs(extra["op_profile"], art.path)
    if r.get("cpu_freq"):
        extra["cpu_freq_mhz"] = r["cpu_freq"]
    memory = getattr(raw, "memory", None) or {}
    return Measurement(
        run_id=run_id,
        device=device,
        model=model_label(art.model),
        variant=art.variant,
        status="ok",
        runtime=r.get("runtime"),
        runtime_version=r.get("runtime_version"),
        threads=r.get("threads"),
        delegate=r.get("delegate"),
        delegate_requested=r.get("delegate_requested") or getattr(bench, "delegate", None),
        repeat_index=repeat_index,
        model_size_bytes=metrics.get("size_bytes"),
        init_us=r.get("init_us"),
        first_inference_us=r.get("first_inference_us"),
        latencies_us=lat,
        duration_s=r.get("duration_s"),
        p5_us=s.p5_us,
        p50_us=s.p50_us,
        p90_us=s.p90_us,
        p95_us=s.p95_us,
        p99_us=s.p99_us,
        mean_us=s.mean_us,
        std_us=s.std_us,
        min_us=s.min_us,
        max_us=s.max_us,
        cv=s.cv,
        robust_spread=s.robust_spread,
        peak_rss_mb=r.get("peak_rss_mb"),
        peak_rss_delta_mb=r.get("peak_rss_delta_mb"),
        peak_footprint_mb=r.get("peak_footprint_mb"),
        end_rss_mb=r.get("end_rss_mb"),
        board_ram_used_peak_mb=memory.get("board_ram_used_peak_mb"),
        temp_before_c=before,
        temp_after_c=after,
        temp_max_c=temp_max,
        temperatures=temps,
        power_samples=power,
        cpu_clock_fell=fell,
        ops_total=r.get("ops_total"),
        ops_delegated=r.get("ops_delegated"),
        validity=validity,
        metrics=metrics,
        extra=extra,
        started_at=started,
        finished_at=time.time(),
        **energy,
    )
