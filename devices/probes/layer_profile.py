"""One layer-profile model for every tool, and trtexec's per-layer profile read into it: pure functions.

Every tool's profile lands in a row's `extra["op_profile"]` as a dict; `rows(profile)` reads each of
them as [{"name", "avg_ms", "median_ms", "pct", "count"}] (time per inference, share of the
profiled total), so the report's "where the time goes" needs no per-tool code:
- benchmark_model `--enable_op_profiling` (Android, Linux boards): `by_node_type` rows (avg_ms, avg_pct),
- the LiteRT C API profiler on the host/Pi (rpi/litert_profile.py): `by_node_type` with per-op medians,
- trtexec `--dumpProfile` (the `=== Profile (N iterations ) ===` table) and `--exportProfile` JSON:
  `layers`, one row per engine layer, fused names kept as TensorRT prints them
  (`conv1 + bn1 + relu`, `{ForeignNode[...]}`, `Reformatting CopyNode ...`); `total` is the `Total`
  row. Without `--separateProfileRun` trtexec prints no performance summary at all (the profiler's
  synchronisation would distort it), so the profile is then the log's only timing.

Table generations (all accepted, with or without the `[date] [I] ` prefix):
- TensorRT 7-8.5 (and the 8.6.10 automotive build): `Layer   Time (ms)   Avg. Time (ms)   [Median Time (ms)]
  Time %`, names right-aligned first (seen on 8.5.2 and 8.6.10);
- TensorRT 8.6.1 on (9, 10): `Time(ms)     Avg.(ms)   Median(ms)   Time(%)   Layer`, names last (seen on 8.6.1).
A `......` line where a user cut rows out is skipped and the profile says the table is incomplete.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import NotRequired, TypedDict

# `[10/31/2023-17:58:57] [I] ` only: a layer's own name may start with a bracket (`[trainStation1]`)
_PREFIX = re.compile(r"^\s*(?:\[\d\d/\d\d/\d{4}-[\d:]+\]\s*)?(?:\[[IVWEF]\]\s?)?")
_START = re.compile(r"=== Profile \((\d+) iterations? \) ===")
_NUM = re.compile(r"^[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$")
_ELIDED = re.compile(r"^\s*(?:\.{3,}|…)\s*$")  # a `......` line a user put where they cut rows out

Layer = dict[str, float | str]  # {"name": str, "total_ms", "avg_ms", ["median_ms"], "pct": float}


class TrtProfile(TypedDict, total=False):
    """trtexec's per-layer profile (the table or --exportProfile)."""
    tool: str
    method: str
    time_per_op: str
    layers: list[Layer]
    layer_count: int
    runs: int
    total: dict[str, float | str]  # the `Total` row without its name
    sum_of_ops_ms: float | str
    rows_elided: str


class ProfileRow(TypedDict):
    """One row of any tool's profile, as the report shows it."""
    name: str
    avg_ms: float | None
    median_ms: float | None
    pct: float | None
    count: float | None
    kernels: NotRequired[list[object] | None]  # the XNNPACK operators that ran an op type (LiteRT profiler)


def _columns(header: str) -> tuple[bool, list[str]] | None:
    """(name_first, numeric column keys) from a profile table header, or None when it is not one."""
    h = header.strip()
    if "Layer" not in h or "Time" not in h:
        return None
    keys = ["total_ms", "avg_ms"] + (["median_ms"] if "Median" in h else []) + ["pct"]
    return h.startswith("Layer"), keys


def _row(line: str, name_first: bool, keys: list[str]) -> Layer | None:
    n = len(keys)
    parts = line.rsplit(None, n) if name_first else line.split(None, n)
    if len(parts) != n + 1:
        return None
    name, nums = (parts[0], parts[1:]) if name_first else (parts[-1], parts[:-1])
    if not all(_NUM.match(x) for x in nums):
        return None
    row: Layer = {"name": name.strip()}
    row.update({k: float(v) for k, v in zip(keys, nums)})
    return row


def parse_table(text: str) -> TrtProfile | None:
    """The last `=== Profile (N iterations ) ===` table in a trtexec log, or None when there is none."""
    found: TrtProfile | None = None
    lines = [_PREFIX.sub("", raw).rstrip() for raw in text.splitlines()]
    i = 0
    while i < len(lines):
        m = _START.search(lines[i])
        if not m:
            i += 1
            continue
        cols = _columns(lines[i + 1]) if i + 1 < len(lines) else None
        i += 2
        if cols is None:
            continue
        layers: list[Layer] = []
        total: Layer | None = None
        elided = False
        while i < len(lines) and lines[i].strip():
            if _ELIDED.match(lines[i]):
                elided, i = True, i + 1
                continue
            row = _row(lines[i], *cols)
            if row is None:
                break
            if row["name"] == "Total":
                total = row
            else:
                layers.append(row)
            i += 1
        if layers or total:
            found = _model(layers, int(m.group(1)), total, "trtexec --dumpProfile")
            if elided:
                found["rows_elided"] = "the log has `...` where rows were cut out: the table is incomplete"
    return found


def parse_json(text: str) -> TrtProfile:
    """`--exportProfile` JSON: `[{"count": N}, {"name", "timeMs", "averageMs", "medianMs", "percentage"}, ...]`."""
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise ValueError("expected a JSON list of profile records")
    count = next((r["count"] for r in records if "count" in r and "name" not in r), None)
    layers = []
    for r in records:
        if "name" not in r:
            continue
        row: Layer = {"name": str(r["name"])}
        for src, key in (("timeMs", "total_ms"), ("averageMs", "avg_ms"), ("medianMs", "median_ms"),
                         ("percentage", "pct")):
            if isinstance(r.get(src), (int, float)):
                row[key] = float(r[src])
        layers.append(row)
    if not layers:
        raise ValueError("profile records have no layer (no \"name\" field)")
    return _model(layers, int(count) if isinstance(count, (int, float)) else None, None, "trtexec --exportProfile")


def _model(layers: list[Layer], iterations: int | None, total: Layer | None, method: str) -> TrtProfile:
    prof = TrtProfile(tool="trtexec", method=f"{method} (per-layer time per inference, GPU events)",
                      time_per_op="average over the profiled iterations", layers=layers, layer_count=len(layers))
    if iterations is not None:
        prof["runs"] = iterations
    if total is not None:
        prof["total"] = {k: v for k, v in total.items() if k != "name"}
        prof["sum_of_ops_ms"] = total["avg_ms"]
    return prof


def _records(value: object) -> list[Mapping[str, object]]:
    """A stored profile's list of row objects (JSON of any tool); anything else is no rows."""
    return [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []


def _ms(value: object) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def rows(profile: Mapping[str, object]) -> list[ProfileRow]:
    """Each tool's profile as [{"name", "avg_ms", "median_ms", "pct", "count"}], slowest first.

    `pct` is what the tool printed; where it printed none it is the row's share of the summed rows.
    """
    out: list[ProfileRow]
    if profile.get("layers"):
        out = [ProfileRow(name=str(r["name"]), avg_ms=_ms(r.get("avg_ms")), median_ms=_ms(r.get("median_ms")),
                          pct=_ms(r.get("pct")), count=None) for r in _records(profile["layers"])]
    else:
        out = [ProfileRow(name=str(r.get("node_type", "?")), avg_ms=_ms(r.get("avg_ms")),
                          median_ms=_ms(r.get("median_ms")), pct=_ms(r.get("avg_pct")), count=_ms(r.get("count")),
                          kernels=(k if isinstance(k := r.get("kernels"), list) else None))
               for r in _records(profile.get("by_node_type"))]
    total = sum(r["avg_ms"] or 0.0 for r in out)
    for r in out:
        if r["pct"] is None and r["avg_ms"] is not None and total:
            r["pct"] = 100.0 * r["avg_ms"] / total
    return sorted(out, key=lambda r: -(r["avg_ms"] or 0.0))
