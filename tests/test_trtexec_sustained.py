"""Sustained mode through trtexec on a Jetson (devices/trtexec_sustained.py): one `--duration` loop whose
`--exportTimes` records are cut into windows, the board's zones and clocks read over ssh meanwhile.

The stand-in trtexec below loops in real time for --duration and writes its records the way TensorRT 8's
sampleReporting.cpp exportJSONTrace does (the same keys in the same order, warm-up runs left out, times in ms
on its own clock); it slows down once the heating board's clock fell. Engine builds go to the shared fake."""
from __future__ import annotations

import stat
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from devices import trtexec_sustained as trs
from devices.jetson_target import JetsonTarget
from devices.target import JobSpec
from harness.orchestration.measure import to_measurement
from harness.planning.config import BenchSettings
from tests.fixtures_ssh import PROJECT_PYTHON
from tests.heating_board import HeatingBoard

# One record as TensorRT 8.x writes it (exportJSONTrace): keys and order from sampleReporting.cpp.
TRT8_RECORD = ('{ "startEnqMs" : 12.0, "endEnqMs" : 12.05, "startH2dMs" : 12.01, "endH2dMs" : 12.02, '
               '"startComputeMs" : 12.02, "endComputeMs" : 12.39, "startD2hMs" : 12.39, "endD2hMs" : 12.4, '
               '"h2dMs" : 0.01, "computeMs" : 0.37, "d2hMs" : 0.01, "latencyMs" : 0.39, "endToEndMs" : 0.39 }')

FAKE = r'''#!{python}
import json, os, sys, time
args = dict(a[2:].split("=", 1) if "=" in a else (a[2:], "") for a in sys.argv[1:] if a.startswith("--"))
if "onnx" in args:
    os.execv({shared!r}, [{shared!r}] + sys.argv[1:])
t0 = time.monotonic()
now = lambda: (time.monotonic() - t0) * 1000.0
time.sleep(int(args.get("warmUp", "0")) / 1000.0)
open({looping!r}, "w").close()
recs, t = [], now()
sep = "  "
while now() - t < float(args["duration"]) * 1000.0:
    hot = int(open({clock!r}).read()) < 1800000
    lat = 3.0 if hot else 2.0
    time.sleep(0.02)
    end = now()
    start = end - 20.0
    while start + lat <= end:
        recs.append((start, lat))
        start += lat
with open(args["exportTimes"], "w") as fh:
    fh.write("[\n")
    for s, lat in recs:
        fh.write(sep + "{{ " + ", ".join(f'"{{k}}" : {{round(v, 5)}}' for k, v in (
            ("startEnqMs", s), ("endEnqMs", s + 0.05), ("startH2dMs", s + 0.01), ("endH2dMs", s + 0.02),
            ("startComputeMs", s + 0.02), ("endComputeMs", s + lat - 0.01), ("startD2hMs", s + lat - 0.01),
            ("endD2hMs", s + lat), ("h2dMs", 0.01), ("computeMs", lat - 0.03), ("d2hMs", 0.01),
            ("latencyMs", lat), ("endToEndMs", lat))) + " }}\n")
        sep = ", "
    fh.write("]\n")
sys.stdout.write(open({log!r}).read())
print("&&&& PASSED TensorRT.trtexec [TensorRT v8400] # trtexec " + " ".join(sys.argv[1:]))
'''


def test_records_in_the_real_export_format_are_cut_into_windows():
    text = "[\n  " + TRT8_RECORD + "\n" + "".join(
        ", " + TRT8_RECORD.replace("12.0,", f"{12.0 + 0.4 * i:.2f},").replace("12.4,", f"{12.4 + 0.4 * i:.2f},")
        + "\n" for i in range(1, 10)) + "]\n"
    records = trs.parse_records(text)
    assert len(records) == 10 and records[0] == (12.4, 390.0) and records[-1][0] == pytest.approx(16.0)
    windows, p50s, start = trs.cut_windows(records, 0.001, loop_end_s=10.0)  # 1 ms windows
    assert start == pytest.approx(10.0 - 0.00401, abs=1e-3)
    assert [w[1] for w in windows] == [2, 5, 7, 10] and p50s == [390.0] * 4 and windows[-1][0] == 10.0
    with pytest.raises(ValueError, match="startEnqMs"):
        trs.parse_records('[{"latencyMs": 1.0}]')


def _fake_trtexec(sshd_board, tmp_path: Path, name: str) -> tuple[object, Path]:
    """The stand-in trtexec on the heating board's clock file, a Jetson config using it, an ONNX to build."""
    log = Path(__file__).parent / "fixtures" / "device-outputs" / "trtexec.tensorrt8_jetson_xavier.txt"
    tool = tmp_path / "trtexec"
    tool.write_text(FAKE.format(python=PROJECT_PYTHON, shared=str(sshd_board.bin / "trtexec"),
                                clock=str(tmp_path / "board" / "cpu0" / "cpufreq" / "scaling_cur_freq"), log=str(log),
                                looping=str(tmp_path / "looping")))
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    cfg = sshd_board.config_for(name, "jetson", runtime="tensorrt", trtexec=str(tool),
                                workdir=str(tmp_path / "w"), tensorrt_precisions=["fp16", "int8"])
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"\x08\x07" + bytes(range(256)) * 40)
    return cfg, onnx


def test_trtexec_sustained_on_a_heating_jetson_finds_the_onset(sshd_board, tmp_path):
    # Heats once trtexec's loop starts, throttles 3.3 s later.
    board = HeatingBoard(tmp_path / "board", tau_s=6.0, throttle_at_c=62.0)
    cfg, onnx = _fake_trtexec(sshd_board, tmp_path, "hot-orin")
    bench = BenchSettings(sustained_s=8.0, sustained_window_s=0.5, warmup_s=0.0, cooldown_s=0, timeout_s=60.0)
    target = JetsonTarget(cfg)

    def heat_when_looping() -> None:  # the board heats once the loop runs (a build takes seconds at high load)
        while not (tmp_path / "looping").exists():
            time.sleep(0.01)
        board.heat()

    target.thermal_glob, target.cpufreq_glob = board.thermal_glob, board.cpufreq_glob
    try:
        target.prepare()
        threading.Thread(target=heat_when_looping, daemon=True).start()
        raw = target.benchmark(JobSpec(model_path=onnx, bench=bench))
    finally:
        board.stop()
        target.close()
    r = raw.runner
    assert r.get("error") is None and r["interrupted"] is False, r.get("error")
    assert 12 <= len(r["windows"]) <= 17 and r["windows"][-1][1] == len(r["latencies_us"])
    assert r["cpu_freq"][0][1] == "before" and len(r["cpu_freq"]) >= 3 and r["temperatures"]
    m = to_measurement("run", "hot-orin", SimpleNamespace(model="m", variant="onnx", metrics={}), bench, raw,
                       time.time())
    assert m.status == "ok", m.error
    s = m.extra["sustained"]
    assert board.throttled_at_unix is not None and s["first_throttle_s"] is not None, (r["cpu_freq"], r["windows"])
    expected = board.throttled_at_unix - r["timed_window_unix_s"][0]
    # Clocks read once a window from this host, each stamped as its read returned: the onset is the first
    # reading after the drop (never before it), the one before it still saw the full clock.
    stamps = [row[0] - r["timed_start_s"] for row in r["cpu_freq"]]
    print(f"onset found {s['first_throttle_s']:.3f} s, throttled {expected:.3f} s, {len(r['windows'])} windows")
    before = [t for t in stamps if t < s["first_throttle_s"] - 1e-6]
    assert expected - 0.05 <= s["first_throttle_s"] <= expected + 3.0, (s["first_throttle_s"], expected, stamps)
    assert before and before[-1] <= expected + 0.05, (before, expected)
    assert "1800 to 1200" in s["throttle_cause"] and s["temp_reached_c"] > 62.0
    assert s["cold_p50_us"] == 2000 and s["steady_p50_us"] == 3000 and s["steady_over_cold"] == 1.5
    assert "--duration=8" in m.extra["sustained_method"]
    assert "tensorrt_other_precisions" not in raw.extra and raw.extra["engine"]["precision"] == "fp16"


def test_the_board_side_reduction_reads_the_export_line_by_line(tmp_path):
    """COMPACT_SCRIPT (run with the board's Python) gives the same records as the JSON itself."""
    import subprocess
    import sys

    text = "[\n  " + TRT8_RECORD + "\n, " + TRT8_RECORD.replace('"endD2hMs" : 12.4, ', "") + "\n]\n"
    path = tmp_path / "times.json"
    path.write_text(text)
    out = subprocess.run([sys.executable, "-c", trs.COMPACT_SCRIPT, str(path)], capture_output=True, text=True,
                         check=True).stdout
    assert out == "12.4000 0.3900\n12.3900 0.3900\n"
    assert trs.parse_records(out) == [(12.4, 390.0), (12.39, 390.0)]
    assert trs.parse_records(text) == [(12.4, 390.0), (pytest.approx(12.39), 390.0)]


def test_segments_of_a_long_loop_and_their_durations():
    """ceil(sustained_s) in trtexec runs of at most SEGMENT_S, never shorter than a window."""
    b = SimpleNamespace(sustained_s=600.0, sustained_window_s=30.0)
    assert trs.segment_durations(b) == [60] * 10
    assert trs.segment_durations(SimpleNamespace(sustained_s=8.0, sustained_window_s=0.5)) == [8]  # one loop
    assert trs.segment_durations(SimpleNamespace(sustained_s=130.5, sustained_window_s=None)) == [60, 60, 11]
    assert trs.segment_durations(SimpleNamespace(sustained_s=600.0, sustained_window_s=90.0)) == [90] * 6 + [60]


def test_ctrl_c_keeps_the_trtexec_segments_already_finished(sshd_board, tmp_path, monkeypatch):
    """trtexec writes its times only when its loop ends: a 60 s loop in 2 s segments, stopped (what the
    orchestrator calls on Ctrl-C: abort, which ends the ssh link) during the third, keeps the first two."""
    monkeypatch.setattr(trs, "SEGMENT_S", 2)
    board = HeatingBoard(tmp_path / "board")  # its zone and clock files only: it does not heat here
    cfg, onnx = _fake_trtexec(sshd_board, tmp_path, "orin-stop")
    bench = BenchSettings(sustained_s=60.0, sustained_window_s=0.5, warmup_s=0.0, cooldown_s=0, timeout_s=60.0)
    target = JetsonTarget(cfg)
    target.thermal_glob, target.cpufreq_glob = board.thermal_glob, board.cpufreq_glob
    engines = tmp_path / "w" / "engines"
    out: dict = {}
    try:
        target.prepare()
        worker = threading.Thread(target=lambda: out.update(raw=target.benchmark(JobSpec(model_path=onnx,
                                                                                          bench=bench))))
        worker.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (engines / "times-fp16-1.json").exists():
            time.sleep(0.05)  # the second segment's export: two finished
        time.sleep(1.0)
        t_abort = time.monotonic()
        target.abort()
        worker.join(timeout=60)
        assert not worker.is_alive() and time.monotonic() - t_abort < 15.0  # the orchestrator's grace
    finally:
        target.close()
    raw = out["raw"]
    r = raw.runner
    assert r.get("error") is None and r["interrupted"] is True, r.get("error")
    kept = int(raw.extra["sustained_interrupted"].split()[1].rstrip(":")) - 1  # "segment K: ..." cut K
    print(f"stopped {time.monotonic() - t_abort:.2f} s after abort; kept {kept} segments, {len(r['windows'])} "
          f"windows; {raw.extra['sustained_interrupted'][:60]}; {raw.extra['sustained_method'][:120]}")
    assert kept >= 2 and len(r["windows"]) >= 4 * kept - 1, (raw.extra, r["windows"])
    assert r["windows"][-1][1] == len(r["latencies_us"]) and set(r["window_p50_us"]) == {2000.0}
    assert f"{kept} trtexec --duration=2 segments back to back" in raw.extra["sustained_method"]
    assert r["duration_s"] >= 2.0 * kept - 0.5
    assert not list(engines.glob("times-fp16-[01].json"))  # fetched and removed from the board
    m = to_measurement("run", "orin-stop", SimpleNamespace(model="m", variant="onnx", metrics={}), bench, raw,
                       time.time())
    assert m.status == "ok" and m.extra["sustained"]["interrupted"] is True, m.error
    assert len(m.latencies_us) == r["windows"][-1][1]
