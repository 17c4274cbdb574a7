"""Sustained mode through trtexec on a Jetson: `--duration` loops of up to SEGMENT_S back to back, windows
cut afterwards.

Unlike benchmark_model (devices/runtime/benchmark_model.py `back_to_back`), trtexec loops by itself for
`--duration=N` seconds and `--exportTimes=FILE` writes one record per timed inference (TensorRT 7-10,
sampleReporting.cpp exportJSONTrace: `startEnqMs, endEnqMs, startH2dMs, ..., endD2hMs, h2dMs, computeMs, d2hMs,
latencyMs[, endToEndMs]`, milliseconds on trtexec's own clock). It writes that file only when its loop ends, and
a killed trtexec writes nothing: one loop of ten minutes would lose all of them to a Ctrl-C. So the loop runs as
segments of at most SEGMENT_S seconds, one trtexec each; a Ctrl-C (or a failure) during a segment keeps every
segment finished before it, and costs at most SEGMENT_S of measurement. The price is a gap between segments
(trtexec's start, the engine's deserialisation and the warm-up: about a second on a Jetson), added up in the
row. A loop no longer than SEGMENT_S is one unbroken trtexec, as before.

The windows `[t_s, runs_done]` are cut from each segment's records; trtexec prints no wall-clock time, so each
segment's clock is placed on this host's clock by the end of its last inference, taken as the moment that
trtexec returned (it only writes the file and its summary after: the windows are placed at most that late).
Meanwhile a thread on this host reads the board's thermal zones and CPU clocks over ssh once per window
(`ThermalPoller`), the same readings as the board's benchmark_model path.
"""
from __future__ import annotations

import json
import math
import statistics
import threading
import time
from collections.abc import Callable

from devices.bench import Bench
from devices.job import RawRun
from devices.runner_result import ClockReading, RunnerResult, TempReading
from devices.transport import CommandResult, Transport, TransportError

# The longest trtexec of a sustained loop: what a Ctrl-C can cost at most, against one reload gap per segment.
SEGMENT_S = 60


def window_length(bench: Bench) -> float:
    """bench.sustained_window_s, or sustained_s / 20, at least 0.5 s (the runner's default); benchmark_model's
    back-to-back windows (devices/runtime/benchmark_model.py) are as long."""
    total = float(bench.sustained_s or 0.0)
    return float(bench.sustained_window_s or max(total / 20.0, 0.5))


def segment_durations(bench: Bench, segment_s: int | None = None) -> list[int]:
    """trtexec's whole-second --duration of each segment: ceil(sustained_s) split into runs of at most
    SEGMENT_S (never shorter than a window, so every segment ends at least one window)."""
    total = max(1, math.ceil(float(bench.sustained_s or 0.0)))
    seg = max(math.ceil(window_length(bench)), int(segment_s or SEGMENT_S), 1)
    out = [seg] * (total // seg)
    if total % seg:
        out.append(total % seg)
    return out


def sustained_argv(trtexec: str, engine: str, times_json: str, bench: Bench, duration_s: int | None = None
                   ) -> list[str]:
    """trtexec timing a saved engine without stopping for duration_s (default: all of sustained_s), every
    inference exported."""
    duration = duration_s if duration_s is not None else max(1, math.ceil(float(bench.sustained_s or 0.0)))
    return [trtexec, f"--loadEngine={engine}", f"--warmUp={int(round(bench.warmup_s * 1000))}",
            "--iterations=1", f"--duration={duration}", f"--exportTimes={times_json}", "--useSpinWait"]


class Segment:
    """One finished trtexec of the loop: its export's path on the board, its result, and when it returned
    (seconds on the poller's clock, and Unix time)."""

    def __init__(self, times: str, duration_s: int, result: CommandResult, end_s: float, end_unix: float) -> None:
        self.times, self.duration_s, self.result = times, duration_s, result
        self.end_s, self.end_unix = end_s, end_unix


def run_segments(run: Callable[[list[str]], CommandResult], trtexec: str, engine: str, times_stem: str,
                 bench: Bench, t0: float, stopped: Callable[[], bool] = lambda: False
                 ) -> tuple[list[Segment], str | None]:
    """The segments back to back until sustained_s is run (`run` executes one argv on the board). A failure or
    a lost link (Ctrl-C ends the link) in the first segment is the caller's, as for one trtexec; in a later one
    it ends the loop, the finished segments kept, with the reason returned. `stopped` (Ctrl-C) is asked before
    each segment, so a stop that fell between two segments does not start the next."""
    done: list[Segment] = []
    for k, duration in enumerate(segment_durations(bench)):
        if done and stopped():
            return done, f"segment {k + 1}: not started (stopped)"
        times = f"{times_stem}-{k}.json"
        argv = sustained_argv(trtexec, engine, times, bench, duration)
        try:
            res = run(argv)
        except TransportError as exc:
            if not done:
                raise
            return done, f"segment {k + 1}: {str(exc)[:200]}"
        seg = Segment(times, duration, res, round(time.monotonic() - t0, 3), time.time())
        if not res.ok and done:
            tail = (res.stdout + res.stderr).strip().splitlines()[-1:] or [f"exit {res.exit_code}"]
            return done, f"segment {k + 1}: trtexec exited {res.exit_code}: {tail[0][:200]}"
        done.append(seg)
        if not res.ok:
            break  # the first segment failed: the caller reads its log
    return done, None


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
        self.temperatures: list[TempReading] = []
        self.cpu_freq: list[ClockReading] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def probe(self, phase: str) -> None:
        """Each reading stamped as its ssh read returned: the board read it somewhere in that round trip,
        so an event is never placed before it happened (at most one round trip late)."""
        try:
            zones = self.read_temps()
        except (TransportError, OSError):  # a reading lost costs that point of the curve, never the loop
            zones = {}
        if zones:
            self.temperatures.append((round(time.monotonic() - self.t0, 3), phase, zones))
        try:
            clocks = self.read_clocks()
        except (TransportError, OSError):
            clocks = {}
        if clocks:
            self.cpu_freq.append((round(time.monotonic() - self.t0, 3), phase, clocks))

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


def sustained_fields(segments: list[tuple[str, float, float]], window_s: float, poller: ThermalPoller
                     ) -> tuple[dict[str, object], float, str | None]:
    """The runner-shaped sustained fields from each segment's exported times (text, end on the poller's clock,
    end Unix time), the gaps between segments (s) and why the records stopped early (a later segment's export
    unusable: the ones before it kept), or None. Raises ValueError when the first segment's is unusable."""
    latencies: list[float] = []
    windows: list[list[float]] = []
    p50s: list[float | None] = []
    first: tuple[float, float] | None = None  # the loop's start: poller clock, Unix time
    last = (0.0, 0.0)
    gaps, cut = 0.0, None
    for k, (text, end_s, end_unix) in enumerate(segments):
        try:
            records = parse_records(text)
        except ValueError as exc:
            if first is None:
                raise
            cut = f"segment {k + 1}: --exportTimes unusable: {exc}"
            break
        w, p, start_s = cut_windows(records, window_s, end_s)
        windows += [[t, int(n) + len(latencies)] for t, n in w]
        p50s += p
        latencies += [lat for _, lat in records]
        span = end_s - start_s
        if first is None:
            first = (start_s, end_unix - span)
        else:
            gaps += max(0.0, start_s - last[0])
        last = (end_s, end_unix)
    assert first is not None
    fields = {"latencies_us": latencies, "windows": windows, "window_p50_us": p50s, "timed_start_s": first[0],
              "interrupted": False, "temperatures": poller.temperatures, "cpu_freq": poller.cpu_freq,
              "duration_s": round(last[0] - first[0], 4),
              "timed_window_unix_s": [round(first[1], 6), round(last[1], 6)]}
    return fields, round(gaps, 3), cut


def fill(transport: Transport, python: str, segments: list[Segment], bench: Bench, result: RunnerResult,
         raw: RawRun, poller: ThermalPoller, interrupted: str | None = None) -> tuple[RunnerResult, str | None]:
    """Fetch each segment's export reduced on the board (COMPACT_SCRIPT; the whole JSON where Python fails),
    remove it there: `result` with the sustained fields, and `raw` given the window. `interrupted`: why the
    loop ended before sustained_s (the row keeps what the finished segments measured). The reason when the
    first export is unusable, else None."""
    texts: list[tuple[str, float, float]] = []
    for seg in segments:
        exported = transport.run(["sh", "-c", '"$1" -c "$2" "$3" 2>/dev/null || cat -- "$3"', "sh", python,
                                  COMPACT_SCRIPT, seg.times], timeout_s=600)
        texts.append((exported.stdout, seg.end_s, seg.end_unix))
        try:
            transport.remove(seg.times)  # a minute of records is megabytes on the board
        except TransportError:
            pass
    try:
        fields, gaps, cut = sustained_fields(texts, window_length(bench), poller)
    except ValueError as exc:
        return result, f"--exportTimes unusable: {exc}"
    interrupted = cut or interrupted
    result = result.merged({**fields, "interrupted": interrupted is not None})
    raw.window_unix_s = result.timed_window_unix_s
    raw.extra["power_window_estimate"] = "trtexec: each segment's last inference's end placed as it returned"
    if len(segments) == 1:
        how = f"one trtexec --duration={segments[0].duration_s} loop"
    else:
        how = (f"{len(segments)} trtexec --duration={segments[0].duration_s} segments back to back (the engine "
               f"reloaded each: {gaps:g} s of gaps in all, not measured)")
    raw.extra["sustained_method"] = (f"{how}, windows cut from --exportTimes; zones and clocks read over ssh once "
                                     "a window")
    if interrupted:
        raw.extra["sustained_interrupted"] = interrupted
    return result, None
