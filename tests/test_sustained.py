"""Sustained mode: one unbroken loop in windows, on a board that heats up and throttles.

The runner is the real one on a real .tflite; the heating board (tests/heating_board.py) rewrites
thermal-zone and cpufreq files as a device under load does, and keeps the moment it throttled, so the
onset the harness reports is checked against the one the simulator caused.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from harness.statistics.sustained import first_throttle, from_runner, summarize_sustained, sustained_text
from tests.heating_board import HeatingBoard

RUNNER = Path(__file__).resolve().parent.parent / "rpi" / "runner.py"


def _job(model: Path, board: HeatingBoard, seconds: float, window: float) -> dict:
    return {"model_path": str(model), "sustained_s": seconds, "window_s": window, "min_s": seconds,
            "max_s": seconds, "min_runs": 1, "sample_interval_s": 0.05, "thermal_glob": board.thermal_glob,
            "cpufreq_glob": board.cpufreq_glob}


def test_summary_of_a_slowing_series_on_a_synthetic_clock():
    # 10 windows of 100 runs: 1 ms for the first 4, 1.5 ms after; the clock fell 4.5 s into the loop.
    lat = [1000.0] * 400 + [1500.0] * 600
    windows = [[2.0 + i, 100 * (i + 1)] for i in range(10)]  # the loop started at t = 1.0 on this clock
    freq = [[0.5, "before", {"cpu0": {"cur": 1800, "max": 1800}}]] + [
        [1.0 + i * 0.5, "run", {"cpu0": {"cur": 1800 if i < 9 else 1200, "max": 1800 if i < 9 else 1200}}]
        for i in range(1, 21)]
    temps = [[0.5, "before", {"cpu": 40.0}]] + [[1.0 + i, "run", {"cpu": 40.0 + 3 * i}] for i in range(1, 11)]
    s = summarize_sustained(lat, windows, temps, freq, timed_start_s=1.0, steady_s=3.0)
    assert s.cold_p50_us == 1000.0 and s.steady_p50_us == 1500.0 and s.steady_over_cold == 1.5
    assert s.first_throttle_s == pytest.approx(4.5) and "cap fell from 1800 to 1200" in s.throttle_cause
    assert s.temp_start_c == 40.0 and s.temp_reached_c == 70.0 and len(s.windows) == 10
    assert [w.runs for w in s.windows] == [100] * 10 and s.windows[5].p50_us == 1500.0
    assert "x1.50" in sustained_text(s) and "first throttle at 4 s" in sustained_text(s)
    # Default steady state: the last third of a run shorter than 6 minutes.
    assert summarize_sustained(lat, windows, timed_start_s=1.0).steady_s == pytest.approx(10 / 3, abs=1e-3)


def test_throttle_events_clock_drop_or_thermal_status_whichever_first():
    steady = [[t, "run", {"cpu0": {"cur": 1800}}] for t in (1, 2, 3)]
    assert first_throttle(steady) == (None, None)
    dropped = steady + [[4, "run", {"cpu0": {"cur": 1500}}]]
    assert first_throttle(dropped)[0] == 4 and "1800 to 1500" in first_throttle(dropped)[1]
    assert first_throttle(dropped, statuses=[(2.5, 0), (3.5, 2)]) == (3.5, "thermal status 2")
    # A 5 % dip is governor noise, not a throttle event.
    assert first_throttle(steady + [[4, "run", {"cpu0": {"cur": 1720}}]]) == (None, None)


def test_runner_sustained_on_a_heating_board_finds_the_onset(tiny_tflite, tmp_path):
    # Heats from the moment the runner starts (imports, model load, then the loop): throttles 3.3 s later.
    board = HeatingBoard(tmp_path / "board", tau_s=6.0, throttle_at_c=62.0).heat_under_load(str(RUNNER))
    try:
        res = subprocess.run([sys.executable, str(RUNNER), "--job", "-"], capture_output=True, text=True,
                             input=json.dumps(_job(tiny_tflite, board, 6.0, 0.25)), timeout=120)
    finally:
        board.stop()
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert res.returncode == 0, out
    assert out["interrupted"] is False and 5.9 <= out["duration_s"] <= 7.0
    assert 22 <= len(out["windows"]) <= 26 and out["windows"][-1][1] == len(out["latencies_us"])
    s = from_runner(out)
    assert s is not None and board.throttled_at_unix is not None
    expected = board.throttled_at_unix - out["timed_window_unix_s"][0]
    # Clocks are read every 0.05 s (and at each window end): the onset is found within that, plus load.
    assert s.first_throttle_s == pytest.approx(expected, abs=0.3), (s.first_throttle_s, expected)
    assert "1800 to 1200" in s.throttle_cause
    assert s.temp_reached_c is not None and s.temp_reached_c > 62.0 and s.temp_start_c < s.temp_reached_c


def test_sigterm_ends_a_sustained_loop_with_what_it_measured(tiny_tflite, tmp_path):
    board = HeatingBoard(tmp_path / "board")
    proc = subprocess.Popen([sys.executable, str(RUNNER), "--job", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(_job(tiny_tflite, board, 60.0, 0.2)))
    proc.stdin.close()
    proc.stdin = None  # written and closed: communicate() only reads
    time.sleep(8.0)  # interpreter import and model load (seconds on a loaded host), then the loop
    proc.send_signal(signal.SIGTERM)
    out_text, err = proc.communicate(timeout=60)
    assert out_text.strip(), err[-2000:]
    out = json.loads(out_text.strip().splitlines()[-1])
    assert proc.returncode == 0 and out["interrupted"] is True
    assert 0 < out["duration_s"] < 10 and out["latencies_us"]
    assert out["windows"][-1][1] == len(out["latencies_us"])
    assert from_runner(out).interrupted is True


def _cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def _forked(harness_cli, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`harness ARGS` as a real process forked from a warm interpreter (tests/cli_fork.py)."""
    return harness_cli(*args, text=True, timeout=timeout)


@pytest.mark.parametrize(("flag", "value", "says"), [("--sustained", "10x", "not a duration"),
                                                     ("--sustained", "0", "above 0"),
                                                     ("--window", "-1s", "not a duration")])
def test_bad_sustained_flags_are_one_line_exit_2(flag, value, says, harness_cli):
    res = _forked(harness_cli, "run", f"{flag}={value}", timeout=60)
    assert res.returncode == 2 and says in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr


def test_cli_sustained_on_the_local_target_stores_the_figures(tmp_path, tiny_tflite, isolated_cache):
    devices = tmp_path / "devices.yaml"
    devices.write_text(yaml.safe_dump({"devices": [{"name": "local", "kind": "local"}]}))
    db = tmp_path / "r.db"
    env = {**os.environ, "XDG_CACHE_HOME": str(isolated_cache)}
    res = _cli("run", "--devices", str(devices), "--db", str(db), "--models", str(tiny_tflite), "--variants", "fp32",
               "--sustained", "2s", "--window", "250ms", "--cooldown", "0", "--no-progress", env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads(_cli("results", "--db", str(db), "--format", "json", timeout=120).stdout)
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    s = rows[0]["extra"]["sustained"]
    assert 1.9 <= s["duration_s"] <= 3.0 and 7 <= len(s["windows"]) <= 10
    assert s["cold_p50_us"] > 0 and s["steady_p50_us"] > 0
    assert s["steady_over_cold"] == pytest.approx(s["steady_p50_us"] / s["cold_p50_us"], rel=1e-3)
    assert sum(w["runs"] for w in s["windows"]) == len(rows[0]["latencies_us"])
    assert any(n.startswith("sustained: cold") for n in rows[0]["validity"]["notes"])
    assert "sustained local tiny.tflite/fp32: cold" in res.stdout
    page = tmp_path / "r.html"
    assert _cli("report", "--db", str(db), "--out", str(page), timeout=120).returncode == 0
    text = page.read_text()
    assert '<section id="sustained">' in text and ("first throttle" in text or "no throttle event" in text)
    assert '<section id="recommendation">' not in text  # no budget stored with the run: nothing to choose against


def test_ctrl_c_keeps_the_minutes_a_sustained_run_measured(tmp_path, tiny_tflite, isolated_cache):
    import sqlite3

    devices = tmp_path / "devices.yaml"
    devices.write_text(yaml.safe_dump({"devices": [{"name": "local", "kind": "local",
                                                    "bench": {"sustained_s": 120, "sustained_window_s": 0.5}}]}))
    db = tmp_path / "r.db"
    env = {**os.environ, "XDG_CACHE_HOME": str(isolated_cache)}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--devices", str(devices), "--db", str(db),
                             "--models", str(tiny_tflite), "--variants", "fp32", "--cooldown", "0",
                             "--no-peak-probe", "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Wait for the runner (a child of ours running runner.py) to be in its loop.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not _runner_running(proc.pid):
        time.sleep(0.1)
    time.sleep(8.0)  # interpreter import and model load on a loaded host, then seconds of the loop
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    data = sqlite3.connect(db).execute("SELECT data FROM measurements").fetchall()
    assert len(data) == 1, err[-2000:]
    row = json.loads(data[0][0])
    assert row["status"] == "ok" and row["extra"]["sustained"]["interrupted"] is True
    assert 0 < row["extra"]["sustained"]["duration_s"] < 100 and row["latencies_us"]


def _runner_running(pid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"runner.py" in cmd:
                return True
    return False


def test_sustained_through_ssh_on_a_heating_pi(sshd_board, tiny_tflite, tmp_path):
    from devices.registry import build_target
    from devices.target import JobSpec
    from harness.orchestration.measure import to_measurement
    from harness.planning.config import BenchSettings

    cfg = sshd_board.config_for("hot-pi", "raspberry_pi")
    target = build_target(cfg)
    # Heats from the moment the board's runner starts; throttles about 7.7 s later (after the runner's
    # imports and model load over ssh on a loaded host, inside the 10 s loop).
    board = HeatingBoard(tmp_path / "board", tau_s=14.0, throttle_at_c=62.0)
    target.thermal_glob, target.cpufreq_glob = board.thermal_glob, board.cpufreq_glob
    bench = BenchSettings(sustained_s=10.0, sustained_window_s=0.5, sample_interval_s=0.05, cooldown_s=0)
    try:
        target.prepare()
        board.heat_under_load(str(cfg.workdir))
        raw = target.benchmark(JobSpec(model_path=tiny_tflite, bench=bench))
    finally:
        board.stop()
        target.close()
    m = to_measurement("run", "hot-pi", SimpleNamespace(model="tiny", variant="fp32", metrics={}), bench, raw, 0.0)
    assert m.status == "ok", m.error
    s = m.extra["sustained"]
    expected = board.throttled_at_unix - raw.runner["timed_window_unix_s"][0]
    assert s["first_throttle_s"] == pytest.approx(expected, abs=0.3), (s["first_throttle_s"], expected)
    assert s["temp_reached_c"] > 62.0 and 19 <= len(s["windows"]) <= 22
    assert s["steady_p50_us"] > 0 and s["cold_p50_us"] > 0
    # Throttling is what a sustained run measures: the row stays valid (the Pi's recorded 0x50005 aside).
    assert m.validity.no_throttling is True and any("first throttle at" in n for n in m.validity.notes)


def test_sustained_through_adb_on_a_heating_phone(android_device, adb_sim, tmp_path):
    """benchmark_model in back-to-back windows on the simulated phone: it heats while the tool runs,
    the thermal service goes to status 2 and the big core's clock falls at 50 C, inferences slow 1.6x."""
    from devices.android_target import AndroidTarget
    from devices.target import JobSpec
    from harness.orchestration.measure import to_measurement
    from harness.planning.config import BenchSettings
    from tests.heating_board import HeatingPhone

    model = tmp_path / "model.tflite"
    model.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(range(256)) * 64)
    phone = HeatingPhone(adb_sim, start_c=38.0, rise_c_per_s=6.0, throttle_at_c=50.0, latency_us=2000.0)
    bench = BenchSettings(sustained_s=6.0, sustained_window_s=0.5, sample_interval_s=0.1, cooldown_s=0,
                          timeout_s=30.0)
    t = AndroidTarget(android_device())
    try:
        t.prepare()
        raw = t.benchmark(JobSpec(model_path=model, bench=bench))
    finally:
        t.close()
    r = raw.runner
    assert len(r["windows"]) >= 5 and r["interrupted"] is False and phone.throttled_at_unix is not None
    art = SimpleNamespace(model="model.tflite", variant="fp32", metrics={})
    m = to_measurement("run", "phone", art, bench, raw, time.time())
    assert m.status == "ok", m.error
    s = m.extra["sustained"]
    expected = phone.throttled_at_unix - r["timed_window_unix_s"][0]
    # Seen at the next window end (clocks) or thermal poll (status), whichever comes first.
    assert expected - 0.05 <= s["first_throttle_s"] <= expected + 0.5 + 0.1 * 4 + 0.3, (s, expected)
    assert "thermal status 2" in s["throttle_cause"] or "clock fell" in s["throttle_cause"]
    assert s["cold_p50_us"] == 2000 and s["steady_p50_us"] == pytest.approx(3200, rel=0.01)
    assert s["steady_over_cold"] == pytest.approx(1.6, rel=0.01) and s["temp_reached_c"] > 50.0
    assert "back-to-back benchmark_model runs" in m.extra["sustained_method"]


def test_a_runtime_without_sustained_mode_is_refused_before_anything_runs(tmp_path):
    devices = tmp_path / "devices.yaml"
    devices.write_text(yaml.safe_dump({"devices": [
        {"name": "orin", "kind": "jetson", "host": "127.0.0.1", "user": "u", "runtime": "tensorrt"}]}))
    res = _cli("run", "--devices", str(devices), "--db", str(tmp_path / "r.db"), "--sustained", "10m", timeout=120)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "--sustained: device 'orin': no sustained mode for jetson runtime tensorrt yet" in res.stderr
    assert not (tmp_path / "r.db").exists()
