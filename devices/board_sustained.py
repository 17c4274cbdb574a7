"""Sustained mode with benchmark_model on a Linux board (Pi, Jetson): back-to-back runs of one window each.

benchmark_model has no sustained loop of its own, so as on Android (devices/android_target.py) the host runs
it once per window until sustained_s, and after each window reads the board's thermal zones (the runner's
reader) and CPU clocks (cpufreq's scaling_cur_freq and scaling_max_freq) over the same ssh link. Each run
reloads the model and each reading costs a round trip: the load has short gaps, said in the row. A window that
fails after the first keeps the windows measured (`interrupted`, with the reason). Additive to the targets:
SshRunnerTarget calls `run_windows` from its benchmark_model path when the bench asks for sustained mode.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from devices.transport import TransportError

# Each cpufreq folder's current clock and cap, kHz, two lines per CPU (the glob expands unquoted on the board).
CLOCKS_SCRIPT = 'for d in $1; do cat "$d/scaling_cur_freq" "$d/scaling_max_freq" || exit 1; done'

Window = Callable[[Any], tuple[dict[str, Any], dict[str, Any]]]


def parse_clocks(text: str) -> dict[str, dict[str, int]]:
    """`cpuN: {cur, max}` in MHz from CLOCKS_SCRIPT's output (the folders in the glob's sorted order);
    a partial answer keeps nothing."""
    vals = [line.strip() for line in text.splitlines() if line.strip()]
    if not vals or len(vals) % 2 or not all(v.isdigit() for v in vals):
        return {}
    return {f"cpu{i}": {"cur": int(vals[2 * i]) // 1000, "max": int(vals[2 * i + 1]) // 1000}
            for i in range(len(vals) // 2)}


def run_windows(run_one: Window, bench: Any, read_temps: Callable[[], dict[str, float]],
                read_clocks: Callable[[], dict[str, dict[str, int]]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run `run_one(window_bench)` back to back until bench.sustained_s; the runner-shaped result with
    windows, one p50 per window, temperatures and clocks on this host's clock (0 = before the first)."""
    total = float(bench.sustained_s or 0.0)
    window = float(getattr(bench, "sustained_window_s", None) or max(total / 20.0, 0.5))
    one = bench.model_copy(update={"min_s": window, "max_s": window, "min_runs": 1, "warmup_runs": 0,
                                   "sustained_s": None, "timeout_s": max(float(bench.timeout_s), window + 60)})
    t0 = time.monotonic()
    temps: list[list[Any]] = []
    clocks: list[list[Any]] = []

    def probe(phase: str) -> None:
        now = round(time.monotonic() - t0, 3)
        try:
            if zones := read_temps():
                temps.append([now, phase, zones])
            if freq := read_clocks():
                clocks.append([now, phase, freq])
        except TransportError:  # a reading lost costs that point of the curve, never the windows
            pass

    probe("before")
    start, wall_start = time.monotonic(), time.time()
    windows: list[list[float]] = []
    p50s: list[float | None] = []
    stats: list[dict[str, Any]] = []
    runner: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    interrupted = None
    while time.monotonic() - start < total:
        try:
            runner, extra = run_one(one)
        except TransportError as exc:
            if not windows:
                raise
            interrupted = f"window {len(windows) + 1}: {str(exc)[:200]}"
            break
        if runner.get("error") or not runner.get("summary"):
            if not windows:
                return runner, extra
            interrupted = f"window {len(windows) + 1}: {str(runner.get('error'))[:200]}"
            break
        stats.append(runner["summary"])
        windows.append([round(time.monotonic() - t0, 3), sum(int(x["count"]) for x in stats)])
        p50s.append(runner["summary"].get("p50_us"))
        probe("run")
    count = sum(int(x["count"]) for x in stats)
    summary: dict[str, Any] = {"count": count, "mean_us": sum(x["mean_us"] * x["count"] for x in stats) / count}
    for key, pick in (("min_us", min), ("max_us", max)):
        vals = [x[key] for x in stats if x.get(key) is not None]
        if len(vals) == len(stats):
            summary[key] = pick(vals)
    runner = {**runner, "summary": summary, "duration_s": round(sum(x["count"] * x["mean_us"] for x in stats) / 1e6, 4),
              "windows": windows, "window_p50_us": p50s, "temperatures": temps, "cpu_freq": clocks,
              "timed_start_s": round(start - t0, 3), "interrupted": interrupted is not None,
              "timed_window_unix_s": [round(wall_start, 6), round(time.time(), 6)]}
    extra["sustained_method"] = (f"{len(windows)} back-to-back benchmark_model runs of {window:g} s on the board, "
                                 "thermal zones and clocks read over ssh after each (the model is reloaded each "
                                 "window: short gaps in the load)")
    if interrupted:
        extra["sustained_interrupted"] = interrupted
    return runner, extra


def read_clocks(transport: Any, cpufreq_glob: str) -> dict[str, dict[str, int]]:
    """The board's CPU clocks and caps now, over its transport (sustained benchmark_model and trtexec)."""
    res = transport.run(["sh", "-c", CLOCKS_SCRIPT, "sh", cpufreq_glob], timeout_s=30)
    return parse_clocks(res.stdout) if res.ok else {}
