"""Raspberry Pi and Jetson targets on a real sshd: `harness run`, facts, setup, tegrastats, trtexec.

The board is this host behind OpenSSH; its runner is the project's Python (it has LiteRT).
vcgencmd, tegrastats and trtexec are stand-ins in the board's bin/ that print real recorded
outputs (see tests/fixtures_ssh.py): the tools themselves exist only on the boards.
"""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from converters.exports import ExportError, onnx_for
from devices.jetson_target import JetsonTarget
from devices.rpi_target import RaspberryPiTarget
from devices.setup import PROBE_SCRIPT, SetupError, setup_target
from devices.ssh import SshTransport
from devices.target import JobSpec
from harness.planning.config import BenchSettings
from harness.store.db import ResultsDB
from harness.orchestration.measure import to_measurement

FAST = {"warmup_s": 0.0, "warmup_runs": 1, "min_runs": 20, "min_s": 1.0, "cooldown_s": 0.0}


def _harness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_harness_run_on_a_pi_and_a_jetson_in_parallel(sshd_board, tiny_tflite, tmp_path):
    devices = tmp_path / "devices.yaml"
    # Timed windows of 4 s, so the overlap below holds even when one board's connection and probes start
    # a few seconds after the other's on a loaded host (at 1 s it failed 2 of 6 times under load).
    devices.write_text(yaml.safe_dump({"defaults": {**FAST, "min_s": 4.0}, "devices": [
        sshd_board.device("pi", "raspberry_pi", board_model="Raspberry Pi 4 Model B Rev 1.4 (test)"),
        sshd_board.device("nano", "jetson"),
    ]}))
    db = tmp_path / "results.db"
    res = _harness("run", "--devices", str(devices), "--models", str(tiny_tflite), "--variants", "fp32",
                   "--db", str(db), "--cache-dir", str(tmp_path / "cache"), "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    rows = {m.device: m for m in ResultsDB(db).measurements()}
    assert set(rows) == {"pi", "nano"}
    pi, nano = rows["pi"], rows["nano"]
    for m in (pi, nano):
        assert m.status == "ok", m.error
        assert m.runtime == "ai-edge-litert" and len(m.latencies_us) >= 20 and m.p50_us > 0
        # What else used the board's CPUs during its timed window, read by the runner from the board's own
        # /proc/stat (issue 22): stored with every board row, not only with the local host's.
        assert m.host_others_cpu_pct is not None and 0.0 <= m.host_others_cpu_pct <= 100.0
        assert m.host_run_queue is not None and m.host_run_queue >= 1
        assert m.validity.host_quiet is (m.host_others_cpu_pct <= 25.0 and (m.host_steal_pct or 0.0) <= 10.0)
    # The two boards ran at the same time, one job each.
    assert pi.started_at < nano.finished_at and nano.started_at < pi.finished_at
    # Pi: the recorded get_throttled=0x50005 (under-voltage and throttled now) marks the run throttled.
    report = pi.extra["raspberry_pi"]
    assert report["throttled_after"]["now"] == ["under_voltage", "throttled"]
    assert report["throttled_during_run"] == ["throttled", "under_voltage"]
    assert report["soc_temp_c_max"] == 39.2 and report["samples"] >= 1
    # Every sampler reading is kept with the row, not only the peak (issue 25).
    pi_series = report["series"]
    assert len(pi_series["t_s"]) == report["samples"] and set(pi_series["temps_c"]["soc (vcgencmd)"]) == {39.2}
    assert all(flags == ["under_voltage", "throttled"] for flags in pi_series["throttled_now"])
    nano_series = nano.extra["tegrastats"]["series"]
    assert set(nano_series["rails_mw"]["POM_5V_IN"]) == {1022.0} and len(nano_series["t_s"]) >= len(nano.power_samples)
    assert "PMIC" not in nano_series["temps_c"] and nano.extra["tegrastats"]["ignored_sensors"][0]["sensor"] == "PMIC"
    assert pi.validity.no_throttling is False and not pi.validity.valid
    # Jetson: power from the recorded Nano line's input rail, energy per inference from it.
    assert nano.power_samples and {p.power_mw for p in nano.power_samples} == {1022.0}
    assert {p.source for p in nano.power_samples} == {"tegrastats:POM_5V_IN"}
    assert nano.avg_power_mw == 1022.0 and nano.energy_source == "tegrastats:POM_5V_IN"
    # Energy over the runner's timed window (moved onto the host's clock), shared by the inferences in it.
    lo, hi = nano.extra["power_window"]["timed_loop_s"]
    assert hi - lo == pytest.approx(nano.duration_s, abs=0.01)
    assert nano.energy_per_inference_mj == pytest.approx(1022.0 * (hi - lo) / len(nano.latencies_us), rel=1e-3)
    assert nano.power_samples_in_window == nano.extra["power_window"]["samples_timed_loop"] >= 1
    # Board RAM from tegrastats under its own name; tegrastats' clocks held steady through the window.
    assert nano.board_ram_used_peak_mb == 534.0 and nano.extra["tegrastats"]["ram_total_mb"] == 3964
    assert nano.cpu_clock_fell is False and nano.delegate == "xnnpack" and nano.delegate_requested == "xnnpack"
    teg = nano.extra["tegrastats"]
    assert teg["input_rail"] == "POM_5V_IN" and teg["gpu_temp_c_max"] == 36.0 and teg["cpu_temp_c_max"] == 36.5
    assert teg["gpu_freq_mhz_mean"] == 76.0 and teg["samples"] >= 3
    assert nano.extra["jetson_clocks"]["source"] == "sysfs"
    assert all("PMIC" not in name for t in nano.temperatures for name in t.zones_c)


def test_pi_facts_and_devices_setup_cli(sshd_board, tmp_path):
    devices = tmp_path / "devices.yaml"
    devices.write_text(yaml.safe_dump({"devices": [sshd_board.device("pi-setup", "raspberry_pi",
                                                                     board_model="Raspberry Pi 5 (override)")]}))
    res = _harness("devices", "setup", "--devices", str(devices), "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    row = json.loads(res.stdout)[0]
    assert row["status"] == "ok" and row["board"] == "Raspberry Pi 5 (override)"
    assert row["vcgencmd"]["throttled"]["raw"] == "0x50005" and row["vcgencmd"]["soc_temp_c"] == 39.2
    assert row["vcgencmd"]["arm_freq_mhz"] == 1400.0
    assert row["runtime"] == "ai-edge-litert" and row["cores"] >= 1
    assert any("already importable" in s for s in row["setup"])
    assert Path(row["workdir"], "runner.py").read_text() == (Path(__file__).parent.parent / "rpi" / "runner.py").read_text()


def test_setup_makes_a_venv_and_says_what_to_install_offline(sshd_board, tmp_path):
    """A fresh venv lacks numpy/LiteRT; with only an empty wheels/ folder pip cannot get them."""
    base = Path(sys.base_prefix) / "bin" / "python3"
    cfg = sshd_board.config_for("pi-offline", "raspberry_pi", python=str(base), venv=True)
    Path(cfg.workdir, "wheels").mkdir(parents=True)
    target = RaspberryPiTarget(cfg)
    try:
        with pytest.raises(SetupError) as err:
            setup_target(target)
    finally:
        target.close()
    msg = str(err.value)
    assert re.match(r"pi-offline: pip on the board could not install (numpy, )?ai-edge-litert \(.*Could not find", msg)
    assert "pip download --only-binary=:all: --platform manylinux_2_27_" in msg and "--platform manylinux2014_" in msg
    assert f"{cfg.workdir}/wheels" in msg and "harness devices setup" in msg
    venv = Path(cfg.workdir, "venv")
    assert (venv / "bin" / "python").exists()
    # This Python bundles pip as a wheel (ensurepip's): the venv was made without pip, pip ran from the wheel
    assert not list(venv.glob("lib/python3*/site-packages/pip")), "pip was installed into the venv"


class NoPipWheelSsh(SshTransport):
    """The real ssh transport to a board whose Python ships no pip wheel (a distribution that split ensurepip's
    wheels off): the setup probe's third field says none was found; every other command runs as sent."""

    def _exec(self, argv, timeout_s, stdin=None, *rest, **kw):  # type: ignore[override]
        code, out, err = super()._exec(argv, timeout_s, stdin, *rest, **kw)
        if len(argv) == 3 and argv[2] == PROBE_SCRIPT and code == 0:
            out = b" ".join(out.split()[:2]) + b" -\n"
        return code, out, err


def test_setup_without_a_pip_wheel_makes_the_venv_with_its_own_pip(sshd_board, tmp_path):
    base = Path(sys.base_prefix) / "bin" / "python3"
    cfg = sshd_board.config_for("pi-ensurepip", "raspberry_pi", python=str(base), venv=True)
    Path(cfg.workdir, "wheels").mkdir(parents=True)
    target = RaspberryPiTarget(cfg, NoPipWheelSsh.from_config(cfg))
    try:
        with pytest.raises(SetupError, match="could not install (numpy, )?ai-edge-litert .*Could not find"):
            setup_target(target)
    finally:
        target.close()
    assert list(Path(cfg.workdir, "venv").glob("lib/python3*/site-packages/pip")), "the venv has no pip of its own"


def test_setup_reports_a_missing_python(sshd_board):
    target = RaspberryPiTarget(sshd_board.config_for("pi-nopy", "raspberry_pi", python="/nonexistent/python3"))
    try:
        with pytest.raises(SetupError, match="does not run on the board .*sudo apt install python3"):
            setup_target(target)
    finally:
        target.close()


def _onnx(tmp_path: Path) -> Path:
    # trtexec on the stand-in board does not read the model; it only has to arrive there intact.
    p = tmp_path / "model.onnx"
    p.write_bytes(b"\x08\x07" + bytes(range(256)) * 40)
    return p


def test_jetson_tensorrt_builds_once_and_times_every_inference(sshd_board, tmp_path):
    cfg = sshd_board.config_for("orin-trt", "jetson", runtime="tensorrt", tensorrt_precisions=["fp16", "int8"])
    calls = sshd_board.bin / "trtexec.calls"
    calls.unlink(missing_ok=True)
    bench = BenchSettings(**FAST)
    target = JetsonTarget(cfg)
    try:
        target.prepare()
        job = JobSpec(model_path=_onnx(tmp_path), bench=bench)
        raw = target.benchmark(job)
        again = target.benchmark(job)
    finally:
        target.close()
    argvs = [json.loads(line) for line in calls.read_text().splitlines()]
    builds = [a for a in argvs if any(x.startswith("--onnx=") for x in a)]
    assert [b[-1] for b in builds] == ["--fp16", "--int8"], "one build per precision, cached afterwards"
    assert len(argvs) == 2 + 4
    r = raw.runner
    assert r["runtime"] == "tensorrt" and r["runtime_version"] == "8.4.0" and r["delegate"] == "tensorrt-fp16"
    assert len(r["latencies_us"]) == bench.min_runs and 400 <= min(r["latencies_us"]) <= 410
    assert r["summary"]["mean_us"] == 402.238
    assert raw.extra["engine"]["built_now"] is True and again.extra["engine"]["built_now"] is False
    assert raw.extra["trtexec"]["gpu_compute"]["mean_us"] == 388.221
    assert raw.extra["tensorrt_other_precisions"]["int8"]["mean_us"] == 402.238
    assert raw.power_samples and raw.power_samples[0][1] == 1022.0
    art = SimpleNamespace(model="m", variant="onnx", metrics={})
    m = to_measurement("run", "orin-trt", art, bench, raw, 0.0)
    assert m.status == "ok" and m.runtime == "tensorrt" and m.avg_power_mw == 1022.0
    assert m.p50_us == pytest.approx(sorted(r["latencies_us"])[len(r["latencies_us"]) // 2], rel=0.02)


def test_jetson_tensorrt_build_failure_and_onnx_export(sshd_board, tmp_path, tiny_tflite):
    cfg = sshd_board.config_for("orin-fail", "jetson", runtime="tensorrt", workdir=str(tmp_path / "w"))
    bench = BenchSettings(**FAST)
    art = SimpleNamespace(model="m", variant="onnx", metrics={})
    fail_flag = sshd_board.bin / "FAIL_BUILD"
    target = JetsonTarget(cfg)
    try:
        fail_flag.write_text("1")
        m = to_measurement("run", "orin-fail", art, bench, target.benchmark(JobSpec(_onnx(tmp_path), bench)), 0.0)
        assert m.status == "error" and "could not build a fp16 engine" in m.error and "Plugin not found" in m.error
        fail_flag.unlink()
        lonely = tmp_path / "lonely.tflite"
        shutil.copy(tiny_tflite, lonely)
        # The target never exports: a .tflite without the ONNX the conversion phase makes is a one-line error.
        raw = target.benchmark(JobSpec(lonely, bench))
        assert raw.runner["error"] == ("runtime tensorrt needs an ONNX export of lonely.tflite, made on the host in "
                                       "the conversion phase (harness run does that); none was handed to the target")
        assert not lonely.with_suffix(".onnx").exists()
        if importlib.util.find_spec("tf2onnx") is None:
            with pytest.raises(ExportError, match="needs an ONNX model.*pip install tf2onnx"):
                onnx_for(lonely)
        else:  # the host exports the .tflite to ONNX with tf2onnx; the board gets that file
            import onnx

            made = onnx_for(lonely)
            assert made.path == lonely.with_suffix(".onnx") and made.origin == "tf2onnx export of lonely.tflite"
            onnx.checker.check_model(onnx.load(str(made.path)))
            raw = target.benchmark(JobSpec(lonely, bench, companions={"onnx": made.path},
                                           companion_origins={"onnx": made.describe()}))
            assert raw.runner.get("error") is None and raw.runner["model_path"].endswith("-lonely.onnx")
            assert Path(raw.runner["model_path"]).read_bytes() == made.path.read_bytes()
            assert raw.extra["onnx"]["origin"] == "tf2onnx export of lonely.tflite"
            again = onnx_for(lonely)  # an export beside the variant is reused, not made again
            assert again.path == made.path and again.origin == "lonely.onnx beside the variant"
    finally:
        fail_flag.unlink(missing_ok=True)
        target.close()


def test_jetson_facts(sshd_board):
    target = JetsonTarget(sshd_board.config_for("nano-facts", "jetson"))
    try:
        facts = target.facts()
    finally:
        target.close()
    assert facts["tegrastats"]["input_rail"] == "POM_5V_IN" and facts["tegrastats"]["idle_power_mw"] == 1022.0
    assert facts["trtexec"] == str(sshd_board.bin / "trtexec")
    assert facts["jetson_clocks"]["source"] == "sysfs"
    assert facts["runtime"] == "ai-edge-litert"
    assert facts["tf_trt"] == "tensorflow without TensorRT"  # the project venv: a CUDA build of TF, no TensorRT
