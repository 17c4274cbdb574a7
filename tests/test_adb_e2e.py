"""`harness run` with this host and a phone (the simulator behind the real adb server) side by side,
and the same run with the phone vanishing mid-job: the local device still finishes."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness.orchestration import orchestrate
from harness.planning.config import load_devices
from harness.store.db import ResultsDB
from harness.planning.plan import make_plan

FAST = {"min_runs": 5, "min_s": 0.05, "warmup_s": 0.0, "cooldown_s": 0.0, "sample_interval_s": 0.1,
        "timeout_s": 60.0}


def _devices_yaml(tmp_path: Path, sim, server, binary: Path) -> Path:
    p = tmp_path / "devices.yaml"
    p.write_text(
        "devices:\n"
        "  - {name: local, kind: local}\n"
        f"  - name: phone\n    kind: android\n    serial: '{sim.serial}'\n    adb_port: {server.port}\n"
        f"    benchmark_model: '{binary}'\n    link_timeout_s: 1.5\n    link_check_s: 0.5\n"
        "    connect_timeout_s: 3\n    bench: {threads: 4}\n")
    return p


def _models(tmp_path: Path, tiny: Path, n: int) -> list[str]:
    out = []
    for i in range(n):
        p = tmp_path / f"m{i}.tflite"
        shutil.copy(tiny, p)
        out.append(str(p))
    return out


def test_local_and_phone_both_produce_rows(tmp_path, adb_server, adb_sim, fake_benchmark_model, tiny_tflite,
                                           isolated_cache):
    devices = load_devices(_devices_yaml(tmp_path, adb_sim, adb_server, fake_benchmark_model))
    plan = make_plan(devices, models=_models(tmp_path, tiny_tflite, 1), variants=["fp32"], overrides=FAST)
    summary = orchestrate.run(plan, tmp_path / "r.db")
    rows = {m.device: m for m in ResultsDB(tmp_path / "r.db").measurements(summary.run_id)}
    assert set(rows) == {"local", "phone"} and summary.errors == 0, [m.error for m in rows.values()]
    phone = rows["phone"]
    assert phone.status == "ok" and phone.runtime == "tflite-benchmark_model"
    assert phone.mean_us > 0 and phone.threads == 4 and phone.extra["battery_before"]["usb_powered"] is True
    assert phone.energy_per_inference_mj is None and "energy_invalid" in phone.extra
    assert rows["local"].status == "ok" and len(rows["local"].latencies_us) >= 5
    # every target names the model as the user did; the path it was given with stays in extra
    for m in rows.values():
        assert m.model == "m0.tflite" and m.extra["model_path"] == str(tmp_path / "m0.tflite")
    assert phone.extra["cpu_freq_khz_before"] == {"cpu0": 1803000, "cpu1": 1803000, "cpu2": 2348000, "cpu3": 2850000}


def test_phone_vanishing_mid_run_leaves_error_rows_and_local_finishes(tmp_path, adb_server, adb_sim,
                                                                     fake_benchmark_model, tiny_tflite,
                                                                     isolated_cache):
    devices = load_devices(_devices_yaml(tmp_path, adb_sim, adb_server, fake_benchmark_model))
    # No peak probe: the phone must vanish during a measured job, not during the probe before it.
    plan = make_plan(devices, models=_models(tmp_path, tiny_tflite, 3), variants=["fp32"], overrides=FAST,
                     peak_probe=False)
    adb_sim.vanish_on("benchmark_model-", after_s=0.2, mode="close")
    summary = orchestrate.run(plan, tmp_path / "r.db")
    rows = ResultsDB(tmp_path / "r.db").measurements(summary.run_id)
    local = [m for m in rows if m.device == "local"]
    phone = [m for m in rows if m.device == "phone"]
    assert len(local) == 3 and all(m.status == "ok" for m in local)
    assert len(phone) == 3 and all(m.status == "error" for m in phone)
    assert "went away" in phone[0].error or "stopped answering" in phone[0].error
    assert any("offline" in m.error for m in phone[1:])


def test_cli_run_with_a_silent_phone(tmp_path, adb_server, adb_sim, fake_benchmark_model, tiny_tflite,
                                     isolated_cache):
    """The CLI path; the phone goes silent (not unplugged) during its first job."""
    devices = _devices_yaml(tmp_path, adb_sim, adb_server, fake_benchmark_model)
    adb_sim.vanish_on("benchmark_model-", after_s=0.2, mode="hang")
    db = tmp_path / "r.db"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--devices", str(devices), "--db", str(db),
         "--models", ",".join(_models(tmp_path, tiny_tflite, 2)), "--variants", "fp32", "--runs", "5",
         "--min-seconds", "0.05", "--warmup-seconds", "0", "--cooldown", "0", "--no-progress", "--no-peak-probe"],
        capture_output=True, text=True, timeout=240, env={**os.environ, "XDG_CACHE_HOME": str(isolated_cache)})
    assert proc.returncode == 1, proc.stderr[-2000:]  # README: 1 when some rows failed (the silent phone's)
    assert "2 measured, 2 errors" in proc.stdout, proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr


def test_harness_run_sustained_on_the_app_and_ctrl_c_keeps_the_row(adb_server, adb_sim, tmp_path, tiny_tflite,
                                                                    isolated_cache):
    """`harness run --sustained` with `runtime: app` (refused at the flag before), end to end: Ctrl-C while the
    app loops reaches it as the stop file through the orchestrator's abort, and the minutes measured are stored
    as an interrupted sustained row, with the heating phone's throttle onset in it (the target's own tests:
    tests/test_android_app_sustained.py)."""
    import signal
    import time

    import pytest

    from tests.heating_board import HeatingPhone

    HeatingPhone(adb_sim, start_c=38.0, rise_c_per_s=6.0, throttle_at_c=44.0, latency_us=2000.0)  # ~1 s in
    devices = tmp_path / "devices.yaml"
    devices.write_text(f"devices:\n  - name: phone\n    kind: android\n    serial: '{adb_sim.serial}'\n"
                       f"    adb_port: {adb_server.port}\n    runtime: app\n    link_timeout_s: 2\n"
                       "    link_check_s: 0.5\n    connect_timeout_s: 5\n")
    db = tmp_path / "r.db"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--devices", str(devices), "--db", str(db),
                             "--models", str(tiny_tflite), "--variants", "fp32", "--sustained", "120s", "--window",
                             "0.5s", "--cooldown", "0", "--no-progress", "--no-peak-probe"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "XDG_CACHE_HOME": str(isolated_cache)})
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None and not any(
                (s["component"] or "").endswith(".BenchmarkActivity") for s in adb_sim.app.starts):
            time.sleep(0.1)
        time.sleep(4.0)  # seconds of the app's loop: it throttles about 1 s in
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    start = next(s for s in adb_sim.app.starts if (s["component"] or "").endswith(".BenchmarkActivity"))
    assert start["extras"]["sustained_s"] == 120.0 and start["extras"]["window_s"] == 0.5
    rows = ResultsDB(db).measurements()
    assert len(rows) == 1, err[-2000:]
    m = rows[0]
    s = m.extra["sustained"]
    assert m.status == "ok" and s["interrupted"] is True, (m.error, err[-2000:])
    assert 2.0 < s["duration_s"] < 60.0 and len(s["windows"]) >= 4
    assert s["first_throttle_s"] is not None and s["steady_over_cold"] == pytest.approx(1.6, rel=0.02)
    assert not any(p.name.endswith(".stop") for p in adb_sim.path(
        "/sdcard/Android/data/dev.harness.companion/files/harness").iterdir())
