"""Terminal tables (rich): one per device for a run, and the device facts."""
from __future__ import annotations

from typing import TYPE_CHECKING
from collections.abc import Iterable, Mapping, Sequence

from harness.store.results import Measurement
from harness.store.row_fields import number

if TYPE_CHECKING:
    from rich.console import Console

    from converters.variant_metrics import VariantMetrics
    from harness.store.row_fields import Metrics


def _ms(us: float | None) -> str:
    return f"{us / 1000:.3f}" if us is not None else "-"


def _num(v: float | None, fmt: str = "{:.1f}") -> str:
    return fmt.format(v) if v is not None else "-"


def size_text(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def console() -> Console:
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
    valid = "ok" if v is None or v.valid else "⚠ " + ",".join(validity_flags(m))
    acc_text = accuracy_cell(m)
    return [model_label(m.model), m.variant, size_text(m.model_size_bytes), _ms(m.p50_us), _ms(m.p90_us), _ms(m.p99_us),
            spread_text(m), _num(m.peak_rss_delta_mb), temps, compute_text(m.metrics),
            acc_text, valid]


def validity_flags(m: Measurement) -> list[str]:
    """The failed checks, `host busy` with its figure (other processes' share of the CPUs)."""
    flags = m.validity.flags() if m.validity is not None else []
    if m.host_others_cpu_pct is not None:
        flags = [f"host busy {m.host_others_cpu_pct:.0f}%" if f == "host busy" else f for f in flags]
    return flags


def spread_text(m: Measurement) -> str:
    """The robust spread (1.4826 MAD/median) the validity rule judges stability by; the CV, which one
    outlier inflates past 1000 % on a steady run, stays in the csv and json."""
    return f"{m.robust_spread:.1%}" if m.robust_spread is not None else "-"


def accuracy_cell(m: Measurement) -> str:
    """The accuracy with its metric and unit (`PSNR 27.41 dB · SSIM 0.912`, `top-1 0.612`, `mAP@0.5 0.43`)."""
    from harness.statistics.compare import accuracy_of, accuracy_text

    acc = accuracy_of(m)
    if acc is None:  # said, not left blank: seed-scale models have no accuracy (untrained)
        return "not measured"
    text = accuracy_text(*acc)
    ssim = m.metrics.get("ssim")
    if acc[0] in ("psnr_db", "psnr") and isinstance(ssim, (int, float)):
        text += f" · {accuracy_text('ssim', float(ssim))}"
    return text


def compute_text(metrics: Metrics) -> str:
    """Achieved GFLOP/s from the model's MACs, with its share of the device's matmul peak."""
    g = metrics.get("achieved_gflops")
    if g is None:
        return "-"
    frac = metrics.get("fraction_of_peak")
    kind = metrics.get("peak_kind")
    if frac is not None and frac > 1.0:  # rows stored before the probe was checked against the achieved rate
        return f"{g:.1f} (peak probe unreliable)"
    if frac is None and metrics.get("fraction_of_peak_note"):
        return f"{g:.1f} (peak probe unreliable)"
    return f"{g:.1f}" + (f" ({frac:.0%} of {kind})" if frac is not None else "")


HEADERS = ["model", "variant", "file size", "p50 ms", "p90 ms", "p99 ms", "spread", "peak RSS Δ MB", "temp °C",
           "GFLOP/s (share of peak)", "accuracy", "validity"]
COMPRESSED = "compressed size"  # a pass whose point is a smaller download (deep_compression) shows both


def compressed_text(metrics: VariantMetrics) -> str:
    return size_text(metrics.get("compressed_bytes")) if metrics.get("compressed_bytes") is not None else "-"


def differing_params(rows: list[Measurement]) -> dict[str, set[str]]:
    """Pass -> the parameters whose values differ among that pass's rows (`prune` at its default
    sparsity 0.9 beside `prune@sparsity=0.5`); empty when no two variants of a pass differ."""
    by_pass: dict[str, list[Mapping[str, object]]] = {}
    for m in rows:
        params = m.metrics.get("pass_params")
        if m.status == "ok" and isinstance(params, dict):
            by_pass.setdefault(m.variant.split("@", 1)[0], []).append(params)
    out: dict[str, set[str]] = {}
    for name, all_params in by_pass.items():
        keys = {k for p in all_params for k in p}
        differ = {k for k in keys if len({_param_value(p.get(k, "-")) for p in all_params}) > 1}
        if differ:
            out[name] = differ
    return out


def _param_value(v: object) -> str:
    return "auto" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def params_text(m: Measurement, differing: dict[str, set[str]]) -> str:
    """The parameters that set this row apart from the other variants of its pass ("-" for other passes)."""
    keys = differing.get(m.variant.split("@", 1)[0])
    params = m.metrics.get("pass_params")
    if not keys or not isinstance(params, dict):
        return "-"
    return " ".join(f"{k}={_param_value(params.get(k))}" for k in sorted(keys))


# Statistics a tool printed without percentiles (an imported benchmark_model log: count, avg, min, max, std):
# each in its own column, shown only when some row has a mean but no median.
PRINTED_STATS = (("mean ms", "mean_us"), ("min ms", "min_us"), ("max ms", "max_us"), ("std ms", "std_us"))


def _add_printed_statistics(headers: list[str], cells: list[list[str]], rows: list[Measurement]) -> None:
    ok = [m for m in rows if m.status == "ok"]
    if any(m.p50_us is None and m.mean_us is not None for m in ok):
        at = headers.index("p50 ms")
        headers[at:at] = [h for h, _ in PRINTED_STATS]
        for c, m in zip(cells, rows):
            c[at:at] = [_ms(getattr(m, f)) if m.status == "ok" else "-" for _, f in PRINTED_STATS]
    if any(m.peak_footprint_mb is not None for m in ok):  # benchmark_model's periodic-monitoring peak
        at = headers.index("peak RSS Δ MB") + 1
        headers.insert(at, "peak footprint MB")
        for c, m in zip(cells, rows):
            c.insert(at, _num(m.peak_footprint_mb) if m.status == "ok" else "-")


def measurements_text(measurements: Iterable[Measurement], fmt: str = "table", title_prefix: str = "",
                      width: int | None = None) -> str:
    """One table per device; a "compressed size" column next to the file size when a row has one."""
    from errors import clean
    from harness.reporting.render import render

    by_device: dict[str, list[Measurement]] = {}
    for m in measurements:
        by_device.setdefault(m.device, []).append(m)
    parts = []
    for device, rows in by_device.items():
        hosts = sorted({m.host for m in rows if m.host})
        where = f" @ {', '.join(clean(h, 60) for h in hosts)}" if hosts else ""
        # clean: names and errors from the database are shown, never obeyed
        headers, cells = list(HEADERS), [[clean(c, 300) for c in measurement_row(m)] for m in rows]
        if any(m.metrics.get("compressed_bytes") is not None for m in rows):
            headers.insert(3, COMPRESSED)
            for c, m in zip(cells, rows):
                c.insert(3, compressed_text(m.metrics))
        differing = differing_params(rows)
        if differing:  # variants of one pass side by side: what sets them apart, and their gzip size
            headers[2:2] = ["pass params"]
            headers.insert(headers.index("file size") + 1, "gzip")
            for c, m in zip(cells, rows):
                c[2:2] = [clean(params_text(m, differing), 120)]
                c.insert(headers.index("gzip"), size_text(m.metrics.get("gzip_bytes")) if m.status == "ok" else "-")
        _add_printed_statistics(headers, cells, rows)
        parts.append(render(fmt, headers, cells, title=f"{title_prefix}{clean(device, 60)}{where}", width=width))
    return "".join(parts)


def print_measurements(measurements: Iterable[Measurement], title_prefix: str = "") -> None:
    from harness.reporting.render import emit

    text = measurements_text(measurements, title_prefix=title_prefix)
    if text:
        emit(text)


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


def _memory(mb: object) -> str:
    return f"{mb / 1024:.1f} GB" if isinstance(mb, (int, float)) else "-"


def device_cells(r: Mapping[str, object], with_host: bool = False) -> list[str]:
    """(host,) device, kind, status, cores, runtime, problem: the short facts; the error has its own column.
    A farm's rows carry their host and a free/busy status instead of ok."""
    from errors import clean

    lead = [clean(str(r.get("host", "")), 30)] if with_host else []
    device, kind = clean(str(r["device"]), 40), str(r["kind"])
    if r["status"] == "unreachable":
        return [*lead, device, kind, "unreachable", "-", "-", clean(str(r.get("error", "")), 300)]
    runtime = f"{r['runtime']} {r.get('runtime_version') or ''}".strip() if r.get("runtime") else "none"
    return [*lead, device, kind, str(r["status"]), str(r.get("cores", "-")), clean(runtime, 40),
            clean(str(r.get("problem") or ""), 300)]


def device_rows(rows: Sequence[Mapping[str, object]]) -> tuple[list[str], list[list[str]]]:
    """Headers and cells; a farm's rows carry their host and a free/busy status instead of ok."""
    hosts = any("host" in r for r in rows)
    headers = (["host"] if hosts else []) + ["device", "kind", "status", "cores", "runtime", "problem / error"]
    return headers, [device_cells(r, hosts) for r in rows]


DEVICE_TABLE_WIDTH = 100  # wider facts (thermal zones, frequencies, paths) are in --json


def print_devices(rows: Sequence[Mapping[str, object]], fmt: str = "table") -> None:
    """A 100-column table whose long text (errors, problems) wraps inside its column, never cut; or md/csv/json."""
    import sys

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from errors import clean
    from harness.reporting.render import emit, render

    if fmt != "table":
        emit(render(fmt, *device_rows(rows), title="devices"))
        return
    hosts = any("host" in r for r in rows)
    table = Table(title="devices (more facts: --json)", title_justify="left")
    # runtime: "ai-edge-litert 2.3.0" on one line, piped or not
    for h, width in ((("host", 14),) if hosts else ()) + (("device", 16), ("kind", 12), ("status", 11),
                                                        ("cores", 5), ("runtime", 24), ("problem / error", None)):
        table.add_column(h, max_width=width, overflow="fold")
    for r in rows:
        table.add_row(*(Text(c) for c in device_cells(r, hosts)))  # Text: a name is never read as rich markup
    width = min(DEVICE_TABLE_WIDTH, Console().width) if sys.stdout.isatty() else DEVICE_TABLE_WIDTH
    out = Console(width=width)
    out.print(table)
    for r in rows:  # what a target wants said beside the table: board identity, rails, probe problems
        notes = r.get("notes")
        for note in notes if isinstance(notes, list) else []:
            out.print(f"{clean(str(r['device']), 40)}: {clean(str(note), 300)}", markup=False, highlight=False)


def print_setup_steps(rows: Sequence[Mapping[str, object]]) -> None:
    """What `harness devices setup` did on each device, one step a line."""
    from errors import clean

    for r in rows:
        steps = r.get("setup")
        if not steps or not isinstance(steps, list):
            continue
        print(f"{clean(str(r['device']), 40)}: setup")
        for step in steps:
            print(f"  - {clean(str(step), 300)}")


def op_profile_headers(op_profile: Mapping[str, object]) -> list[str]:
    """The time column says which statistic it is: the LiteRT profiler's per-op medians or benchmark_model's average;
    TensorRT's rows are engine layers (fused names as TensorRT prints them), not op types."""
    median = str(op_profile.get("time_per_op", "")).startswith("median")
    first = "TensorRT layer (fused names kept)" if op_profile.get("layers") else "op"
    return [first, "median ms" if median else "avg ms", "share", "MACs"]


def op_profile_note(op_profile: Mapping[str, object], p50_us: float | None = None) -> str:
    """How the profile was measured, and how its ops add up against the whole invoke (the profiled one,
    and the row's own unprofiled p50 from the timed loop when given)."""
    method = op_profile.get("method") or "benchmark_model --enable_op_profiling (average per op)"
    bits = [f"method: {method}"]
    if op_profile.get("runs"):
        bits.append(f"{op_profile['runs']} profiled runs")
    if op_profile.get("nodes_executed") is not None:
        bits.append(f"{op_profile['nodes_executed']} ops")
    if op_profile.get("sum_of_ops_over_invoke") is not None:
        bits.append(f"sum of ops / invoke p50 = {op_profile['sum_of_ops_over_invoke']:.2f} "
                    f"({op_profile.get('sum_of_ops_ms')} / {op_profile.get('invoke_p50_ms')} ms)")
    if (ops_ms := number(op_profile.get("sum_of_ops_ms"))) is not None and p50_us:
        bits.append(f"sum of ops / timed p50 = {ops_ms * 1000.0 / p50_us:.2f}")
    if op_profile.get("op_type_mapping"):
        bits.append(f"op types: {op_profile['op_type_mapping']}")
    return "; ".join(bits)


SINGLE_OP_HEADERS = ["op (TFLite node, output)", "XNNPACK operator", "median ms", "share", "MACs"]


def top_single_ops(op_profile: Mapping[str, object], n: int = 5) -> list[list[str]]:
    """The slowest single ops of a LiteRT profile (per-op medians), each with its node and that node's MACs.

    Empty for benchmark_model's profiles, whose rows are averages without node indices.
    """
    from errors import clean

    listed = op_profile.get("run_order")
    timed = [(ms, r) for r in (listed if isinstance(listed, list) else []) if isinstance(r, dict)
             and (ms := number(r.get("median_ms"))) is not None]
    out = []
    for ms, r in sorted(timed, key=lambda row: -row[0])[:n]:
        node = r.get("tflite_node")
        where = str(r.get("op_type") or r.get("node_type") or "?")
        if node is not None:
            where += f" #{node}" + (f" {clean(str(r['tflite_name']), 60)}" if r.get("tflite_name") else "")
        macs, pct = number(r.get("macs")), number(r.get("pct"))
        out.append([where, str(r["node_type"]) if r.get("level") == "xnnpack" else "-", f"{ms:.3f}",
                    "-" if pct is None else f"{pct:.1f}%", "-" if macs is None else f"{macs / 1e6:.1f} M"])
    return out


def top_ops(op_profile: Mapping[str, object], macs_by_op: dict[str, int] | None = None, n: int = 8) -> list[list[str]]:
    """Where the time goes: the op types by measured time (benchmark_model's `Summary by node type`, the
    LiteRT profiler's), or TensorRT's engine layers (trtexec's profile), each with its share of the run
    and the MACs the .tflite gives that op type (counted, not timed; none for a fused TensorRT layer).

    A delegate's node (TfLiteXNNPackDelegate) carries the time of every op it took, so its MACs
    are empty rather than guessed.
    """
    from devices.probes.layer_profile import rows as profile_rows
    from errors import clean

    out = []
    layers = bool(op_profile.get("layers"))
    for r in profile_rows(dict(op_profile))[:n]:
        kind = str(r["name"])
        kernels = r.get("kernels") or []  # the XNNPACK operators that ran this op type (LiteRT profiler)
        label = f"{kind} ({'; '.join(str(k) for k in kernels)})" if kernels else kind
        if layers:
            label = clean(label, 200)  # a fused layer's name can be thousands of characters
        ms, share = r["avg_ms"], r["pct"]
        macs = None if layers else (macs_by_op or {}).get(kind)  # a fused layer has no single op's MACs
        out.append([label, "-" if ms is None else f"{ms:.3f}", "-" if share is None else f"{share:.1f}%",
                    "-" if macs is None else f"{macs / 1e6:.1f} M"])
    return out


COMPUTE_PLAN_HEADERS = ["device", "model", "variant", "compute units", "CPU ops", "GPU ops", "Neural Engine ops",
                        "fell back to CPU"]


def compute_plan_rows(rows: Iterable[Measurement]) -> list[list[str]]:
    """Where Core ML placed each iPhone row's ops (MLComputePlan, iOS 17.4+, written by the app under
    extra["ios"]["compute_plan"]); a phone that could not say gets its reason, never zeros."""
    out = []
    for m in rows:
        ios = (m.extra or {}).get("ios")
        plan = ios.get("compute_plan") if isinstance(ios, dict) else None
        if not isinstance(plan, dict) or not isinstance(ios, dict):
            continue
        head = [m.device, model_label(m.model), m.variant, str(ios.get("compute_units") or "-")]
        if not plan.get("available"):
            out.append(head + ["-", "-", "-", f"not available: {str(plan.get('reason') or '')[:120]}"])
            continue
        by = plan.get("ops_by_device") or {}
        fell = plan.get("fell_back_to_cpu") or []
        names = sorted({str(f.get("op")) for f in fell if isinstance(f, dict)})
        more = f": {', '.join(names[:6])}{' …' if len(names) > 6 else ''}" if names else ""
        out.append(head + [str(by.get("cpu", "-")), str(by.get("gpu", "-")), str(by.get("neural_engine", "-")),
                           f"{plan.get('fell_back_count', 0)}{more}"])
    return out
