"""Every shell script and remote command the ssh boards get, run by the real sshd and the board's
/bin/sh (dash here, as on Raspberry Pi OS and Ubuntu-based L4T), and by bash and mksh for the boards
whose sh is another shell.

The scripts read /sys; here they read a fake sysfs tree: the test swaps the `/sys/` prefix of the
exact script text for the tree's path, so the shell's globbing, quoting and expansion are the real
programs' on the same files. Then a whole facts + benchmark cycle on a Pi and a Jetson is recorded at
the transport, and no command may have met a shell problem (a literal glob, `~` quoted, a syntax error).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from devices import android_target, jetson_target
from devices.jetson_target import JetsonTarget, parse_clocks_sysfs
from devices.probes import vcgencmd as vc
from devices.rpi_target import RaspberryPiTarget
from devices.ssh import SshTransport
from devices.target import JobSpec
from harness.planning.config import BenchSettings

FAST = BenchSettings(warmup_s=0.0, warmup_runs=1, min_runs=20, min_s=0.5, cooldown_s=0.0, sample_interval_s=0.5)
SHELLS = [s for s in ("dash", "bash", "mksh") if shutil.which(s)]


def fake_sysfs(root: Path) -> Path:
    """A Jetson-like sysfs: four CPUs (one without cpufreq), the cpufreq/ and cpuidle/ folders that
    `cpu*` would also match, a GPU devfreq and two hwmon chips."""
    sysfs = root / "sys"
    cpu = sysfs / "devices/system/cpu"
    for n, (lo, hi, cur) in enumerate(((115200, 1479000, 921600), (115200, 1479000, 1479000),
                                       (1479000, 1479000, 1479000))):
        d = cpu / f"cpu{n}" / "cpufreq"
        d.mkdir(parents=True)
        for name, v in (("scaling_min_freq", lo), ("scaling_max_freq", hi), ("scaling_cur_freq", cur)):
            (d / name).write_text(f"{v}\n")
    (cpu / "cpu3").mkdir()  # offline: no cpufreq
    (cpu / "cpufreq" / "policy0").mkdir(parents=True)
    (cpu / "cpuidle").mkdir()
    gpu = sysfs / "class/devfreq/57000000.gpu"
    gpu.mkdir(parents=True)
    for name, v in (("min_freq", 76800000), ("max_freq", 921600000), ("cur_freq", 76800000)):
        (gpu / name).write_text(f"{v}\n")
    (sysfs / "class/devfreq/6000000.dla").mkdir(parents=True)
    h0 = sysfs / "class/hwmon/hwmon0"
    h0.mkdir(parents=True)
    (h0 / "name").write_text("ina3221\n")
    (h0 / "power1_input").write_text("2150000\n")
    (h0 / "in1_input").write_text("5080\n")
    h1 = sysfs / "class/hwmon/hwmon1"
    h1.mkdir(parents=True)
    (h1 / "name").write_text("cpu_thermal\n")
    return sysfs


def rebase(script: str, sysfs: Path) -> str:
    assert "/sys/" in script
    return script.replace("/sys/", f"{sysfs}/")


def _pi_power_script() -> str:
    """The script RaspberryPiTarget._power_sensor sends, captured from a transport that records it."""
    seen: list[list[str]] = []

    class Rec:
        def run(self, argv, *, timeout_s, stdin=None):
            seen.append(list(argv))
            from devices.transport import CommandResult
            return CommandResult(0, "", "", 0.0)

    t = RaspberryPiTarget.__new__(RaspberryPiTarget)
    t.transport = Rec()  # type: ignore[assignment]
    t._power_sensor()
    assert seen[0][:2] == ["sh", "-c"]
    return seen[0][2]


EXPECT_CLOCKS = {"cpu0": {"min": 115200, "max": 1479000, "cur": 921600},
                 "cpu1": {"min": 115200, "max": 1479000, "cur": 1479000},
                 "cpu2": {"min": 1479000, "max": 1479000, "cur": 1479000}}


@pytest.mark.parametrize("shell", SHELLS)
def test_board_scripts_on_every_shell(shell, tmp_path):
    sysfs = fake_sysfs(tmp_path)

    def run(script, *args):
        return subprocess.run([shell, "-c", rebase(script, sysfs), "sh", *args],
                              capture_output=True, text=True, timeout=30)

    res = run(jetson_target.CLOCKS_SCRIPT)
    assert res.returncode == 0 and res.stderr == ""
    state = parse_clocks_sysfs(res.stdout)
    assert state["cpus"] == EXPECT_CLOCKS and state["gpu"] == {"min": 76800000, "max": 921600000, "cur": 76800000}
    assert state["locked"] is False
    res = run(_pi_power_script())
    assert res.returncode == 0 and res.stdout.splitlines() == ["ina3221 power1_input"]
    res = run(android_target.CPUFREQ_SCRIPT)
    assert res.returncode == 0 and res.stdout.splitlines() == [
        f"{sysfs}/devices/system/cpu/cpu{n}/cpufreq/scaling_cur_freq {v}" for n, v in
        enumerate((921600, 1479000, 1479000))]
    vcg = tmp_path / "vcgencmd"
    vcg.write_text("#!/bin/sh\necho 'throttled=0x0'\n")
    vcg.chmod(0o755)
    res = subprocess.run(["timeout", "1", shell, "-c", rebase(vc.SAMPLER_SCRIPT, sysfs), "sh", str(vcg), "5"],
                         capture_output=True, text=True, timeout=30)
    assert "hwmon ina3221 power1_input 2150000" in res.stdout and "hwmon ina3221 in1_input 5080" in res.stdout
    # (mksh reports the `sleep` that `timeout` killed as "Terminated": the only line allowed)
    assert [ln for ln in res.stderr.splitlines() if ln.strip() != "Terminated"] == []


def test_board_scripts_through_sshd(sshd_board, tmp_path):
    """The same scripts as the ssh transport sends them (quoted argv), run by sshd's login shell and sh."""
    sysfs = fake_sysfs(tmp_path)
    cfg = sshd_board.config_for("audit-sh", "raspberry_pi")
    t = SshTransport.from_config(cfg)
    try:
        res = t.run(["sh", "-c", rebase(jetson_target.CLOCKS_SCRIPT, sysfs)], timeout_s=30)
        assert res.ok and parse_clocks_sysfs(res.stdout)["cpus"] == EXPECT_CLOCKS
        res = t.run(["sh", "-c", rebase(_pi_power_script(), sysfs)], timeout_s=30)
        assert res.ok and res.stdout.split("\n")[0] == "ina3221 power1_input"
        # what quoting does to a glob and to `~` on the board: both stay literal
        res = t.run(["ls", f"{sysfs}/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq"], timeout_s=30)
        assert res.exit_code != 0 and res.stdout == "" and "cpu*" in res.stderr
        res = t.run(["test", "-d", "~"], timeout_s=30)
        assert res.exit_code == 1
        assert t.expand("~/x") == t.home() + "/x" and t.home().startswith("/")
    finally:
        t.close()


class RecordingSsh(SshTransport):
    """The real ssh transport, keeping every command it sent with its exit status and stderr."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.log: list[tuple[list[str], int, str]] = []
        self.streams: list[tuple[list[str], object]] = []

    def _exec(self, argv, timeout_s, stdin=None, *rest, **kw):  # type: ignore[override]
        code, out, err = super()._exec(argv, timeout_s, stdin, *rest, **kw)
        self.log.append(([str(a) for a in argv], code, err.decode("utf-8", "replace")))
        return code, out, err

    def stream(self, argv):  # type: ignore[override]
        stream = super().stream(argv)
        self.streams.append((list(argv), stream))
        return stream


# Tools and files only real boards have: their absence on this host is expected, not a shell problem.
BOARD_ONLY = ("nvpmodel", "/etc/nv_tegra_release", "/proc/device-tree/model", "jetson_clocks")


def _shell_problems(log: list[tuple[list[str], int, str]]) -> list[str]:
    out = []
    for argv, code, err in log:
        cmd = " ".join(argv)[:100]
        if any(b in cmd for b in BOARD_ONLY):
            continue
        if re.search(r"/\S*[*?]|~/", err) or re.search(r"syntax error|Bad substitution|unexpected", err, re.IGNORECASE):
            out.append(f"{cmd!r}: {err.strip()[:160]}")
        if code in (126, 127):
            out.append(f"{cmd!r}: exit {code}: {err.strip()[:160]}")
    return out


def test_every_ssh_command_of_a_pi_and_a_jetson(sshd_board, tiny_tflite, tmp_path):
    for kind, name in (("raspberry_pi", "audit-pi"), ("jetson", "audit-nano")):
        cfg = sshd_board.config_for(name, kind)
        rec = RecordingSsh.from_config(cfg)
        target = (JetsonTarget if kind == "jetson" else RaspberryPiTarget)(cfg, rec)
        try:
            facts = target.facts()
            raw = target.benchmark(JobSpec(model_path=tiny_tflite, bench=FAST))
        finally:
            target.close()
        assert raw.runner.get("latencies_us"), raw.runner
        assert len(rec.log) >= 8
        assert _shell_problems(rec.log) == [], kind
        for argv, stream in rec.streams:  # the sampling streams said nothing on stderr either
            assert not getattr(stream, "stderr", b"").strip(), (argv, stream.stderr)
        if kind == "jetson":
            assert facts["tegrastats"]["rails"] and raw.extra["tegrastats"]["samples"] >= 1
