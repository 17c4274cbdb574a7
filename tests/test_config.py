"""devices.yaml validation: every user error is one line naming the file and the field."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from harness.planning.config import load_devices, parse_devices
from errors import UserError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "devices.yaml"
    p.write_text(text)
    return p


def test_repository_devices_file_loads():
    cfg = load_devices(REPO / "devices.yaml")
    assert [d.name for d in cfg.enabled] == ["local"]
    assert cfg.enabled[0].bench.min_runs == 50


def test_defaults_apply_and_device_bench_wins(tmp_path):
    p = write(tmp_path, "defaults: {threads: 3, min_runs: 7}\ndevices:\n  - {name: a, kind: local}\n"
                        "  - {name: b, kind: local, bench: {threads: 1}}\n")
    cfg = load_devices(p)
    assert (cfg.devices[0].bench.threads, cfg.devices[0].bench.min_runs) == (3, 7)
    assert (cfg.devices[1].bench.threads, cfg.devices[1].bench.min_runs) == (1, 7)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("devices: [ {name: a, kind: local\n", "malformed YAML"),
        ("devices:\n  - {name: a, kind: toaster}\n", "devices[0] (a).kind: unknown device kind 'toaster'"),
        ("devices:\n  - {name: a}\n", "devices[0] (a): missing field 'kind'"),
        ("devices:\n  - {name: pi, kind: raspberry_pi, user: pi}\n", "devices[0] (pi).host: missing required field"),
        ("devices:\n  - {name: a, kind: local, bench: {min_runs: -5}}\n", "devices[0] (a).bench.min_runs"),
        ("defaults: {min_runs: -1}\ndevices:\n  - {name: a, kind: local}\n", "defaults.min_runs"),
        ("devices:\n  - {name: a, kind: local, colour: red}\n", "devices[0] (a).colour: unknown field"),
        ("devices:\n  - {name: a, kind: local}\n  - {name: a, kind: local}\n", "appears twice"),
        ("- just a list\n", "expected a mapping"),
        ("devices: []\n", "devices"),
        ("devices:\n  - {name: a, kind: local, bench: {min_s: 10, max_s: 5}}\n", "max_s (5.0) is below min_s"),
    ],
)
def test_bad_devices_file_is_one_clear_line(tmp_path, text, expected):
    p = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_devices(p)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(str(p))
    assert expected in msg


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_devices(tmp_path / "nope.yaml")


def test_parse_devices_rejects_non_mapping():
    with pytest.raises(UserError, match="expected a mapping"):
        parse_devices(["x"], "inline")


def _cli(harness_cli, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`harness ARGS` as a real process forked from a warm interpreter (tests/cli_fork.py)."""
    return harness_cli(*args, text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize(
    "yaml_text, args, needle",
    [
        ("devices:\n  - {name: a, kind: toaster}\n", [], "unknown device kind 'toaster'"),
        ("devices: [ {name: a\n", [], "malformed YAML"),
        ("devices:\n  - {name: a, kind: local}\n", ["--runs", "-3"], "--runs: must be at least 1"),
        ("devices:\n  - {name: a, kind: local}\n", ["--models", "no_such_model"], "unknown model 'no_such_model'"),
        ("devices:\n  - {name: a, kind: local}\n", ["--models", "srcnn@colour=red"], "unknown argument 'colour'"),
        ("devices:\n  - {name: a, kind: local}\n", ["--models", "fsrcnn_s@carry=maybe"], "carry is yes/no"),
        ("devices:\n  - {name: a, kind: local}\n", ["--models", "/nonexistent/m.tflite"], "no such file"),
        ("devices:\n  - {name: a, kind: local}\n", ["--variants", "fp33"], "unknown variant 'fp33'"),
    ],
)
def test_cli_user_errors_exit_2_without_traceback(tmp_path, yaml_text, args, needle, harness_cli):
    p = write(tmp_path, yaml_text)
    res = _cli(harness_cli, "run", "--devices", str(p), "--db", str(tmp_path / "r.db"), "--no-progress", *args)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("harness: error:")]
    assert len(lines) == 1 and needle in lines[0], res.stderr


def test_cli_missing_devices_file(tmp_path, harness_cli):
    res = _cli(harness_cli, "devices", "--devices", str(tmp_path / "missing.yaml"))
    assert res.returncode == 2 and "missing.yaml: no such file" in res.stderr and "Traceback" not in res.stderr


# ---- issue 10 point 2: a delegate a runtime cannot run is refused at load ---------------------------

PI = "{name: pi4, kind: raspberry_pi, host: 127.0.0.1, user: pi"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("devices:\n  - {name: box, kind: local, bench: {delegate: gpu}}\n",
         "devices[0] (box): bench.delegate gpu: the LiteRT runner on local has only xnnpack and none"),
        (f"devices:\n  - {PI}, bench: {{delegate: nnapi}}}}\n", "devices[0] (pi4): bench.delegate nnapi"),
        ("defaults: {delegate: gpu}\ndevices:\n  - {name: box, kind: local}\n", "bench.delegate_library"),
        (f"devices:\n  - {PI}, bench: {{delegate: xnnpack, delegate_library: /x/libgpu.so}}}}\n",
         "bench.delegate_library needs bench.delegate gpu or nnapi"),
        ("devices:\n  - {name: ph, kind: android, serial: s1, bench: {delegate: gpu, delegate_library: /x/l.so}}\n",
         "bench.delegate_library: android runtime benchmark_model cannot load an external delegate"),
        ("devices:\n  - {name: o, kind: jetson, host: h, user: u, runtime: tensorrt, bench: {delegate: nnapi}}\n",
         "bench.delegate nnapi: runtime tensorrt on a Jetson has no NNAPI"),
    ],
)
def test_impossible_delegate_is_one_line_naming_device_and_field(tmp_path, text, expected):
    p = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_devices(p)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(p)) and expected in msg, msg


def test_possible_delegates_load(tmp_path):
    p = write(tmp_path, f"devices:\n  - {PI}, bench: {{delegate: gpu, delegate_library: /usr/lib/libgpu.so}}}}\n"
                        "  - {name: ph, kind: android, serial: s1, bench: {delegate: nnapi}}\n"
                        "  - {name: box, kind: local, bench: {delegate: none}}\n")
    cfg = load_devices(p)
    assert cfg.devices[0].bench.delegate_library == "/usr/lib/libgpu.so"


def test_cli_delegate_override_checked_per_device(tmp_path, harness_cli):
    p = write(tmp_path, "devices:\n  - {name: box, kind: local}\n")
    res = _cli(harness_cli, "run", "--devices", str(p), "--db", str(tmp_path / "r.db"), "--no-progress",
               "--delegate", "gpu",
               "--models", "srcnn", "--variants", "fp32")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("harness: error:")]
    assert len(lines) == 1 and "--delegate: device box: bench.delegate gpu" in lines[0], res.stderr
    assert not (tmp_path / "r.db").exists()


# ---- issue 29: `wheels:` (a host folder of board wheels for `devices setup`), `emulated:` -------------------

@pytest.mark.parametrize("make, needle", [
    (lambda d: d / "nope", "devices[0] (pi4).wheels: no such folder"),
    (lambda d: (d / "f.whl").write_text("x") and d / "f.whl", "devices[0] (pi4).wheels: not a folder"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "devices[0] (pi4).wheels: no .whl file in this folder"),
])
def test_wheels_folder_is_checked_at_load(tmp_path, make, needle, harness_cli):
    folder = make(tmp_path)
    p = write(tmp_path, f"devices:\n  - {PI}, wheels: '{folder}'}}\n")
    res = _cli(harness_cli, "devices", "setup", "--devices", str(p))
    lines = [line for line in res.stderr.splitlines() if line.startswith("harness: error:")]
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert len(lines) == 1 and needle in lines[0], res.stderr


def test_emulated_takes_no_control_characters(tmp_path):
    with pytest.raises(UserError, match=r"devices\[0\] \(pi4\).emulated: control characters are not allowed"):
        parse_devices(yaml.safe_load(f"devices:\n  - {PI}, emulated: \"qemu\\x1b[2J\"}}\n"))
