"""Flat tables of measurements for CSV and Parquet: one row per measurement, raw samples as JSON."""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from harness.store.results import Measurement

if TYPE_CHECKING:
    import pandas as pd

Scalar = int | float | str | bool | None  # one CSV / Parquet cell

SCALAR_FIELDS = (
    "schema_version", "run_id", "device", "model", "variant", "repeat_index", "status", "error", "runtime",
    "runtime_version", "threads", "delegate", "delegate_requested", "model_size_bytes", "init_us",
    "first_inference_us", "duration_s", "p5_us", "p50_us", "p90_us", "p95_us", "p99_us", "mean_us", "std_us",
    "min_us", "max_us", "cv", "robust_spread", "peak_rss_mb", "peak_rss_delta_mb", "peak_footprint_mb", "end_rss_mb",
    "board_ram_used_peak_mb", "temp_before_c", "temp_after_c", "temp_max_c", "cpu_clock_fell", "avg_power_mw",
    "idle_power_mw", "energy_per_inference_mj", "energy_source", "power_samples_in_window", "ops_total",
    "ops_delegated", "started_at", "finished_at",
)


def to_records(rows: Iterable[Measurement]) -> list[dict[str, Scalar]]:
    out: list[dict[str, Scalar]] = []
    for m in rows:
        rec: dict[str, Scalar] = {f: getattr(m, f) for f in SCALAR_FIELDS}
        rec["valid"] = m.validity.valid if m.validity else None
        rec["validity_flags"] = ",".join(m.validity.flags()) if m.validity else None
        for k, v in m.metrics.items():
            if isinstance(v, (int, float, str, bool)) or v is None:
                rec[f"metric_{k}"] = v
        rec["runs"] = m.runs
        rec["latencies_us_json"] = json.dumps(list(m.latencies_us))
        out.append(rec)
    return out


def to_frame(rows: Iterable[Measurement]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame.from_records(to_records(rows), columns=None)
