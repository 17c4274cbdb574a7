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

from devices.runner_result import RunnerResult
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
    s = from_runner(RunnerResult.from_json(out))
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
    assert from_runner(RunnerResult.from_json(out)).interrupted is True


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
               "--sustained", "2s", "--window", "250ms", "--cooldown", "0", "--no-progress", "--no-peak-probe", env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads(_cli("results", "--db", str(db), "--format", "json", timeout=120).stdout)
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    s = rows[0]["extra"]["sustained"]
    assert 1.9 <= s["duration_s"] <= 3.0 and 7 <= len(s["windows"]) <= 10
    assert s["cold_p50_us"] > 0 and s["steady_p50_us"] > 0
    assert s["steady_over_cold"] == pytest.approx(s["steady_p50_us"] / s["cold_p50_us"], rel=1e-3)
    # A tiny model runs 100 000+ times in 2 s: the row keeps a bounded sample and says of how many.
    kept = rows[0]["extra"].get("latencies_kept") or {"of": len(rows[0]["latencies_us"])}
    assert sum(w["runs"] for w in s["windows"]) == kept["of"] and len(rows[0]["latencies_us"]) <= 20_000
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
        {"name": "ort", "kind": "local", "runtime": "onnxruntime"}]}))
    res = _cli("run", "--devices", str(devices), "--db", str(tmp_path / "r.db"), "--sustained", "10m", timeout=120)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "--sustained: device 'ort': no sustained mode for local runtime onnxruntime yet" in res.stderr
    assert not (tmp_path / "r.db").exists()


def _iphone(tmp_path, mode: str):
    from devices.ios_target import IosTarget
    from tests.ios_fake import FakeIosAdapter

    cfg = SimpleNamespace(name="iphone", udid="00008120-001A2B3C4D5E6F70", bundle_id="dev.harness.companion",
                          compute_units="all")
    phone = FakeIosAdapter(cfg.udid, cfg.bundle_id, root=tmp_path / "phones", mode=mode)
    pkg = tmp_path / "pkg" / "m.mlpackage"
    pkg.mkdir(parents=True)
    (pkg / "Manifest.json").write_text("{}")
    from converters.coreml import zip_package

    model = tmp_path / "m.mlpackage.zip"
    model.write_bytes(zip_package(pkg))
    return IosTarget(cfg, adapter=phone), phone, model


def test_sustained_through_the_ios_app_on_a_heating_phone(tmp_path):
    """The app's sustained loop (the fake runs HarnessCore.sustainedLoop's steps in real time): the phone's
    thermal state turns serious 1.5 s into the loop and inferences slow 1.6x; the host finds the onset."""
    from devices.target import JobSpec
    from harness.orchestration.measure import to_measurement
    from harness.planning.config import BenchSettings
    from tests.ios_fake import AFTER_LOOP_S

    target, phone, model = _iphone(tmp_path, "heating")
    bench = BenchSettings(sustained_s=4.0, sustained_window_s=0.25, sample_interval_s=0.1, cooldown_s=0,
                          timeout_s=30.0)
    target.prepare()
    raw = target.benchmark(JobSpec(model_path=model, bench=bench))
    r = raw.runner
    assert r.get("error") is None, r
    assert 14 <= len(r["windows"]) <= 18 and r["windows"][-1][1] == len(r["latencies_us"])
    assert r["after_loop_s"] >= AFTER_LOOP_S - 0.01
    m = to_measurement("run", "iphone", SimpleNamespace(model="m", variant="coreml", metrics={}), bench, raw,
                       time.time())
    assert m.status == "ok", m.error
    s = m.extra["sustained"]
    expected = phone.throttled_at_unix - r["timed_window_unix_s"][0]  # the fake's clock is this host's
    # Seen at the window end after it (0.25 s); the loop placed on the host's clock within one 0.25 s poll.
    assert expected - 0.05 <= s["first_throttle_s"] <= expected + 0.25 + 0.25 + 0.3, (s["first_throttle_s"], expected)
    assert s["throttle_cause"] == "thermal status 2"
    assert s["cold_p50_us"] == 2000.0 and s["steady_p50_us"] == 3200.0  # the last third: all after the onset
    assert s["steady_over_cold"] == pytest.approx(1.6) and s["interrupted"] is False
    assert s["temp_reached_c"] > s["temp_start_c"]  # the battery sensor, read by the host while it ran
    assert "the app's loop" in m.extra["sustained_method"]
    assert m.validity.no_throttling is True  # throttling is what a sustained run measures


def test_ctrl_c_stops_the_ios_apps_loop_within_a_sampling_interval_and_keeps_it(tmp_path):
    import threading

    from devices.target import JobSpec
    from harness.planning.config import BenchSettings

    target, phone, model = _iphone(tmp_path, "ok")
    # 30 s windows: the stop is asked at every 0.1 s sampling point, so it ends long before a window would.
    bench = BenchSettings(sustained_s=120.0, sustained_window_s=30.0, sample_interval_s=0.1, cooldown_s=0)
    job = target.runtime.request(target, JobSpec(model_path=model, bench=bench), "models/x.mlpackage")
    assert job["sustained_s"] == 120.0 and job["window_s"] == 30.0
    target.prepare()
    out: dict = {}
    worker = threading.Thread(target=lambda: out.update(raw=target.benchmark(JobSpec(model_path=model, bench=bench))))
    worker.start()
    time.sleep(1.5)
    t_abort = time.monotonic()
    target.abort()
    worker.join(timeout=30)
    assert not worker.is_alive() and time.monotonic() - t_abort < 5.0
    r = out["raw"].runner
    assert r.get("error") is None and r["interrupted"] is True, r
    assert 0.5 < r["duration_s"] < 5.0 and r["windows"][-1][1] == len(r["latencies_us"])
    assert len(r["windows"]) == 1  # the part of the first 30 s window that ran, closed at the stop
    assert not (phone.documents / "jobs" / f"{out['raw'].extra['job_name']}.stop").exists()  # cleaned up
    assert from_runner(out["raw"].result).interrupted is True


def test_ios_is_offered_sustained_mode_and_others_still_refused(tmp_path):
    from harness.planning.plan import sustained_problem

    assert sustained_problem(SimpleNamespace(kind="ios", runtime=None)) is None
    assert sustained_problem(SimpleNamespace(kind="jetson", runtime="tensorrt")) is None  # trtexec --duration
    assert sustained_problem(SimpleNamespace(kind="jetson", runtime="tftrt")) is None  # the runner's own loop
    why = sustained_problem(SimpleNamespace(kind="local", runtime="onnxruntime"))
    assert why is not None and "iOS through the companion app" in why and "trtexec and TF-TRT on a Jetson" in why


def test_a_long_sustained_row_keeps_a_bounded_sample_but_figures_from_every_run():
    """A 10-minute loop of a 1 ms model is 600 000 runs (tens of MB of JSON per row): the row keeps
    SAMPLES_KEPT of them, evenly in time; percentiles, windows and steady state come from all."""
    import numpy as np

    from devices.target import RawRun
    from devices.runner_result import RunnerResult
    from harness.orchestration.measure import to_measurement
    from harness.planning.config import BenchSettings
    from harness.statistics.sustained import SAMPLES_KEPT

    rng = np.random.default_rng(3)
    n, per_window = 200_000, 10_000
    lat = np.concatenate([rng.normal(1000, 20, n // 2), rng.normal(1300, 30, n // 2)]).round(3)
    windows = [[0.5 + (i + 1) * 10.0, per_window * (i + 1)] for i in range(n // per_window)]
    runner = {"schema_version": 4, "runtime": "litert", "latencies_us": lat.tolist(), "duration_s": 200.0,
              "windows": windows, "timed_start_s": 0.5, "interrupted": False, "sustained_s": 200.0,
              "window_s": 10.0, "timed_window_unix_s": [1000.0, 1200.0]}
    bench = BenchSettings(sustained_s=200.0, sustained_window_s=10.0)
    m = to_measurement("r", "local", SimpleNamespace(model="m", variant="fp32", metrics={}), bench,
                       RawRun(RunnerResult.from_json(runner)), 0.0)
    assert m.status == "ok", m.error
    assert len(m.latencies_us) == SAMPLES_KEPT and m.runs == n
    assert m.extra["latencies_kept"]["kept"] == SAMPLES_KEPT and m.extra["latencies_kept"]["of"] == n
    assert m.p50_us == pytest.approx(float(np.median(lat)))  # from all 200 000, not the kept ones
    assert m.p99_us == pytest.approx(float(np.percentile(lat, 99)), rel=1e-6)
    s = m.extra["sustained"]
    assert s["cold_p50_us"] == pytest.approx(float(np.median(lat[:per_window])), abs=1e-3)
    assert s["steady_p50_us"] == pytest.approx(float(np.median(lat[n - 7 * per_window:])), abs=1e-3)
    assert sum(w["runs"] for w in s["windows"]) == n
    # Evenly in time: the kept sample has the slow half in proportion, and its median is the row's.
    kept = np.asarray(m.latencies_us)
    assert abs((kept > 1150).mean() - 0.5) < 0.01
    assert len(m.to_json()) < 600_000  # was about 2.6 MB with every sample
    # A short run keeps every sample and says nothing.
    short = {**runner, "latencies_us": lat[:5000].tolist(), "windows": [[10.5, 2500], [20.5, 5000]]}
    m2 = to_measurement("r", "local", SimpleNamespace(model="m", variant="fp32", metrics={}), bench,
                        RawRun(RunnerResult.from_json(short)), 0.0)
    assert len(m2.latencies_us) == 5000 and "latencies_kept" not in m2.extra and m2.runs == 5000


def test_sustained_benchmark_model_on_a_heating_pi_over_ssh(sshd_board, tiny_tflite, tmp_path):
    """benchmark_model on a board has no loop of its own: back-to-back runs of one window, the board's
    zones and clocks read over ssh after each; the heating board's clock drop is the onset found."""
    import stat as st

    from devices.rpi_target import RaspberryPiTarget
    from devices.target import JobSpec
    from harness.orchestration.measure import to_measurement
    from harness.planning.config import BenchSettings
    from tests.fixtures_ssh import FIXTURES

    from tests.adb_sim_shell import heated_log

    board = HeatingBoard(tmp_path / "board", tau_s=6.0, throttle_at_c=62.0)  # throttles 3.3 s after heat()
    recorded = (FIXTURES / "benchmark_model.cpu_profiling.txt").read_text().splitlines(keepends=True)
    logs = {}
    for name, us in (("cold", 2000.0), ("hot", 3000.0)):  # the recorded log in the tool's full form
        logs[name] = tmp_path / f"{name}.log"
        logs[name].write_text(heated_log(recorded, [us] * 200))
    clock = tmp_path / "board" / "cpu0" / "cpufreq" / "scaling_cur_freq"
    tool = tmp_path / "benchmark_model"  # runs for its window (--min_secs), 1.5x slower once the clock fell
    tool.write_text("#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in --min_secs=*) s=\"${a#--min_secs=}\";; esac; done\n"
                    f"sleep \"$s\"\nif [ \"$(cat {clock})\" -lt 1800000 ]; then cat {logs['hot']} >&2; "
                    f"else cat {logs['cold']} >&2; fi\n")
    tool.chmod(tool.stat().st_mode | st.S_IEXEC)
    cfg = sshd_board.config_for("hot-pi-bm", "raspberry_pi", runtime="benchmark_model", benchmark_model=str(tool))
    target = RaspberryPiTarget(cfg)
    target.thermal_glob, target.cpufreq_glob = board.thermal_glob, board.cpufreq_glob
    bench = BenchSettings(sustained_s=8.0, sustained_window_s=0.5, cooldown_s=0, timeout_s=60.0)
    try:
        target.prepare()
        board.heat()
        raw = target.benchmark(JobSpec(model_path=tiny_tflite, bench=bench))
    finally:
        board.stop()
        target.close()
    r = raw.runner
    assert r.get("error") is None and r["interrupted"] is False, r
    assert 4 <= len(r["windows"]) <= 16 and len(r["window_p50_us"]) == len(r["windows"])
    assert r["cpu_freq"] and r["temperatures"][0][1] == "before"
    m = to_measurement("run", "hot-pi-bm", SimpleNamespace(model="tiny", variant="fp32", metrics={}), bench, raw,
                       time.time())
    assert m.status == "ok", m.error
    s = m.extra["sustained"]
    assert board.throttled_at_unix is not None and s["first_throttle_s"] is not None, (r["cpu_freq"], r["windows"])
    expected = board.throttled_at_unix - r["timed_window_unix_s"][0]
    # Read after each window: the onset is seen at the end of the window it fell in (plus an ssh read).
    assert expected - 0.05 <= s["first_throttle_s"] <= expected + 0.5 + 1.5, (s["first_throttle_s"], expected)
    assert "1800 to 1200" in s["throttle_cause"] and s["temp_reached_c"] > 62.0
    assert s["cold_p50_us"] == 2000 and s["steady_p50_us"] == 3000 and s["steady_over_cold"] == 1.5
    assert "back-to-back benchmark_model runs" in m.extra["sustained_method"]
