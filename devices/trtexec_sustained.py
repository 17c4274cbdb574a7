"""Sustained mode through trtexec on a Jetson: one unbroken `--duration` loop, windows cut afterwards.

Unlike benchmark_model (devices/runtime/benchmark_model.py `back_to_back`), trtexec loops by itself for
`--duration=N` seconds and `--exportTimes=FILE` writes one record per timed inference (TensorRT 7-10,
sampleReporting.cpp exportJSONTrace: `startEnqMs, endEnqMs, startH2dMs, ..., endD2hMs, h2dMs, computeMs, d2hMs,
latencyMs[, endToEndMs]`, milliseconds on trtexec's own clock). The windows `[t_s, runs_done]` are cut from those
records; trtexec prints no wall-clock time, so its clock is placed on this host's clock by the end of the
last inference, taken as the moment trtexec returned (it only writes the file and its summary after: the
windows are placed at most that late). Meanwhile a thread on this host reads the board's thermal zones and
CPU clocks over ssh once per window (`ThermalPoller`), the same readings as the board's benchmark_model path.
"""
from __future__ import annotations

import json
import math
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from devices.bench import Bench
from devices.job import RawRun
from devices.runner_result import RunnerResult
from devices.transport import Transport, TransportError


def window_length(bench: Bench) -> float:
    """bench.sustained_window_s, or sustained_s / 20, at least 0.5 s (the runner's default); benchmark_model's
    back-to-back windows (devices/runtime/benchmark_model.py) are as long."""
    total = float(bench.sustained_s or 0.0)
    return float(bench.sustained_window_s or max(total / 20.0, 0.5))


def sustained_argv(trtexec: str, engine: str, times_json: str, bench: Bench) -> list[str]:
    """trtexec timing a saved engine without stopping for sustained_s, every inference exported."""
    return [trtexec, f"--loadEngine={engine}", f"--warmUp={int(round(bench.warmup_s * 1000))}",
            "--iterations=1", f"--duration={max(1, math.ceil(float(bench.sustained_s or 0.0)))}",
            f"--exportTimes={times_json}", "--useSpinWait"]


# Run on the board with its Python: the export of a 10-minute loop is hundreds of MB of JSON (about 300 bytes a
# record), so only `end_ms latency_ms` per record comes back. trtexec writes one record per line; read so, the
# file is never held whole in the board's memory.
COMPACT_SCRIPT = (
    "import json, sys\n"
    "out = sys.stdout\n"
    "for line in open(sys.argv[1]):\n"
    "    line = line.strip().lstrip('[,').strip().rstrip(']').strip()\n"
    "    if not line:\n"
    "        continue\n"
    "    r = json.loads(line)\n"
    "    lat = float(r.get('latencyMs', r.get('computeMs')))\n"
    "    end = float(r['endD2hMs']) if 'endD2hMs' in r else float(r['startEnqMs']) + lat\n"
    "    out.write('%.4f %.4f\\n' % (end, lat))\n")


def parse_records(text: str) -> list[tuple[float, float]]:
    """`--exportTimes` JSON, or COMPACT_SCRIPT's lines -> (end ms on trtexec's clock, latency us) per
    inference, in order. The end is endD2hMs when written, else startEnqMs + latencyMs. Raises ValueError
    when unusable."""
    if text.strip() and not text.lstrip().startswith("["):
        try:
            pairs = [(float(a), round(float(b) * 1000.0, 3)) for a, b in (ln.split() for ln in text.splitlines()
                                                                       if ln.strip())]
        except ValueError:
            raise ValueError("expected `end_ms latency_ms` lines") from None
        if not pairs:
            raise ValueError("no timing records")
        return pairs
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(records, list) or not records:
        raise ValueError("expected a JSON list of timing records")
    out: list[tuple[float, float]] = []
    for r in records:
        if not isinstance(r, dict) or "startEnqMs" not in r or ("latencyMs" not in r and "computeMs" not in r):
            raise ValueError("a timing record without startEnqMs and latencyMs")
        lat_ms = float(r["latencyMs"] if "latencyMs" in r else r["computeMs"])
        end = float(r["endD2hMs"]) if "endD2hMs" in r else float(r["startEnqMs"]) + lat_ms
        out.append((end, round(lat_ms * 1000.0, 3)))
    return out


def cut_windows(records: list[tuple[float, float]], window_s: float, loop_end_s: float
                ) -> tuple[list[list[float]], list[float | None], float]:
    """Windows `[t_s, runs_done]` (t_s on the caller's clock, the last inference ending at loop_end_s), one
    p50 per window, and the loop's start on that clock. A last part window shorter than the others is kept."""
    first_ms = records[0][0] - records[0][1] / 1000.0  # the first inference's start
    last_ms = records[-1][0]
    start_s = loop_end_s - (last_ms - first_ms) / 1000.0
    windows: list[list[float]] = []
    p50s: list[float | None] = []
    done, i, k = 0, 0, 1
    while i < len(records):
        edge_ms = first_ms + k * window_s * 1000.0
        lat: list[float] = []
        while i < len(records) and records[i][0] <= edge_ms:
            lat.append(records[i][1])
            i += 1
        k += 1
        if not lat:
            continue  # no inference ended in this window (a stall longer than a window): nothing to place
        done += len(lat)
        end_ms = min(edge_ms, last_ms)
        windows.append([round(start_s + (end_ms - first_ms) / 1000.0, 3), done])
        p50s.append(round(statistics.median(lat), 3))
    return windows, p50s, round(start_s, 3)


class ThermalPoller:
    """Reads the board's zones and clocks once per `every_s` on a thread of this host while trtexec runs;
    readings `[t_s, phase, values]` on the clock `t0` (time.monotonic) like the runner's."""

    def __init__(self, read_temps: Callable[[], dict[str, float]],
                 read_clocks: Callable[[], dict[str, dict[str, int]]], every_s: float, t0: float) -> None:
        self.read_temps, self.read_clocks, self.every_s, self.t0 = read_temps, read_clocks, every_s, t0
        self.temperatures: list[list[Any]] = []
        self.cpu_freq: list[list[Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def probe(self, phase: str) -> None:
        """Each reading stamped as its ssh read returned: the board read it somewhere in that round trip,
        so an event is never placed before it happened (at most one round trip late)."""
        for read, into in ((self.read_temps, self.temperatures), (self.read_clocks, self.cpu_freq)):
            try:
                value = read()
            except (TransportError, OSError):  # a reading lost costs that point of the curve, never the loop
                continue
            if value:
                into.append([round(time.monotonic() - self.t0, 3), phase, value])

    def start(self) -> ThermalPoller:
        self.probe("before")
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.probe("run")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.probe("after")


def sustained_fields(times_text: str, window_s: float, loop_end_s: float, poller: ThermalPoller,
                     ended_unix: float) -> dict[str, Any]:
    """The runner-shaped sustained fields from the exported times; raises ValueError when unusable."""
    records = parse_records(times_text)
    windows, p50s, start_s = cut_windows(records, window_s, loop_end_s)
    span_s = loop_end_s - start_s
    return {"latencies_us": [lat for _, lat in records], "windows": windows, "window_p50_us": p50s,
            "timed_start_s": start_s, "interrupted": False, "temperatures": poller.temperatures,
            "cpu_freq": poller.cpu_freq, "duration_s": round(span_s, 4),
            "timed_window_unix_s": [round(ended_unix - span_s, 6), round(ended_unix, 6)]}


def fill(transport: Transport, python: str, times: str, bench: Bench, result: RunnerResult, raw: RawRun,
         poller: ThermalPoller, ended: tuple[float, float]) -> tuple[RunnerResult, str | None]:
    """Fetch the export reduced on the board (COMPACT_SCRIPT; the whole JSON where Python fails): `result` with
    the sustained fields, and `raw` given the window; `ended` is (return on the poller's clock, return unix
    time). The reason when the export is unusable, else None."""
    exported = transport.run(["sh", "-c", '"$1" -c "$2" "$3" 2>/dev/null || cat -- "$3"', "sh", python,
                              COMPACT_SCRIPT, times], timeout_s=600)
    try:
        result = result.merged(sustained_fields(exported.stdout, window_length(bench), ended[0], poller, ended[1]))
    except ValueError as exc:
        return result, f"--exportTimes unusable: {exc}"
    raw.window_unix_s = result.timed_window_unix_s
    raw.extra["power_window_estimate"] = "trtexec: its last inference's end placed as it returned"
    seconds = max(1, math.ceil(float(bench.sustained_s or 0.0)))
    raw.extra["sustained_method"] = (f"one trtexec --duration={seconds} loop, "
                                     "windows cut from --exportTimes; zones and clocks read over ssh once a window")
    return result, None
