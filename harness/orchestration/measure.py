"""Turn what a target returned (runner JSON plus probes) into a Measurement: a pure function."""
from __future__ import annotations

import time
from typing import Any

from harness.store.results import Measurement, PowerSample, TempSample
from harness.statistics.compare import model_label
from harness.statistics.latency import LatencySummary, judge, summarize


def summary_from_dict(d: dict[str, Any]) -> LatencySummary:
    """A LatencySummary from a tool's printed statistics; missing percentiles fall back to the mean."""
    mean = float(d["mean_us"])
    std = float(d.get("std_us") or 0.0)
    return LatencySummary(
        count=int(d.get("count") or 0),
        p50_us=float(d.get("p50_us") or mean),
        p90_us=float(d.get("p90_us") or d.get("p95_us") or mean),
        p99_us=float(d.get("p99_us") or d.get("p95_us") or mean),
        mean_us=mean,
        std_us=std,
        min_us=float(d.get("min_us") or mean),
        max_us=float(d.get("max_us") or mean),
        cv=std / mean if mean else 0.0,
    )


def _model_meta(model: str) -> dict[str, Any]:
    """A row names its model as the user did (model_label: a file by its name, a zoo name with its
    @parameters as written); the path it was given with stays here."""
    return {"model_path": model} if model_label(model) != model else {}


def error_measurement(run_id: str, device: str, model: str, variant: str, error: str,
                      started: float | None = None) -> Measurement:
    return Measurement(run_id=run_id, device=device, model=model_label(model), variant=variant, status="error",
                       error=error, started_at=started, finished_at=time.time(), extra=_model_meta(model))


def _hottest(reading: dict[str, float] | None) -> float | None:
    return max(reading.values()) if reading else None


def to_measurement(run_id: str, device: str, art: Any, bench: Any, raw: Any, started: float,
                   peak_gflops: dict[str, float] | None = None) -> Measurement:
    """`art` is a BuiltVariant, `bench` the BenchSettings used, `raw` a devices.target.RawRun;
    `peak_gflops` maps a kernel type (fp32, int8) to the device's matmul probe of that type, so a
    result shows what share of the hardware it used against the peak of the kernels it runs."""
    r = raw.runner
    if r.get("error") or not (r.get("latencies_us") or r.get("summary")):
        err = r.get("error") or "runner returned no latency samples"
        return error_measurement(run_id, device, art.model, art.variant, f"runner: {err}", started)
    lat = tuple(float(x) for x in r.get("latencies_us") or ())
    # Tools that print only statistics (benchmark_model, trtexec) hand a summary instead of samples.
    s = summarize(lat) if lat else summary_from_dict(r["summary"])
    temps = tuple(TempSample(t_s=t[0], phase=t[1], zones_c=t[2]) for t in r.get("temperatures") or ())
    before = next((_hottest(t.zones_c) for t in temps if t.phase == "before"), None)
    after = next((_hottest(t.zones_c) for t in reversed(temps) if t.phase == "after"), None)
    temp_max = max((_hottest(t.zones_c) or float("-inf") for t in temps), default=None)
    if temp_max == float("-inf"):
        temp_max = None
    throttled = bool(raw.throttled) or (temp_max is not None and temp_max >= bench.throttle_temp_c)
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
        delegate=r.get("delegate"),
    )
    power = tuple(PowerSample(t_s=p[0], power_mw=p[1], source=p[2]) for p in raw.power_samples)
    avg_power = sum(p.power_mw for p in power) / len(power) if power else None
    # mW x s = mJ: average power while running times the mean time of one inference.
    energy = avg_power * s.mean_us / 1e6 if avg_power is not None else None
    metrics = dict(art.metrics)
    macs = metrics.get("macs")
    if macs:
        metrics["achieved_gflops"] = round(2.0 * macs / (s.p50_us * 1e-6) / 1e9, 3)
    kind = "int8" if "INT8" in (metrics.get("kernel_dtypes") or ()) else "fp32"
    peak = (peak_gflops or {}).get(kind)
    if peak:
        metrics["device_peak_gflops"] = round(peak, 2)
        metrics["peak_kind"] = kind
        if metrics.get("achieved_gflops"):
            metrics["fraction_of_peak"] = round(metrics["achieved_gflops"] / peak, 4)
    extra = {**_model_meta(art.model), **raw.extra}
    if r.get("model_path") and "remote_model_path" not in extra:
        extra["remote_model_path"] = r["model_path"]  # the board's copy, named by content hash
    if r.get("ops_on_cpu_kernels"):
        extra["ops_on_cpu_kernels"] = r["ops_on_cpu_kernels"]
    if r.get("inputs"):
        extra["inputs"] = r["inputs"]
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
        model_size_bytes=metrics.get("size_bytes"),
        init_us=r.get("init_us"),
        first_inference_us=r.get("first_inference_us"),
        latencies_us=lat,
        duration_s=r.get("duration_s"),
        p50_us=s.p50_us,
        p90_us=s.p90_us,
        p99_us=s.p99_us,
        mean_us=s.mean_us,
        std_us=s.std_us,
        min_us=s.min_us,
        max_us=s.max_us,
        cv=s.cv,
        peak_rss_mb=r.get("peak_rss_mb"),
        peak_rss_delta_mb=r.get("peak_rss_delta_mb"),
        temp_before_c=before,
        temp_after_c=after,
        temp_max_c=temp_max,
        temperatures=temps,
        power_samples=power,
        avg_power_mw=avg_power,
        energy_per_inference_mj=energy,
        ops_total=r.get("ops_total"),
        ops_delegated=r.get("ops_delegated"),
        validity=validity,
        metrics=metrics,
        extra=extra,
        started_at=started,
        finished_at=time.time(),
    )
