"""Terminal tables (rich): one per device for a run, and the device facts."""
from __future__ import annotations

from typing import Any, Iterable

from harness.store.results import Measurement


def _ms(us: float | None) -> str:
    return f"{us / 1000:.3f}" if us is not None else "-"


def _num(v: float | None, fmt: str = "{:.1f}") -> str:
    return fmt.format(v) if v is not None else "-"


def size_text(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def console():
    """A rich console; when output is a pipe or file, wide enough that tables do not wrap."""
    import sys

    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)


def model_label(model: str) -> str:
    """Zoo names as they are; user files by their file name."""
    return model.rsplit("/", 1)[-1]


def measurement_row(m: Measurement) -> list[str]:
    if m.status != "ok":
        return [model_label(m.model), m.variant, "-", "-", "-", "-", "-", "-", "-", "-", "-", f"error: {m.error}"]
    temps = f"{_num(m.temp_before_c)} → {_num(m.temp_after_c)}" if m.temp_before_c is not None else "-"
    v = m.validity
    valid = "ok" if v is None or v.valid else "⚠ " + ",".join(v.flags())
    acc = m.metrics.get("accuracy")
    acc_text = "-" if acc is None else (f"{acc:.3f}" if isinstance(acc, float) else str(acc))
    return [model_label(m.model), m.variant, size_text(m.model_size_bytes), _ms(m.p50_us), _ms(m.p90_us), _ms(m.p99_us),
            f"{m.cv:.1%}" if m.cv is not None else "-", _num(m.peak_rss_delta_mb), temps, compute_text(m.metrics),
            acc_text, valid]


def compute_text(metrics: dict[str, Any]) -> str:
    """Achieved GFLOP/s from the model's MACs, with its share of the device's matmul peak."""
    g = metrics.get("achieved_gflops")
    if g is None:
        return "-"
    frac = metrics.get("fraction_of_peak")
    kind = metrics.get("peak_kind")
    return f"{g:.1f}" + (f" ({frac:.0%} of {kind})" if frac is not None else "")


HEADERS = ["model", "variant", "size", "p50 ms", "p90 ms", "p99 ms", "CV", "peak RSS Δ MB", "temp °C", "GFLOP/s (share of peak)",
           "accuracy", "validity"]


def print_measurements(measurements: Iterable[Measurement], title_prefix: str = "") -> None:
    from rich.table import Table

    by_device: dict[str, list[Measurement]] = {}
    for m in measurements:
        by_device.setdefault(m.device, []).append(m)
    out = console()
    for device, rows in by_device.items():
        hosts = sorted({m.host for m in rows if m.host})
        where = f" @ {', '.join(hosts)}" if hosts else ""
        table = Table(title=f"{title_prefix}{device}{where}", title_justify="left")
        for h in HEADERS:
            table.add_column(h, justify="right" if h not in ("model", "variant", "validity") else "left")
        for m in rows:
            table.add_row(*measurement_row(m))
        out.print(table)


def print_run_tables(run_id: str, db_path: str) -> None:
    from harness.store.db import ResultsDB

    db = ResultsDB(db_path)
    try:
        print_measurements(db.measurements(run_id), title_prefix=f"run {run_id} · ")
    finally:
        db.close()


def print_repeat_spread(run_id: str, db_path: str) -> None:
    """`run --repeat N`: per job, the N medians and how far apart they lie (run-to-run variance)."""
    from harness.statistics.latency import repeat_spreads
    from harness.store.db import ResultsDB

    db = ResultsDB(db_path)
    try:
        spreads = repeat_spreads(db.measurements(run_id))
    finally:
        db.close()
    for (device, model, variant), s in spreads.items():
        meds = ", ".join(f"{x / 1000:.3f}" for x in s.medians_us)
        print(f"repeat spread {device} · {model_label(model)} · {variant}: {len(s.medians_us)} medians "
              f"[{meds}] ms, (max-min)/median {s.spread:.1%}, robust {s.mad_spread:.1%}")


def print_devices(rows: list[dict[str, Any]]) -> None:
    """One row per device; a farm's rows carry their host and a free/busy status instead of ok."""
    from rich.table import Table

    hosts = any("host" in r for r in rows)
    table = Table(title="devices", title_justify="left")
    for h in (("host",) if hosts else ()) + ("device", "kind", "status", "os", "cpu", "cores", "memory",
                                           "thermal zones", "runtime"):
        table.add_column(h)
    for r in rows:
        lead = [str(r.get("host", ""))] if hosts else []
        if r["status"] not in ("ok", "free", "busy"):
            table.add_row(*lead, r["device"], r["kind"], r["status"], r.get("error", ""), "", "", "", "", "")
            continue
        zones = ", ".join(f"{k} {v:.0f}°C" for k, v in (r.get("thermal_zones") or {}).items()) or "none"
        table.add_row(*lead, r["device"], r["kind"], r["status"], str(r.get("os", "-")),
                      str(r.get("board") or r.get("cpu", "-")), str(r.get("cores", "-")),
                      f"{r.get('memory_mb', '-')} MB", zones, f"{r.get('runtime', '-')} {r.get('runtime_version', '')}")
    console().print(table)
    for r in rows:  # what a target wants said beside the table: board identity, rails, probe problems
        for note in r.get("notes") or []:
            console().print(f"{r['device']}: {note}", markup=False, highlight=False)
