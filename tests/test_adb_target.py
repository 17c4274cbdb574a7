"""AndroidTarget on the simulated phone through the real adb server: facts, benchmark_model runs,
probes, energy validity, guards, and the companion-app path."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from devices.android_target import AndroidTarget
from devices.probes import android as ap
from devices.target import JobSpec
from harness.planning.config import BenchSettings
from errors import DeviceError
from harness.orchestration.measure import to_measurement

FAST = BenchSettings(min_runs=50, min_s=1.0, warmup_runs=1, cooldown_s=0.0, sample_interval_s=0.1,
                     timeout_s=30.0)


class _Art:
    """The part of converters.build.BuiltVariant that to_measurement reads."""

    def __init__(self, path: Path) -> None:
        self.model, self.variant, self.path = path.name, "fp32", path
        self.metrics = {"size_bytes": path.stat().st_size}


@pytest.fixture
def model(tmp_path) -> Path:
    """The simulated phone only needs the file to exist; its bytes travel over adb sync."""
    p = tmp_path / "model.tflite"
    p.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(range(256)) * 64)
    return p


def _unplugged(sim) -> None:
    sim.battery_text = sim.battery_text.replace("USB powered: true", "USB powered: false")


def test_facts(android_device):
    t = AndroidTarget(android_device())
    try:
        f = t.facts()
    finally:
        t.close()
    assert f["model"] == "Pixel 7" and f["sdk"] == 34 and f["soc"] == "GS201" and f["abi"] == "arm64-v8a"
    assert f["battery"]["level_pct"] == 100.0 and f["battery"]["usb_powered"] is True
    assert f["temperatures_c"] == {"GPU": 36.0, "CPU0": 37.0} and f["thermal_status"] == 0
    assert f["cpu_freq_khz"] == {"cpu0": 1803000, "cpu1": 1803000, "cpu2": 2348000, "cpu3": 2850000}
    assert f["cores"] == 4 and f["memory_mb"] == 7849344 // 1024 and f["board"] == "Google Pixel 7 (GS201)"


def test_benchmark_model_run_on_usb_power(android_device, adb_sim, model, fake_benchmark_model):
    t = AndroidTarget(android_device(cpu_mask="f0"))
    t.prepare()
    raw = t.benchmark(JobSpec(model_path=model, bench=FAST))
    r = raw.runner
    assert r["summary"]["count"] == 50 and r["summary"]["mean_us"] == pytest.approx(2.95034e6)
    assert r["runtime"] == "tflite-benchmark_model" and r["threads"] == 4
    assert r["peak_rss_delta_mb"] == pytest.approx(46.0859)
    cmd = next(c for c in adb_sim.commands if "benchmark_model-" in c)
    assert cmd.startswith("taskset f0 /data/local/tmp/harness/bin/benchmark_model-")
    for flag in ("--num_threads=2", "--use_xnnpack=true", "--use_gpu=false", "--num_runs=50", "--min_secs=1.0",
                 "--max_secs=150.0", "--warmup_runs=1", "--report_peak_memory_footprint=true"):
        assert flag in cmd
    # USB powers the phone: energy is not computed, the samples are kept and the reason is said.
    assert raw.power_samples == [] and "USB" in raw.extra["energy_invalid"]
    assert raw.extra["power_samples_while_powered"]
    assert raw.extra["battery_before"]["level_pct"] == 100.0 and raw.extra["thermal_status_max"] == 0
    m = to_measurement("run", "phone", _Art(model), FAST, raw, time.time())
    assert m.status == "ok" and m.energy_per_inference_mj is None and m.temp_max_c == 37.0
    # The binary and the model went over once; a second job pushes neither again.
    pushes = list(adb_sim.pushes)
    assert sum("benchmark_model-" in p for p in pushes) == 1
    t.benchmark(JobSpec(model_path=model, bench=FAST))
    assert adb_sim.pushes == pushes
    t.close()


def test_energy_per_inference_when_unplugged(android_device, adb_sim, model):
    _unplugged(adb_sim)
    t = AndroidTarget(android_device(op_profiling=True))
    t.prepare()
    raw = t.benchmark(JobSpec(model_path=model, bench=FAST))
    t.close()
    # Op profiling asks for the CSV file; this recorded binary printed no table and wrote no CSV.
    cmd = next(c for c in adb_sim.commands if "benchmark_model-" in c)
    assert "--enable_op_profiling=true --profiling_output_csv_file=/data/local/tmp/harness/profile-" in cmd
    assert raw.runner["summary"]["count"] == 50 and "op_profile" not in raw.extra
    assert "energy_invalid" not in raw.extra and len(raw.power_samples) >= 2
    sysfs_mw = ap.power_mw(adb_sim.path("/sys/class/power_supply/battery/current_now").read_text(),
                           adb_sim.path("/sys/class/power_supply/battery/voltage_now").read_text())
    assert all(p[1] == pytest.approx(sysfs_mw) and p[2] == "battery" for p in raw.power_samples)
    m = to_measurement("run", "phone", _Art(model), FAST, raw, time.time())
    assert m.energy_per_inference_mj == pytest.approx(sysfs_mw * m.mean_us / 1e6)


def test_gpu_delegate_applied_and_silent_fallback_flagged(android_device, adb_sim, model):
    gpu = FAST.model_copy(update={"delegate": "gpu"})
    t = AndroidTarget(android_device())
    t.prepare()
    raw = t.benchmark(JobSpec(model_path=model, bench=gpu))
    assert raw.runner["delegate"] == "gpu" and raw.extra["delegate_outcome"]["applied"] == "completely"
    assert any("--use_gpu=true --use_nnapi=false --use_xnnpack=false" in c for c in adb_sim.commands)
    assert "delegate_fallback" not in raw.extra
    adb_sim.bench_output = "benchmark_model.cpu_profiling.txt"  # a phone whose GPU delegate says nothing
    raw = t.benchmark(JobSpec(model_path=model, bench=gpu))
    t.close()
    assert "ran on the CPU" in raw.extra["delegate_fallback"]
    m = to_measurement("run", "phone", _Art(model), gpu, raw, time.time())
    assert m.validity.delegate_full is False and not m.validity.valid


def test_phone_lost_after_the_run_keeps_the_measurement(android_device, adb_sim, model):
    t = AndroidTarget(android_device())
    t.prepare()
    adb_sim.vanish_on("dumpsys battery", after_s=0, mode="close", nth=2)  # the after-run reading
    raw = t.benchmark(JobSpec(model_path=model, bench=FAST))
    t.close()
    assert raw.runner["summary"]["count"] == 50 and "probe_after_failed" in raw.extra
    m = to_measurement("run", "phone", _Art(model), FAST, raw, time.time())
    assert m.status == "ok" and m.mean_us == pytest.approx(2.95034e6)


def test_battery_guard_refuses_a_low_unplugged_phone(android_device, adb_sim, model):
    _unplugged(adb_sim)
    adb_sim.battery_text = adb_sim.battery_text.replace("level: 100", "level: 12")
    t = AndroidTarget(android_device(min_battery_pct=20))
    t.prepare()
    with pytest.raises(DeviceError, match="battery at 12% is below min_battery_pct 20%"):
        t.benchmark(JobSpec(model_path=model, bench=FAST))
    assert not any("benchmark_model-" in c for c in adb_sim.commands)
    t.close()


def test_cool_down_waits_for_the_temperature_bounded(android_device, adb_sim):
    t = AndroidTarget(android_device(max_start_temp_c=36.5))
    bench = FAST.model_copy(update={"cooldown_max_s": 0.6})
    t0 = time.monotonic()
    t.cool_down(bench)  # the recorded phone reads 37 C and never cools: bounded wait
    assert 0.5 <= time.monotonic() - t0 < 4
    assert t.last_cooldown["still_hot"] is True and t.last_cooldown["hottest_c"] == 37.0
    adb_sim.thermal_text = adb_sim.thermal_text.replace("mValue=37.0", "mValue=33.0")
    adb_sim.battery_text = adb_sim.battery_text.replace("temperature: 309", "temperature: 301")
    t.cool_down(bench)
    assert t.last_cooldown["still_hot"] is False
    t.close()


def test_missing_binary_is_a_clear_error(android_device, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    t = AndroidTarget(android_device(benchmark_model=None))
    with pytest.raises(DeviceError, match="no benchmark_model binary: set `benchmark_model:`"):
        t.prepare()
    t.close()
    cached = tmp_path / "empty-cache" / "harness" / "android" / "benchmark_model-arm64-v8a"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"#!sim-benchmark_model\n")
    t = AndroidTarget(android_device(benchmark_model=None))
    assert t.local_binary() == cached  # the per-ABI build in the cache directory
    t.close()


def test_companion_app_round_trip(android_device, adb_sim, model):
    t = AndroidTarget(android_device(runtime="app"))
    t.prepare()
    raw = t.benchmark(JobSpec(model_path=model, bench=FAST))
    start = next(c for c in adb_sim.commands if c.startswith("am start"))
    assert "-n dev.harness.companion/.BenchmarkActivity" in start and "--es result_path" in start
    assert len(raw.runner["latencies_us"]) == 50 and raw.runner["runtime"] == "litert-android"
    m = to_measurement("run", "phone", _Art(model), FAST, raw, time.time())
    assert m.status == "ok" and m.p50_us > 0
    # The result file was pulled back and removed from the phone.
    assert not list(adb_sim.path("/sdcard/Android/data/dev.harness.companion/files/harness").glob("result-*"))
    t.close()


def test_companion_app_missing_or_silent(android_device, adb_sim, model):
    adb_sim.installed.clear()
    t = AndroidTarget(android_device(runtime="app"))
    with pytest.raises(DeviceError, match="not installed"):
        t.prepare()
    adb_sim.installed.add("dev.harness.companion")
    adb_sim.app_delay_s = 30
    t.prepare()
    raw = t.benchmark(JobSpec(model_path=model, bench=FAST.model_copy(update={"timeout_s": 1.0})))
    assert "wrote no result within 1 s" in raw.runner["error"]
    t.close()


def test_android_config_errors_are_one_line():
    from harness.planning.config import parse_devices
    from errors import UserError

    with pytest.raises(UserError, match=r"devices\[0\] \(phone\)\.cpu_mask: .*'zz'"):
        parse_devices({"devices": [{"name": "phone", "kind": "android", "serial": "x", "cpu_mask": "zz"}]})
    with pytest.raises(UserError, match=r"devices\[0\] \(phone\)\.runtime"):
        parse_devices({"devices": [{"name": "phone", "kind": "android", "serial": "x", "runtime": "tflite"}]})


def test_memory_figures_keep_their_own_names(android_device, adb_sim, model, tmp_path):
    """benchmark_model printed no peak footprint, only the end-of-run VmRSS: that is an end RSS, never a peak.
    (The recorded CPU output plus a VmRSS line in the wording the parser reads.)"""
    import shutil

    outputs = tmp_path / "outputs"
    shutil.copytree(adb_sim.outputs, outputs)
    text = (outputs / "benchmark_model.cpu_profiling.txt").read_text()
    (outputs / "benchmark_model.cpu_profiling.txt").write_text(text + "- VmRSS              : 61.25 MB\n")
    adb_sim.outputs = outputs
    t = AndroidTarget(android_device())
    t.prepare()
    raw = t.benchmark(JobSpec(model_path=model, bench=FAST))
    t.close()
    m = to_measurement("run", "phone", _Art(model), FAST, raw, time.time())
    assert m.status == "ok", m.error
    assert m.end_rss_mb == 61.25 and m.peak_rss_mb is None and m.peak_footprint_mb is None
    assert m.peak_rss_delta_mb == pytest.approx(46.0859)
    # The timed window is count x mean ending when the tool returned: not the push, not the model load.
    assert raw.window_unix_s and raw.window_unix_s[1] - raw.window_unix_s[0] == pytest.approx(50 * 2.95034, rel=1e-3)
