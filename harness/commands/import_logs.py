"""`harness import TOOL FILE`: parse a log a user captured by hand and print (or store) its figures."""
from __future__ import annotations

import argparse
import importlib
import json
import math
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from errors import UserError, clean, quote, unsafe
from harness.commands.options import db_arg
from harness.store.row_fields import IgnoredSensor, Series, is_ignored_sensors, is_series, number

if TYPE_CHECKING:
    from harness.store.results import TempSample

# A parser's figures as it returns them (devices/probes/*: parse_for_import): JSON, narrowed where used.
Figures = dict[str, object]

# tool -> "module:function"; the function takes the log text and returns a dict of figures.
# A dict with "summary" (mean_us, std_us, min_us, max_us, count, p50_us...) can be stored as a result.
IMPORTERS: dict[str, str] = {}


MAX_LOG_BYTES = 1 << 30  # a captured log of 100 MB is plenty; 10 GB is another file (and would fill memory)


def register(tool: str, target: str) -> None:
    IMPORTERS[tool] = target


# Parsers register here, one line each (module:function).
register("benchmark_model", "devices.probes.benchmark_model:parse_for_import")
register("trtexec", "devices.probes.trtexec:parse_for_import")
register("tegrastats", "devices.probes.tegrastats:parse_for_import")
register("vcgencmd", "devices.probes.vcgencmd:parse_for_import")
register("dumpsys_battery", "devices.probes.android:parse_dumpsys_battery")  # `adb shell dumpsys battery`
register("dumpsys_thermalservice", "devices.probes.android:parse_thermalservice")  # `dumpsys thermalservice`


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("import", help="parse a captured tool log (" + ", ".join(sorted(IMPORTERS)) + ")")
    p.add_argument("tool", choices=sorted(IMPORTERS), help="the tool that printed the log")
    p.add_argument("file", help="the captured log")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--store", action="store_true", help="also store the figures as a result row")
    p.add_argument("--db", default=None, type=db_arg, help="results database for --store")
    p.add_argument("--device", default="imported", help="device name for --store")
    p.add_argument("--model", default=None,
                   help="model name for --store (default: the graph the log names, else the log's file name)")
    p.add_argument("--variant", default="imported", help="variant name for --store")
    p.set_defaults(func=cmd_import)


def parse_file(tool: str, path: str) -> Figures:
    p = Path(path)
    if not p.exists():
        raise UserError(f"{clean(path)}: no such file")
    if not p.is_file():
        raise UserError(f"{clean(path)}: not a file")
    size = p.stat().st_size
    if size > MAX_LOG_BYTES:
        raise UserError(f"{clean(path)}: {size / 1e9:.1f} GB, larger than any {tool} log ({MAX_LOG_BYTES >> 20} MiB "
                        "at most); is it the right file?")
    module_name, fn = IMPORTERS[tool].split(":")
    parse = getattr(importlib.import_module(module_name), fn)
    try:
        figures: Figures = parse(p.read_text(errors="replace"))
    except ValueError as exc:
        raise UserError(f"{clean(path)}: not a {tool} log: {clean(str(exc))}") from None
    if not figures or not any(v not in (None, {}, []) for v in figures.values()):
        raise UserError(f"{clean(path)}: not a {tool} log: no line it prints was found")
    _check_latencies(figures, path, tool)
    latencies = figures.get("latencies_us")
    if isinstance(latencies, list) and "summary" not in figures:  # raw samples: summarize them here
        from harness.statistics.latency import summarize

        s = summarize(tuple(latencies))
        figures["summary"] = {"count": s.count, "mean_us": s.mean_us, "std_us": s.std_us, "min_us": s.min_us,
                              "max_us": s.max_us, "p50_us": s.p50_us, "p90_us": s.p90_us, "p99_us": s.p99_us}
    return figures


def _check_latencies(figures: Figures, path: str, tool: str) -> None:
    """A latency that is infinite, not a number or below zero is no measurement: the file is refused, not
    stored as a figure that every later comparison would trust."""
    latencies = figures.get("latencies_us")
    values: list[tuple[str, object]] = \
        [("latencies_us", v) for v in latencies] if isinstance(latencies, (list, tuple)) else []
    summary = figures.get("summary")
    if isinstance(summary, dict):
        values += [(k, v) for k, v in summary.items() if k.endswith("_us") and v is not None]
    for key, v in values:
        if isinstance(v, (int, float)) and not (math.isfinite(v) and v >= 0):
            raise UserError(f"{clean(path)}: not a usable {tool} log: {key} holds {v!r} (a latency is a finite "
                            "number of microseconds, at least 0)")


def cmd_import(args: argparse.Namespace) -> int:
    if args.store:
        for flag, value in (("--device", args.device), ("--model", args.model), ("--variant", args.variant)):
            if value is not None and (not value.strip() or unsafe(value) or len(value) > 100):
                raise UserError(f"{flag} {quote(value, 60)}: give a printable name of at most 100 characters")
        from harness.commands.options import check_db_for_writing, default_db

        check_db_for_writing(args.db or default_db())  # a damaged database is refused before anything is printed
    figures = parse_file(args.tool, args.file)
    if args.json:
        print(json.dumps(figures, indent=2, sort_keys=True, default=str))
    else:
        for k, v in figures.items():
            if not isinstance(v, (list, dict)):
                print(f"{k}: {v}")
    if args.store:
        store(figures, args)
    return 0


def store(figures: Figures, args: argparse.Namespace) -> str:
    """Store imported figures as a one-row run, so they sit beside measured results."""
    from harness.commands.options import default_db
    from harness.store.db import ResultsDB
    from harness.orchestration.orchestrate import git_revision, new_run_id, package_versions
    from harness.store.results import Measurement, PowerSample, RunInfo

    from harness.statistics.latency import summary_from_printed
    from harness.store.row_fields import Metrics, is_metrics, misfit

    scalars = {k: v for k, v in figures.items() if isinstance(v, (int, float, str, bool))}
    if "summary" not in figures and "power_samples" not in figures and not scalars:
        raise UserError(f"{clean(args.file)}: no figures to store")
    if not is_metrics(scalars):  # a parser's figure under a metric's name but of another type
        key = misfit(Metrics, scalars)
        raise UserError(f"{clean(args.file)}: {clean(str(key), 60)}: {quote(str(scalars.get(str(key))), 40)} is "
                        "not what a result row keeps under that name")
    db = ResultsDB(args.db or default_db())
    run_id = new_run_id()
    try:
        import platform

        db.add_run(RunInfo(run_id, time.time(), platform.node(), git_revision(), package_versions(),
                           {"imported": args.tool, "file": str(args.file)}, status="finished"))
        s = summary_from_printed(_printed(figures["summary"])) if "summary" in figures else None
        listed = figures.get("power_samples", ())
        power = tuple(PowerSample(*p) for p in (listed if isinstance(listed, (list, tuple)) else ()))
        avg = sum(p.power_mw for p in power) / len(power) if power else None
        samples = _samples(figures)  # takes "series" out of figures: kept once, on the row, not again in extra
        m = Measurement(
            run_id=run_id, device=args.device, model=args.model or graph_name(figures) or Path(args.file).stem,
            variant=args.variant,
            status="ok", runtime=args.tool, p50_us=s.p50_us if s else None, p90_us=s.p90_us if s else None,
            p99_us=s.p99_us if s else None, mean_us=s.mean_us if s else None, std_us=s.std_us if s else None,
            min_us=s.min_us if s else None, max_us=s.max_us if s else None, cv=s.cv if s else None,
            power_samples=power, avg_power_mw=avg, temp_max_c=_hottest(figures),
            **samples,
            metrics=scalars, extra=_objects(figures),
            finished_at=time.time(), **printed_columns(figures),
        )
        db.add(m)
    finally:
        db.close()
    kept = "latency" if "summary" in figures else "power" if "power_samples" in figures else \
        "layer profile (no latency summary in this log)" if "op_profile" in figures else \
        "temperatures, throttling and other figures (no latency in this log)"
    if samples["series"]:
        kept += f", {len(samples['series'].get('t_s') or [])} samples of every series"
    print(f"stored as run {run_id}: {kept}")
    return run_id


# trtexec names its model in the command line it echoes (`&&&& RUNNING TensorRT.trtexec # trtexec --onnx=m.onnx`).
_TRTEXEC_MODEL = re.compile(r"--(?:onnx|loadEngine|deploy|uff|model)=(\S+)")


def _printed(summary: object) -> dict[str, float | int | None]:
    """A printed latency summary's numbers (and nulls) under their names; its notes left out."""
    if not isinstance(summary, dict):
        return {}
    return {str(k): v for k, v in summary.items()
            if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))}


def _objects(figures: Figures) -> dict[str, object]:
    """What the log holds that is a group of figures (thermal zones, a layer profile...): the row's extra."""
    return {k: v for k, v in figures.items() if isinstance(v, dict) and k != "summary"}


def graph_name(figures: Figures) -> str | None:
    """The model the log itself names (benchmark_model's `Graph: [...]`, trtexec's --onnx=...), as a file stem."""
    path = figures.get("graph")
    command = figures.get("command")
    if not isinstance(path, str) and isinstance(command, str):
        m = _TRTEXEC_MODEL.search(command)
        path = m.group(1) if m else None
    if not isinstance(path, str) or not path.strip():
        return None
    stem = Path(path.strip().strip("'\"").replace("\\", "/")).name.split(".", 1)[0]
    return clean(stem, 100) if stem and not unsafe(stem) else None


class PrintedColumns(TypedDict):
    """Measurement columns a log can print."""

    model_size_bytes: int | None
    init_us: float | None
    first_inference_us: float | None
    peak_rss_delta_mb: float | None
    peak_footprint_mb: float | None
    end_rss_mb: float | None


def printed_columns(figures: Figures) -> PrintedColumns:
    """What the log printed that has a column of its own: file size, start-up and each memory figure."""
    size_mb = number(figures.get("model_size_mb"))  # benchmark_model prints bytes / 1e6 (benchmark_model.cc)
    return {"model_size_bytes": round(size_mb * 1e6) if size_mb is not None else None,
            "init_us": number(figures.get("init_us")), "first_inference_us": number(figures.get("first_inference_us")),
            "peak_rss_delta_mb": number(figures.get("overall_peak_rss_delta_mb")),
            "peak_footprint_mb": number(figures.get("overall_peak_memory_mb")),
            "end_rss_mb": number(figures.get("end_vmrss_mb"))}


def _hottest(figures: Figures) -> float | None:
    """The highest temperature a log reports (vcgencmd's SoC, dumpsys' battery or thermal zones), in °C."""
    found = [v for k, v in figures.items() if k.endswith("temp_c") or k == "temperature_c"]
    zones = figures.get("temperatures_c")
    found += list(zones.values()) if isinstance(zones, dict) else []
    temps = [t for v in found if (t := number(v)) is not None]
    return max(temps) if temps else None


class Samples(TypedDict):
    """A log's samples as the row keeps them."""

    series: Series
    temperatures: tuple[TempSample, ...]
    ignored_sensors: tuple[IgnoredSensor, ...]


def _samples(figures: Figures) -> Samples:
    """Every sample of the log for the row: its series, the series' sensors as temperature samples, and the
    placeholders the parser left out (`ignored_sensors`)."""
    found = figures.pop("series", None)
    series: Series = found if found and is_series(found) else {}
    ignored = figures.get("ignored_sensors")
    return {"series": series, "temperatures": _temperatures(series),
            "ignored_sensors": tuple(ignored) if ignored and is_ignored_sensors(ignored) else ()}


def _temperatures(series: Series) -> tuple[TempSample, ...]:
    """The series' sensors as the row's temperature samples (one per sample time, placeholders already out)."""
    from harness.store.results import TempSample

    temps = series.get("temps_c") or {}
    out = []
    for i, t in enumerate(series.get("t_s") or []):
        zones = {name: v for name, vals in temps.items() if i < len(vals) and (v := vals[i]) is not None}
        if zones:
            out.append(TempSample(float(t), "run", zones))
    return tuple(out)
