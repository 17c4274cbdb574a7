"""Parse what TFLite/LiteRT `benchmark_model` prints, in every form it has taken across versions.

Accepted: plain lines, `INFO: `/`WARN: `/`ERROR: ` prefixes, logcat prefixes (brief, time, threadtime:
the benchmark APK logs under the `tflite` tag), `count=... avg=... std=...` with or without
`p5= median= p95=`, numbers in scientific notation, the short `count=N curr=X` form, the legacy
`Average inference timings in us` line, memory lines (delta, peak by periodic monitoring, VmRSS),
delegate lines and the op-profiling table (text or CSV). Pure functions: text in, dict out.
"""
from __future__ import annotations

import csv
import io
import re
from typing import TYPE_CHECKING, TypedDict

from devices.runner_result import RunnerResult

if TYPE_CHECKING:
    from devices.bench import Bench

NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"

# logcat: "07-08 15:34:26.201  5395  5395 I tflite  : msg", "07-08 15:34:26.201 I/tflite  ( 5395): msg",
# "I/tflite  ( 5395): msg"; then the TFLITE_LOG severity prefix.
_LOGCAT_THREADTIME = re.compile(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+[VDIWEF]\s+[^:]*?\s*:\s?")
_LOGCAT_TIME = re.compile(r"^(?:\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+)?[VDIWEF]/[^(:]*?\s*\(\s*\d+\)\s*:\s?")
_SEVERITY = re.compile(r"^(?:INFO|WARN|WARNING|ERROR|VERBOSE|FATAL|DEBUG): ?")

_RUNNING = re.compile(rf"Running benchmark for at least ({NUM}) iterations and at least ({NUM}) seconds")
_STATS = re.compile(r"(?<![\w(])count=")
_FIELD = re.compile(rf"\b(count|first|curr|min|max|avg|std|p5|median|p95|p90|p99)=({NUM})")
_TIMINGS = re.compile(
    rf"Inference timings in us: Init: ({NUM}), First inference: ({NUM}), Warmup \(avg\): ({NUM}), "
    rf"Inference \(avg\): ({NUM})"
)
_LEGACY = re.compile(rf"Average inference timings in us: Warmup: ({NUM}), Init: ({NUM}), "
                     rf"(?:no stats|Inference): ({NUM})")
# Peak-RSS growth from the tool's start, at the end of init and over the whole run. TF 2.3-2.5 printed it
# as "Peak memory footprint (MB): init=X overall=Y"; later releases as "Memory footprint delta from the
# start of the tool (MB): init=X overall=Y". Same figures (MemoryUsage max_rss_kb deltas), two wordings.
_MEM_DELTA = re.compile(rf"(Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
                        rf"init=({NUM}) overall=({NUM})")
_MEM_PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({NUM})")
# "Memory status at the end of exeution:" (sic) block, newer releases.
_END_MEM = re.compile(rf"^[-+] (VmRSS|RssAnnon|RssAnon|RssFile \+ RssShmem)\s*:\s*({NUM}) MB")
_END_MEM_KEYS = {"VmRSS": "end_vmrss_mb", "RssAnnon": "end_rss_anon_mb", "RssAnon": "end_rss_anon_mb",
                 "RssFile + RssShmem": "end_rss_file_shmem_mb"}
# Terminal junk pasted with a log: ANSI escape sequences (colour, cursor), other control characters.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]")
_INIT_SESSION = re.compile(rf"Initialized session in ({NUM}) ?ms")
_MODEL_SIZE = re.compile(rf"The input model file size \(MB\): ({NUM})")
_WARMUP_PARAM = re.compile(r"^Min warmup runs: \[(\d+)\]")
_RUNS_PARAM = re.compile(r"^(?:Min num runs|Num runs): \[(\d+)\]")
_THREADS = re.compile(r"(?:#threads used for CPU inference|Num threads): \[(\d+)\]")
_GRAPH = re.compile(r"^Graph: \[(.*)\]")
_APPLIED = re.compile(r"Explicitly applied (\S+(?: \S+)*?) delegate, "
                      r"and the model graph will be (completely|partially) executed")
_PARTIAL_KERNELS = re.compile(r"w/ (\d+) delegate kernels")
_NOT_APPLIED = re.compile(r"Though (\S+(?: \S+)*?) delegate is explicitly applied, "
                          r"the model graph will not be executed")
_FAILED = re.compile(r"Failed to apply (\S+(?: \S+)*?) delegate")
_REPLACING = re.compile(
    r"Replacing (\d+)(?: out of (\d+))? node\(s\) with delegate \((\w+)\) node, yielding (\d+) partitions"
)
_GPU_KERNELS = re.compile(r"Created (\d+) GPU delegate kernels")
_NODES_EXECUTED = re.compile(r"Number of nodes executed: (\d+)")

Row = dict[str, float | str]  # one op-profile table row: numbers, the node type and name as printed


class OpProfile(TypedDict, total=False):
    nodes_executed: int
    run_order: list[Row]  # per-op rows
    by_node_type: list[Row]  # "Summary by node type" rows


class DelegateLog(TypedDict, total=False):
    """What the log said about one delegate."""
    nodes_replaced: int
    nodes_total: int
    partitions: int
    applied: str  # completely | partially | not | failed
    kernels: int


class DelegateOutcome(TypedDict, total=False):
    delegate: str
    applied: str  # completely | partially | not | failed | unknown | n/a
    fallback: bool
    ops_total: int
    ops_delegated: int
    delegate_kernels: int


class Parsed(TypedDict, total=False):
    """Everything benchmark_model said; a fact it did not print is absent."""
    init_us: float
    first_inference_us: float
    warmup_avg_us: float
    inference_avg_us: float
    legacy_format: bool
    init_peak_rss_delta_mb: float
    overall_peak_rss_delta_mb: float
    memory_footprint_wording: str
    overall_peak_memory_mb: float
    end_vmrss_mb: float
    end_rss_anon_mb: float
    end_rss_file_shmem_mb: float
    model_size_mb: float
    threads: int
    graph: str
    warmup: dict[str, float]  # summary_from_stats of the warm-up
    summary: dict[str, float]  # of the regular run: count, mean_us, std_us, p50_us, ...
    min_runs: int
    min_secs: float
    delegates: dict[str, DelegateLog]
    errors: list[str]
    op_profile: OpProfile


_DELEGATE_NAMES = {"tfliteXNNPackDelegate": "xnnpack", "tflitegpudelegatev2": "gpu", "tflitegpudelegate": "gpu",
                   "tflitennapidelegate": "nnapi"}


def split_prefix(line: str) -> tuple[str, str]:
    """(severity letter or '', message) of one log line, without logcat or severity prefixes."""
    line = _ESCAPES.sub("", line.rstrip("\r\n"))
    level = ""
    for pattern in (_LOGCAT_THREADTIME, _LOGCAT_TIME):
        m = pattern.match(line)
        if m:
            sev = re.search(r"(?:^|\s)([VDIWEF])[/\s]", m.group(0))
            level = sev.group(1) if sev else ""
            line = line[m.end():]
            break
    line = line.strip()
    m = _SEVERITY.match(line)
    if m:
        level = m.group(0)[0]
        line = line[m.end():]
    return level, line


def strip_prefix(line: str) -> str:
    """One log line without logcat or severity prefixes."""
    return split_prefix(line)[1]


def parse_stats_line(line: str) -> dict[str, float] | None:
    """`count=50 first=... avg=2.95e+06 std=... [p5= median= p95=]` -> {field: value}; None if not one."""
    if not _STATS.search(line) or line.startswith(("Timings", "Memory")):
        return None
    fields = {k: float(v) for k, v in _FIELD.findall(line)}
    return fields if "count" in fields else None


def summary_from_stats(stats: dict[str, float]) -> dict[str, float]:
    """The harness summary dict (see harness.orchestration.measure.summary_from_dict) from one stats line.

    The short form `count=N curr=X` is what the tool prints when every sample was the same value
    (tensorflow Stat::OutputToStream, `(all same)` when N > 1): mean, min and max are then X and the
    spread is 0 by the tool's own statement, so they are filled from it and flagged `all_same`.
    """
    mean = stats.get("avg", stats.get("curr"))
    if mean is None:
        raise ValueError("statistics line has neither avg nor curr")
    out: dict[str, float] = {"count": int(stats["count"]), "mean_us": mean}
    if "avg" in stats:
        for key in ("std", "min", "max"):
            if key in stats:
                out[f"{key}_us"] = stats[key]
    else:  # `count=N curr=X`: all samples were X
        out.update({"std_us": 0.0, "min_us": mean, "max_us": mean})
    if "median" in stats:
        out["p50_us"] = stats["median"]
    for key in ("p5", "p90", "p95", "p99", "first", "curr"):
        if key in stats:
            out[f"{key}_us"] = stats[key]
    return out


def _delegate_key(name: str) -> str:
    low = name.lower()
    for raw, short in _DELEGATE_NAMES.items():
        if low == raw.lower():
            return short
    if "xnnpack" in low:
        return "xnnpack"
    if "gpu" in low:
        return "gpu"
    if "nnapi" in low:
        return "nnapi"
    return low


def _parse_table_row(line: str, header: list[str]) -> Row | None:
    cells = [c.strip() for c in (line.split("\t") if "\t" in line else next(csv.reader([line])))]
    cells = [c for c in cells if c != ""]
    if len(cells) != len(header):
        return None
    row: Row = {}
    for key, cell in zip(header, cells):
        text = cell.rstrip("%")
        try:
            row[key] = float(text) if key not in ("node_type", "name") else cell
        except ValueError:
            row[key] = cell
    return row


def _header(line: str) -> list[str] | None:
    if "node type" not in line.lower():
        return None
    cells = [c.strip().strip("[]").strip() for c in re.split(r"\t|,", line)]
    names = []
    for c in cells:
        if not c:
            continue
        key = re.sub(r"[^a-z0-9]+", "_", c.lower().replace("%", "pct")).strip("_")
        names.append(key)
    return names


def parse_op_profile(lines: list[str]) -> OpProfile:
    """The `Operator-wise Profiling Info for Regular Benchmark Runs` section (text table or CSV).

    Returns `by_node_type` (Summary by node type rows) and `run_order` (per-op rows) when present.
    """
    out = OpProfile()
    section: str | None = None
    header: list[str] | None = None
    for raw in lines:
        line = raw.strip("\n")
        title = line.strip().strip("=").strip()
        if line.strip().startswith("=====") or title in ("Run Order", "Top by Computation Time",
                                                         "Summary by node type"):
            section = {"Run Order": "run_order", "Top by Computation Time": None,
                       "Summary by node type": "by_node_type"}.get(title)
            header = None
            continue
        m = _NODES_EXECUTED.search(line)
        if m:
            out["nodes_executed"] = int(m.group(1))
            continue
        if section is None:
            continue
        h = _header(line)
        if h:
            header = h
            continue
        if header and line.strip():
            row = _parse_table_row(line.strip(), header)
            if row is not None:
                if section == "run_order":
                    out.setdefault("run_order", []).append(row)
                else:
                    out.setdefault("by_node_type", []).append(row)
            else:
                section, header = None, None
    return out


def parse_profile_csv(text: str) -> OpProfile:
    """A `--profiling_output_csv_file` file: the same sections as the text table, comma-separated."""
    start = text.find("Operator-wise Profiling Info for Regular Benchmark Runs")
    body = text[start:] if start >= 0 else text
    lines = []
    for row in csv.reader(io.StringIO(body)):
        lines.append("\t".join(row))
    return parse_op_profile(lines)


def parse(text: str) -> Parsed:
    """Everything benchmark_model said, as a dict; missing facts are absent, never guessed."""
    split = [split_prefix(line) for line in text.splitlines()]
    lines = [msg for _, msg in split]
    out = Parsed()
    stats_runs: list[dict[str, float]] = []
    running: list[tuple[float, float]] = []
    stats_block: list[int] = []
    params: dict[str, int] = {}
    errors: list[str] = []
    delegates: dict[str, DelegateLog] = {}
    profile_at: int | None = None
    for i, line in enumerate(lines):
        if line.startswith("Operator-wise Profiling Info for Regular Benchmark Runs"):
            profile_at = i
            break  # everything after is the op table, whose `count=` lines are not run statistics
        if line.startswith("Profiling Info for Benchmark Initialization"):
            continue
        m = _RUNNING.search(line)
        if m:
            running.append((float(m.group(1)), float(m.group(2))))
            continue
        stats = parse_stats_line(line)
        if stats is not None:
            stats_runs.append(stats)
            stats_block.append(len(running))  # under which "Running benchmark" line it was printed
            continue
        if (m := _WARMUP_PARAM.match(line)):
            params["warmup_runs"] = int(m.group(1))
        elif (m := _RUNS_PARAM.match(line)):
            params["num_runs"] = int(m.group(1))
        if (m := _TIMINGS.search(line)):
            out["init_us"], out["first_inference_us"], out["warmup_avg_us"], out["inference_avg_us"] = (
                float(g) for g in m.groups())
        elif (m := _LEGACY.search(line)):
            out["warmup_avg_us"], out["init_us"], out["inference_avg_us"] = (float(g) for g in m.groups())
            out["legacy_format"] = True
        elif (m := _MEM_DELTA.search(line)):
            out["init_peak_rss_delta_mb"], out["overall_peak_rss_delta_mb"] = float(m.group(2)), float(m.group(3))
            out["memory_footprint_wording"] = m.group(1)
        elif (m := _MEM_PEAK.search(line)):
            out["overall_peak_memory_mb"] = float(m.group(1))
        elif (m := _END_MEM.search(line)):
            key, mb = _END_MEM_KEYS[m.group(1)], float(m.group(2))
            if key == "end_vmrss_mb":
                out["end_vmrss_mb"] = mb
            elif key == "end_rss_anon_mb":
                out["end_rss_anon_mb"] = mb
            else:
                out["end_rss_file_shmem_mb"] = mb
        elif (m := _INIT_SESSION.search(line)):
            out.setdefault("init_us", float(m.group(1)) * 1000.0)
        elif (m := _MODEL_SIZE.search(line)):
            out["model_size_mb"] = float(m.group(1))
        elif (m := _THREADS.search(line)):
            out["threads"] = int(m.group(1))
        elif (m := _GRAPH.match(line)):
            out["graph"] = m.group(1)
        elif (m := _REPLACING.search(line)):
            d = delegates.setdefault(_delegate_key(m.group(3)), DelegateLog())
            d["nodes_replaced"] = d.get("nodes_replaced", 0) + int(m.group(1))
            if m.group(2):
                d["nodes_total"] = int(m.group(2))
            d["partitions"] = d.get("partitions", 0) + int(m.group(4))
        elif (m := _APPLIED.search(line)):
            d = delegates.setdefault(_delegate_key(m.group(1)), DelegateLog())
            d["applied"] = m.group(2)  # completely | partially
            k = _PARTIAL_KERNELS.search(line)
            if k:
                d["kernels"] = int(k.group(1))
        elif (m := _NOT_APPLIED.search(line)):
            delegates.setdefault(_delegate_key(m.group(1)), DelegateLog())["applied"] = "not"
        elif (m := _FAILED.search(line)):
            delegates.setdefault(_delegate_key(m.group(1)), DelegateLog())["applied"] = "failed"
            errors.append(line)
        elif (m := _GPU_KERNELS.search(line)):
            delegates.setdefault("gpu", DelegateLog()).setdefault("kernels", int(m.group(1)))
        elif split[i][0] in ("E", "F"):
            errors.append(line)
    warmup, regular = _split_runs(stats_runs, stats_block, running, params)
    if warmup is not None:
        out["warmup"] = summary_from_stats(warmup)
    if regular is not None:
        out["summary"] = summary_from_stats(regular)
    elif "inference_avg_us" in out and not stats_runs:
        # only the average line: no count, spread or extremes were printed, so none are given
        out["summary"] = {"mean_us": out["inference_avg_us"]}
    if running:
        out["min_runs"], out["min_secs"] = int(running[-1][0]), running[-1][1]
    if delegates:
        out["delegates"] = delegates
    if errors:
        out["errors"] = errors
    if profile_at is not None:
        out["op_profile"] = parse_op_profile(lines[profile_at + 1:])
    return out


def _split_runs(stats: list[dict[str, float]], block: list[int], running: list[tuple[float, float]],
                params: dict[str, int]) -> tuple[dict[str, float] | None, dict[str, float] | None]:
    """(warm-up statistics, regular run statistics): benchmark_model runs the warm-up first.

    Each statistics line belongs to the `Running benchmark for at least N iterations` line above it.
    With two such lines the first is the warm-up. With one, it is the warm-up only when its N is the
    printed `Min warmup runs` and not the `Min num runs` (a log cut after the warm-up has no regular
    run, and none is made up). With none, the last of several statistics lines is the regular run.
    """
    if not stats:
        return None, None
    if not running:
        return (stats[0] if len(stats) >= 2 else None), stats[-1]
    first_is_warmup = len(running) >= 2 or (
        "warmup_runs" in params and int(running[0][0]) == params["warmup_runs"]
        and params.get("num_runs") != params["warmup_runs"])
    warmup = next((s for s, b in zip(stats, block) if b <= 1), None) if first_is_warmup else None
    regular = next((s for s, b in reversed(list(zip(stats, block))) if not (first_is_warmup and b <= 1)), None)
    return warmup, regular


def delegate_outcome(parsed: Parsed, requested: str) -> DelegateOutcome:
    """Did the requested delegate take the graph? A silent fallback to CPU is flagged, not hidden.

    Returns {"delegate", "applied": completely|partially|not|failed|unknown, "fallback": bool,
    "ops_total", "ops_delegated"} where op counts are known.
    """
    if requested in ("none", "cpu"):
        return {"delegate": "none", "applied": "n/a", "fallback": False}
    d = (parsed.get("delegates") or {}).get(requested, DelegateLog())
    applied = d.get("applied")
    if applied is None and d.get("nodes_replaced"):
        total = d.get("nodes_total")
        applied = "completely" if total is None or d["nodes_replaced"] >= total else "partially"
    if applied is None and requested == "gpu" and d.get("kernels"):
        applied = "completely" if d["kernels"] == 1 else "partially"
    out = DelegateOutcome(delegate=requested, applied=applied or "unknown")
    if requested == "xnnpack" and applied is None:
        # Builds where XNNPACK is the default CPU path often log nothing about it: not a fallback.
        out["fallback"] = False
        return out
    out["fallback"] = applied in ("not", "failed", None)
    total = d.get("nodes_total") or (parsed.get("op_profile") or OpProfile()).get("nodes_executed")
    replaced, of = d.get("nodes_replaced"), d.get("nodes_total")
    if replaced is not None and of:
        out["ops_total"], out["ops_delegated"] = of, replaced
    elif applied == "completely":
        if total:
            out["ops_total"] = out["ops_delegated"] = total
    elif out["fallback"]:
        # The op count may be unknown; 0 of at least 1 is what the validity check needs to flag it.
        out["ops_total"], out["ops_delegated"] = (total or 1), 0
    if applied == "partially" and (kernels := d.get("kernels")):
        out["delegate_kernels"] = kernels
    return out


def parse_for_import(text: str) -> Parsed:
    """`harness import benchmark_model FILE`: the figures of a captured log; ValueError if none."""
    parsed = parse(text)
    if "summary" not in parsed and parsed.get("warmup"):
        raise ValueError("only warm-up statistics: the log ends before the regular run")
    if "summary" not in parsed:
        raise ValueError("no timing statistics found (expected a `count=... avg=...` line or "
                         "`Inference timings in us`)")
    return parsed


def cli_flags(model: str, bench: Bench, op_profiling: bool = False, csv_path: str | None = None,
              peak_memory: bool = True) -> list[str]:
    """benchmark_model's flags for a job's bench settings (the same on Android and Linux boards)."""
    d = bench.delegate
    flags = [f"--graph={model}", f"--num_threads={bench.threads}",
             f"--use_gpu={str(d == 'gpu').lower()}", f"--use_nnapi={str(d == 'nnapi').lower()}",
             f"--use_xnnpack={str(d == 'xnnpack').lower()}", f"--warmup_runs={bench.warmup_runs}",
             f"--num_runs={bench.min_runs}", f"--min_secs={bench.min_s}", f"--max_secs={bench.max_s}"]
    if op_profiling:
        flags.append("--enable_op_profiling=true")
        if csv_path:
            flags.append(f"--profiling_output_csv_file={csv_path}")
    if peak_memory:
        flags.append("--report_peak_memory_footprint=true")
    return flags


def runner_result(parsed: Parsed, requested_delegate: str, threads: int, runtime: str,
                  runtime_version: str | None) -> tuple[RunnerResult, dict[str, object]]:
    """The typed result (what the tool printed; the rest empty) and the extra facts from a parsed log."""
    outcome = delegate_outcome(parsed, requested_delegate)
    s = parsed["summary"]
    result = RunnerResult(
        runtime=runtime, runtime_version=runtime_version,
        threads=parsed.get("threads", threads), delegate=outcome["delegate"], summary=s,
        duration_s=round(s["count"] * s["mean_us"] / 1e6, 4) if s.get("count") is not None else None,
        init_us=_float(parsed.get("init_us")), first_inference_us=_float(parsed.get("first_inference_us")),
        # Each memory figure under its own name: the periodic-monitoring peak footprint is not a VmHWM,
        # and the end-of-run VmRSS is not a peak of anything.
        peak_footprint_mb=_float(parsed.get("overall_peak_memory_mb")),
        end_rss_mb=_float(parsed.get("end_vmrss_mb")),
        peak_rss_delta_mb=_float(parsed.get("overall_peak_rss_delta_mb")),
        ops_total=outcome.get("ops_total"), ops_delegated=outcome.get("ops_delegated"),
    )
    extra: dict[str, object] = {"delegate_outcome": outcome, "warmup": parsed.get("warmup"),
                             "model_size_mb": parsed.get("model_size_mb")}
    if outcome.get("fallback"):
        extra["delegate_fallback"] = (f"{requested_delegate} delegate requested but {outcome['applied']} applied: "
                                      "the model ran on the CPU")
    if profile := parsed.get("op_profile"):
        extra["op_profile"] = profile
    if errors := parsed.get("errors"):
        extra["log_errors"] = errors[:10]
    return result, extra


def _float(value: object) -> float | None:
    """A printed figure as the typed result holds it (the log's integers as floats, as from_json reads them)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
