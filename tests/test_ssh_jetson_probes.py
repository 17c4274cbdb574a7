"""Probes on ssh boards that fail without costing a measurement, on a real sshd with stand-in tools.

The Jetson here replays the recorded Jetson Nano tegrastats line (rails POM_5V_IN, POM_5V_GPU,
POM_5V_CPU); a devices file written for another Jetson names VDD_IN, which this board lacks.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from devices.jetson_target import JetsonTarget
from devices.probes.jetson_board import parse_l4t_release
from devices.rpi_target import RaspberryPiTarget
from devices.target import JobSpec
from harness.orchestration.measure import to_measurement
from harness.planning.config import BenchSettings
from harness.store.db import ResultsDB
from tests.fixtures_ssh import SshServer, cleanup_board_processes, install_fake_tools

FAST = BenchSettings(warmup_s=0.0, warmup_runs=1, min_runs=20, min_s=1.0, cooldown_s=0.0, sample_interval_s=0.5)
# The first line of /etc/nv_tegra_release on L4T 32.7.1 (JetPack 4.6.1), as NVIDIA's release ships it.
NV_TEGRA_RELEASE = "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022\n"


class _Art:
    def __init__(self, path: Path) -> None:
        self.model, self.variant, self.path = str(path), "fp32", path
        self.metrics = {"size_bytes": path.stat().st_size}


def _harness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.fixture
def sudo_board(tmp_path):
    """A board whose `sudo` has no NOPASSWD rule: a stand-in sudo first on sshd's PATH that answers
    `sudo -n` the way sudo 1.9 does (message on stderr, exit 1). The test user here is root, for whom
    the real sudo never asks."""
    server = SshServer(tmp_path / "sshd-sudo")
    install_fake_tools(server.bin)
    (server.bin / "sudo").write_text("#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n")
    (server.bin / "sudo").chmod(0o755)
    # one SetEnv line: sshd keeps the first value of a keyword
    server.config.write_text(server.config.read_text().replace("SetEnv SHLVL=1", f"SetEnv SHLVL=1 PATH={server.bin}:/usr/bin:/bin"))
    server.start()
    yield server
    server.stop()
    cleanup_board_processes(server.root)


def test_wrong_power_rail_keeps_the_row_and_says_which_rail(sshd_board, tiny_tflite):
    target = JetsonTarget(sshd_board.config_for("nano-rail", "jetson", power_rail="VDD_IN"))
    try:
        facts = target.facts()
        raw = target.benchmark(JobSpec(model_path=tiny_tflite, bench=FAST))
    finally:
        target.close()
    teg = facts["tegrastats"]
    assert teg["rails"] == ["POM_5V_CPU", "POM_5V_GPU", "POM_5V_IN"] and teg["suggested_input_rail"] == "POM_5V_IN"
    assert "'VDD_IN'" in teg["power_invalid"] and "set power_rail: POM_5V_IN" in teg["power_invalid"]
    assert any("input rail: POM_5V_IN" in n for n in facts["notes"])
    assert len(raw.runner["latencies_us"]) >= 20 and not raw.runner.get("error")
    assert raw.power_samples == [] and "set power_rail: POM_5V_IN" in raw.extra["energy_invalid"]
    assert raw.extra["tegrastats"]["samples"] >= 1 and raw.extra["tegrastats"]["cpu_temp_c_max"] == 36.5
    m = to_measurement("run", "nano", _Art(tiny_tflite), FAST, raw, time.time())
    assert m.status == "ok" and m.p50_us > 0 and m.avg_power_mw is None and m.energy_per_inference_mj is None
    assert "POM_5V_IN" in m.extra["energy_invalid"]


def test_harness_run_and_devices_with_the_wrong_rail(sshd_board, tiny_tflite, tmp_path):
    """End to end: every job stays a measurement, the device stays online, `harness devices` suggests the rail;
    and each row names the model as the user did, the path kept in extra."""
    devices = tmp_path / "devices.yaml"
    devices.write_text(yaml.safe_dump({"defaults": {"warmup_s": 0.0, "warmup_runs": 1, "min_runs": 20,
                                                    "min_s": 1.0, "cooldown_s": 0.0},
                                       "devices": [sshd_board.device("xavier", "jetson", power_rail="VDD_IN"),
                                                   sshd_board.device("pi-name", "raspberry_pi")]}))
    db = tmp_path / "results.db"
    res = _harness("run", "--devices", str(devices), "--models", str(tiny_tflite), "--variants", "fp32",
                   "--db", str(db), "--cache-dir", str(tmp_path / "cache"), "--no-progress", "--no-peak-probe",
                   cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    rows = ResultsDB(db).measurements()
    assert len(rows) == 2
    for m in rows:
        assert m.status == "ok", m.error
        assert m.model == "tiny.tflite" and m.extra["model_path"] == str(tiny_tflite)
    for m in (r for r in rows if r.device == "xavier"):
        assert m.p50_us > 0 and m.energy_per_inference_mj is None and "POM_5V_IN" in m.extra["energy_invalid"]
    res = _harness("devices", "--devices", str(devices), cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "unreachable" not in res.stdout
    assert "xavier: tegrastats rails: POM_5V_CPU, POM_5V_GPU, POM_5V_IN; input rail: POM_5V_IN" in res.stdout
    assert "set power_rail: POM_5V_IN" in res.stdout
    # this host is no Jetson: no L4T release, no device-tree model, and `harness devices` says so
    assert "xavier: warning: kind: jetson, but this board is not a Jetson" in res.stdout


def test_probe_stderr_is_kept_and_shown(sudo_board, tiny_tflite):
    target = JetsonTarget(sudo_board.config_for("nano-sudo", "jetson", use_sudo=True))
    try:
        facts = target.facts()
        raw = target.benchmark(JobSpec(model_path=tiny_tflite, bench=FAST))
    finally:
        target.close()
    assert facts["tegrastats"]["unavailable"] == "sudo: a password is required"
    assert "tegrastats unavailable: sudo: a password is required" in facts["notes"]
    assert raw.extra["tegrastats"]["unavailable"] == "sudo: a password is required"
    assert "sudo: a password is required" in raw.extra["energy_invalid"]
    assert len(raw.runner["latencies_us"]) >= 20 and not raw.runner.get("error")


def test_tegrastats_temperatures_join_the_row(sshd_board, tiny_tflite):
    target = JetsonTarget(sshd_board.config_for("nano-temps", "jetson"))
    try:
        target.prepare()
        # 2 s timed: the fake tegrastats (a Python started over ssh, printing every 100 ms) has lines to give even
        # when a loaded host starts it late (CI at load ~10 once saw none within FAST's 1 s)
        raw = target.benchmark(JobSpec(model_path=tiny_tflite, bench=FAST.model_copy(update={"min_s": 2.0})))
    finally:
        target.close()
    assert not raw.result.error, raw.result.error
    assert "unavailable" not in (raw.extra.get("tegrastats") or {}), raw.extra.get("tegrastats")
    names = {k for row in raw.runner["temperatures"] for k in row[2]}
    # the recorded line: PLL@34C CPU@36.5C PMIC@100C GPU@36C AO@39.5C thermal@36.25C
    assert {"tegrastats:CPU", "tegrastats:GPU", "tegrastats:AO", "tegrastats:PLL"} <= names
    assert not any("PMIC" in n for n in names)
    hot = FAST.model_copy(update={"throttle_temp_c": 39.0})
    m = to_measurement("run", "nano", _Art(tiny_tflite), hot, raw, time.time())
    assert m.temp_max_c is not None and m.temp_max_c >= 39.5  # AO@39.5C counts
    assert m.validity.no_throttling is False  # and the throttling check sees it


def test_devices_samples_at_least_two_intervals(sshd_board):
    target = JetsonTarget(sshd_board.config_for("nano-slow", "jetson", tegrastats_interval_ms=1500))
    try:
        facts = target.facts()
    finally:
        target.close()
    teg = facts["tegrastats"]
    assert "unavailable" not in teg and teg["samples"] >= 2 and teg["sampled_s"] >= 3.0


def test_board_identity_and_a_board_that_is_not_a_jetson(sshd_board, tmp_path):
    (tmp_path / "model").write_bytes(b"NVIDIA Jetson Nano Developer Kit\x00")
    (tmp_path / "nv_tegra_release").write_text(NV_TEGRA_RELEASE)
    (tmp_path / "pi-model").write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\x00")
    assert parse_l4t_release(NV_TEGRA_RELEASE) == "32.7.1"
    target = JetsonTarget(sshd_board.config_for("nano-id", "jetson"))
    try:
        target.model_path, target.release_path = str(tmp_path / "model"), str(tmp_path / "nv_tegra_release")
        ident = target.board_identity()
        assert ident == {"board_model": "NVIDIA Jetson Nano Developer Kit", "l4t": "32.7.1"}
        target.model_path, target.release_path = str(tmp_path / "pi-model"), str(tmp_path / "missing")
        ident = target.board_identity()
        assert ident["board_model"] == "Raspberry Pi 4 Model B Rev 1.4" and ident["l4t"] is None
        assert "not a Jetson" in ident["warning"] and "Raspberry Pi 4" in ident["warning"]
        assert "No such file" in ident["warning"]
        facts = target.facts()
        assert facts["board_model"] == "Raspberry Pi 4 Model B Rev 1.4" and facts["warnings"]
    finally:
        target.close()


def test_failing_board_probes_leave_the_latency_row(sshd_board, tiny_tflite, tmp_path):
    """Jetson: tegrastats missing, jetson_clocks failing; Pi: vcgencmd missing. Each row keeps its latencies."""
    jetson = JetsonTarget(sshd_board.config_for("nano-noprobe", "jetson", tegrastats=str(tmp_path / "no-tegrastats")))
    pi = RaspberryPiTarget(sshd_board.config_for("pi-noprobe", "raspberry_pi", vcgencmd=str(tmp_path / "no-vcgencmd")))
    try:
        jetson.prepare()
        pi.prepare()
        jraw = jetson.benchmark(JobSpec(model_path=tiny_tflite, bench=FAST))
        praw = pi.benchmark(JobSpec(model_path=tiny_tflite, bench=FAST))
        pfacts = pi.facts()
    finally:
        jetson.close()
        pi.close()
    assert "no-tegrastats" in jraw.extra["tegrastats"]["unavailable"]  # the shell's "not found" line
    assert jraw.power_samples == [] and jraw.extra["energy_invalid"].startswith("tegrastats: ")
    assert jraw.extra["jetson_clocks"]["source"] == "sysfs"  # jetson_clocks --show needs root: the sysfs fallback
    assert "vcgencmd_unavailable" in praw.extra["raspberry_pi"]
    assert "unavailable" in pfacts["vcgencmd"]
    for raw, name in ((jraw, "nano"), (praw, "pi")):
        m = to_measurement("run", name, _Art(tiny_tflite), FAST, raw, time.time())
        assert m.status == "ok" and len(m.latencies_us) >= 20 and m.p50_us > 0
        assert m.energy_per_inference_mj is None
    json.dumps(jraw.extra, default=str)  # the reasons are plain data for the row
