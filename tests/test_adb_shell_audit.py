"""Every remote command the Android target sends, run by the phone simulator's faithful sh (mksh's
rules, tests/sim_sh.py) through the real adb server: globs that quoting disabled, commands the phone
does not have, syntax the phone's sh rejects. And the rule for probes: one that fails leaves its own
columns empty with a reason, never the latency row."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from devices.adb import AdbTransport
from devices.android_target import AndroidTarget
from devices.target import JobSpec
from harness.orchestration.measure import to_measurement
from harness.planning.config import BenchSettings
from tests.adb_sim import AdbSimulator

FAST = BenchSettings(min_runs=50, min_s=1.0, warmup_runs=1, cooldown_s=0.0, sample_interval_s=0.1,
                     timeout_s=30.0)
CPUFREQ = "/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq"
WANT_FREQS = {"cpu0": 1803000, "cpu1": 1803000, "cpu2": 2348000, "cpu3": 2850000}


class _Art:
    def __init__(self, path: Path) -> None:
        self.model, self.variant, self.path = path.name, "fp32", path
        self.metrics = {"size_bytes": path.stat().st_size}


@pytest.fixture
def model(tmp_path) -> Path:
    p = tmp_path / "model.tflite"
    p.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(range(256)) * 64)
    return p


def _transport(adb_server, serial: str) -> AdbTransport:
    return AdbTransport(serial, port=adb_server.port, connect_timeout_s=5.0, link_timeout_s=2.0, link_check_s=0.5)


def test_a_quoted_glob_lists_nothing_on_the_phone(adb_server, adb_sim):
    """The command the target used to send: `ls` with its `*` quoted, as quote_argv quotes every argument."""
    t = _transport(adb_server, adb_sim.serial)
    try:
        res = t.run(["ls", CPUFREQ], timeout_s=10)
        assert res.exit_code == 1 and res.stdout == ""
        assert "cpu*" in res.stderr  # the phone's ls got the pattern itself
        res = t.run(["sh", "-c", f"ls {CPUFREQ}"], timeout_s=10)  # unquoted inside the script: expanded
        assert res.ok and len(res.stdout.split()) == 4
    finally:
        t.close()


def _audit(sim: AdbSimulator) -> list[str]:
    """What went wrong in the commands the phone ran: a shell problem or a glob that arrived literally."""
    problems = []
    for command, _code, err in sim.results:
        text = err.decode("utf-8", "replace")
        for bad in ("inaccessible or not found", "syntax error", "does not support", "bad substitution",
                    "can't create", "can't open"):
            if bad in text:
                problems.append(f"{command[:120]!r}: {text.strip()[:160]}")
        if re.search(r"/\S*[*?]", text):  # a tool named a path with a glob in it: the pattern was not expanded
            problems.append(f"{command[:120]!r}: literal glob reached a tool: {text.strip()[:160]}")
    return problems


@pytest.mark.parametrize("shell_v2", [True, False], ids=["shell_v2", "shell_v1"])
def test_every_android_command_runs_as_meant_on_the_phones_sh(adb_server, tmp_path, device_outputs,
                                                              fake_benchmark_model, model, shell_v2):
    from harness.planning.config import AndroidDevice

    sim = AdbSimulator(tmp_path / "phone", device_outputs, shell_v2=shell_v2, bench_seconds=0.3)
    try:
        base = dict(name="phone", kind="android", serial=sim.serial, adb_port=adb_server.port,
                    benchmark_model=str(fake_benchmark_model), link_timeout_s=1.5, link_check_s=0.5,
                    connect_timeout_s=5.0)
        t = AndroidTarget(AndroidDevice(**base, cpu_mask="f0", op_profiling=True))
        facts = t.facts()
        assert facts["cpu_freq_khz"] == WANT_FREQS and "probe_problems" not in facts
        t.prepare()
        raw = t.benchmark(JobSpec(model_path=model, bench=FAST))
        assert raw.runner["summary"]["count"] == 50
        assert raw.extra["cpu_freq_khz_before"] == WANT_FREQS
        t.close()
        app = AndroidTarget(AndroidDevice(**base, runtime="app"))
        app.prepare()
        assert len(app.benchmark(JobSpec(model_path=model, bench=FAST)).runner["latencies_us"]) == 50
        app.close()
        assert len(sim.results) > 20
        assert _audit(sim) == []
        # the glob travels inside a script string, unquoted there
        assert any(c.startswith("sh -c 'for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/") or
                   "for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/" in c for c, _, _ in sim.results)
    finally:
        sim.close()
        adb_server.cli("disconnect", sim.serial, timeout=10)  # as the adb_sim fixture does: no phone left behind


def test_a_failing_probe_degrades_its_own_columns_only(android_device, adb_sim, model):
    """battery, thermal, clocks and power unreadable on the phone: the latency row stays, each reason is said."""
    adb_sim.missing_services |= {"battery", "thermalservice"}
    for cpu in range(4):
        adb_sim.path(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq").unlink()
    adb_sim.path("/sys/class/power_supply/battery/current_now").unlink()
    adb_sim.write("/proc/meminfo", "garbage\n")
    t = AndroidTarget(android_device())
    facts = t.facts()
    assert facts["battery"] is None and facts["cpu_freq_khz"] == {} and facts["memory_mb"] is None
    assert "Can't find service: battery" in facts["probe_problems"]["battery"]
    assert "Can't find service: thermalservice" in facts["probe_problems"]["thermal"]
    assert "scaling_cur_freq" in facts["probe_problems"]["cpu_freq"]
    assert "MemTotal" in facts["probe_problems"]["memory"]
    t.prepare()
    raw = t.benchmark(JobSpec(model_path=model, bench=FAST))
    t.close()
    assert raw.runner["summary"]["count"] == 50 and "error" not in raw.runner
    problems = raw.extra["probe_problems"]
    assert "Can't find service: battery" in problems["battery"]
    assert "Can't find service: thermalservice" in problems["thermal"]
    assert "scaling_cur_freq" in problems["cpu_freq"]
    assert "current_now" in problems["power"] and "current_now" in raw.extra["energy_invalid"]
    m = to_measurement("run", "phone", _Art(model), FAST, raw, time.time())
    assert m.status == "ok" and m.mean_us == pytest.approx(2.95034e6) and m.p50_us == raw.runner["summary"].get("p50_us")  # only what the tool printed
    assert m.temp_max_c is None and m.energy_per_inference_mj is None and m.avg_power_mw is None
    assert m.extra["battery_before"] is None and m.extra["cpu_freq_khz_before"] == {}
