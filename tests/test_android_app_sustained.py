"""Sustained mode through the Android companion app (`runtime: app`): the host's `am start` extras, the app's
loop (the simulator's stand-in runs dev.harness.core.SustainedLoop's steps in real time on a heating phone), the
windows placed on the host's clock by the phone's clock offset, and Ctrl-C through the stop file.

The real adb server joins the protocol simulator (tests/adb_sim.py); the phone's clock runs ahead of the host's
so that a placement that ignored the offset would put the onset seconds away from where the phone throttled.
"""
from __future__ import annotations

import json
import shlex
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.statistics.sustained import from_runner

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def model(tmp_path) -> Path:
    p = tmp_path / "model.tflite"
    p.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(range(256)) * 16)
    return p


def test_sustained_through_the_android_app_on_a_heating_phone(android_device, adb_sim, model):
    """The phone heats while the app's loop runs; at 50 C the thermal service says 2 and the big core's clock
    falls, inferences slow 1.6x. The host finds the onset where the simulator throttled, on its own clock."""
    from devices.android_target import AndroidTarget
    from devices.target import JobSpec
    from harness.orchestration.measure import to_measurement
    from harness.planning.config import BenchSettings
    from tests.heating_board import HeatingPhone

    adb_sim.clock_offset_s = 7.5  # the phone's wall clock is 7.5 s ahead of the host's
    phone = HeatingPhone(adb_sim, start_c=38.0, rise_c_per_s=6.0, throttle_at_c=50.0, latency_us=2000.0)
    bench = BenchSettings(sustained_s=5.0, sustained_window_s=0.25, sample_interval_s=0.1, cooldown_s=0,
                          timeout_s=30.0)
    t = AndroidTarget(android_device(runtime="app"))
    try:
        t.prepare()
        raw = t.benchmark(JobSpec(model_path=model, bench=bench))
    finally:
        t.close()
    r = raw.runner
    assert r.get("error") is None, r
    start = adb_sim.app.starts[-1]["extras"]
    assert start["sustained_s"] == 5.0 and start["window_s"] == 0.25
    argv = shlex.split(next(c for c in reversed(adb_sim.commands) if c.startswith("am start")))
    assert argv[argv.index("sustained_s") - 1] == "--ef" and argv[argv.index("window_s") - 1] == "--ef"
    assert 15 <= len(r["windows"]) <= 21 and r["windows"][-1][1] == len(r["latencies_us"])
    assert r["interrupted"] is False and phone.throttled_at_unix is not None
    # The loop on the host's clock: it started after the job did and ended before the result was pulled.
    assert raw.window_unix_s is not None and raw.window_unix_s[0] == r["timed_window_unix_s"][0]
    assert 0 < r["timed_start_s"] < 5.0 and r["windows"][-1][0] < time.monotonic() - t.job_t0
    m = to_measurement("run", "phone", SimpleNamespace(model="model.tflite", variant="fp32", metrics={}), bench,
                       raw, time.time())
    assert m.status == "ok", m.error
    s = m.extra["sustained"]
    expected = phone.throttled_at_unix - r["timed_window_unix_s"][0]
    print(f"app onset found {s['first_throttle_s']:.3f} s, throttled {expected:.3f} s ({s['throttle_cause']}), "
          f"{len(r['windows'])} windows, offset read {m.extra['sustained_method'].split('offset (')[1][:8]}")
    # Seen at the next window end (0.25 s, the app's own status), or a host poll, whichever comes first; the
    # offset read over one `date` round trip may place the loop up to that round trip early or late.
    assert expected - 0.15 <= s["first_throttle_s"] <= expected + 0.25 + 0.35, (s, expected)
    assert "thermal status 2" in s["throttle_cause"] or "clock fell" in s["throttle_cause"]
    assert s["cold_p50_us"] == 2000.0 and s["steady_p50_us"] == pytest.approx(3200.0)
    assert s["steady_over_cold"] == pytest.approx(1.6) and s["interrupted"] is False
    assert s["temp_reached_c"] > 50.0  # the host's dumpsys thermalservice polls while the app ran
    how = m.extra["sustained_method"]
    assert "the app's loop" in how and "clock offset" in how
    offset = float(how.split("clock offset (")[1].split(" s")[0])  # host minus phone: the phone is ahead
    assert offset == pytest.approx(-7.5, abs=0.2), how
    assert r["cpu_freq"] and all(row[1] == "run" for row in r["cpu_freq"])  # the host read the clocks meanwhile
    assert m.validity.no_throttling is True  # throttling is what a sustained run measures


def test_windows_without_the_offset_would_miss_the_onset():
    """The placement itself on made-up numbers: a phone 100 s ahead, the loop's origin 2 s after the job."""
    from types import SimpleNamespace

    from devices.runner_result import RunnerResult
    from devices.runtime.companion_app import AndroidApp, place_on_host
    from devices.runtimes import runtime_for

    t0 = time.monotonic() - 10.0  # the job began 10 s ago on the host
    host_origin = time.time() - 8.0  # the loop's origin, on the host's wall clock
    r = RunnerResult.from_json({
        "timed_window_unix_s": [host_origin + 100.0, host_origin + 103.0], "timed_start_s": 0.0, "duration_s": 3.0,
        "windows": [[1.0, 10], [2.0, 20], [3.0, 30]], "window_thermal_status": [0, None, 2]})
    phone = SimpleNamespace(clock_offset=lambda: -100.0, job_t0=t0)
    placed, how = AndroidApp(runtime_for("android", "app")).place(phone, r, None)  # type: ignore[arg-type]
    assert [w[0] for w in placed.windows] == pytest.approx([3.0, 4.0, 5.0], abs=0.01)
    assert placed.timed_window_unix_s == pytest.approx((host_origin, host_origin + 3.0), abs=1e-3)
    assert placed.to_json()["thermal_status"] == [[placed.windows[0][0], 0], [placed.windows[2][0], 2]]  # None: not read
    assert "window_thermal_status" not in placed.to_json() and "-100.000 s" in how
    # No offset: the loop ends when its result was first seen.
    r2 = RunnerResult.from_json({"timed_window_unix_s": [5.0, 8.0], "timed_start_s": 0.0, "duration_s": 3.0,
                                 "windows": [[3.0, 30]]})
    placed, how = place_on_host(r2, None, t0, t0 + 9.0)
    assert placed.windows[0][0] == pytest.approx(9.0, abs=0.01) and placed.timed_start_s == pytest.approx(6.0, abs=0.01)
    assert "result appeared" in how
    # The iPhone's app writes after_loop_s: its loop ended that long before the result was put together.
    placed, how = place_on_host(r2.merged({"after_loop_s": 0.5}), None, t0, t0 + 9.0, move_wall=False)
    assert placed.windows[0][0] == pytest.approx(8.5, abs=0.01) and placed.timed_window_unix_s == (5.0, 8.0)


def test_ctrl_c_stops_the_apps_loop_through_its_stop_file_and_keeps_it(android_device, adb_sim, model):
    """A 120 s loop in 30 s windows: abort() (what the orchestrator calls on Ctrl-C) pushes the stop file, the
    app ends at its next 0.1 s sampling point and writes what it measured, which benchmark() still returns."""
    from devices.android_target import AndroidTarget
    from devices.target import JobSpec
    from harness.planning.config import BenchSettings

    bench = BenchSettings(sustained_s=120.0, sustained_window_s=30.0, sample_interval_s=0.1, cooldown_s=0)
    t = AndroidTarget(android_device(runtime="app"))
    t.prepare()
    out: dict = {}
    worker = threading.Thread(target=lambda: out.update(raw=t.benchmark(JobSpec(model_path=model, bench=bench))))
    try:
        worker.start()
        deadline = time.monotonic() + 20
        while not adb_sim.app.starts and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)  # the app's loop is running (it starts app_delay_s after am start)
        t_abort = time.monotonic()
        t.abort()
        worker.join(timeout=30)
        assert not worker.is_alive() and time.monotonic() - t_abort < 5.0
    finally:
        t.close()
    r = out["raw"].runner
    assert r.get("error") is None and r["interrupted"] is True, r
    assert 0.3 < r["duration_s"] < 5.0 and len(r["windows"]) == 1  # the part of the first window that ran
    assert r["windows"][-1][1] == len(r["latencies_us"])
    result = adb_sim.app.starts[-1]["extras"]["result_path"]
    assert not adb_sim.path(result.removesuffix(".json") + ".stop").exists()  # cleaned up
    assert not adb_sim.path(result).exists()
    s = from_runner(out["raw"].result)  # the host reads the typed result
    assert s is not None and s.interrupted is True


def test_a_plain_app_job_sends_no_sustained_extras_and_abort_pushes_nothing(android_device, adb_sim, model):
    from devices.android_target import AndroidTarget
    from devices.target import JobSpec
    from harness.planning.config import BenchSettings

    t = AndroidTarget(android_device(runtime="app"))
    t.prepare()
    raw = t.benchmark(JobSpec(model_path=model, bench=BenchSettings(min_runs=5, timeout_s=30.0)))
    t.abort()  # nothing running: no stop file anywhere
    assert "windows" not in raw.runner and raw.runner.get("error") is None
    extras = adb_sim.app.starts[-1]["extras"]
    assert "sustained_s" not in extras and "window_s" not in extras
    assert not any(p.endswith(".stop") for p in adb_sim.pushes)


def test_the_contracts_sustained_extras_are_what_the_host_sends():
    """contracts/android/am_start.json's optional sustained extras (names, --ef) are the host's; JobRequestTest
    reads the same file on the JVM."""
    from devices.runtime.companion_app import sustained_extras
    from harness.planning.config import BenchSettings

    c = json.loads((REPO / "contracts/android/am_start.json").read_text())
    sent = sustained_extras(BenchSettings(sustained_s=600, sustained_window_s=30))
    pairs = {sent[i + 1]: (sent[i], float(sent[i + 2])) for i in range(0, len(sent), 3)}
    assert pairs == {k: (c["optional_extra_types"][k], c["optional_extras"][k]) for k in ("sustained_s", "window_s")}
    assert c["optional_job"]["sustained"] == {k: v for k, (_, v) in pairs.items()}
    assert sustained_extras(BenchSettings()) == []
    assert sustained_extras(BenchSettings(sustained_s=60))[-1] == "0.0"  # the app's default window rule


def test_android_app_is_offered_sustained_mode():
    from harness.planning.plan import sustained_problem

    assert sustained_problem(SimpleNamespace(kind="android", runtime="app")) is None
    assert sustained_problem(SimpleNamespace(kind="android", runtime="benchmark_model")) is None

