"""`harness devices` guides: a board without an interpreter says so and names the fix, an
unreachable device's error has its own column, `setup` lists its steps, the table fits 100 columns,
and paramiko's socket noise on a refused host key never reaches the terminal."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

TABLE_WIDTH = 100


def _devices(harness_cli, tmp_path: Path, entries: list[dict], *args: str) -> subprocess.CompletedProcess[str]:
    """`harness devices` as a real process forked from a warm interpreter (tests/cli_fork.py; rich reads
    COLUMNS when the table's Console is made, per call)."""
    f = tmp_path / "devices.yaml"
    f.write_text(yaml.safe_dump({"devices": entries}))
    env = {**os.environ, "COLUMNS": "300"}  # a wide terminal must not widen the table past 100
    return harness_cli("devices", *args, "--devices", str(f), text=True, timeout=300, env=env, cwd=tmp_path)


def _bare_python() -> str:
    """A Python without numpy or a TFLite interpreter, like a fresh Raspberry Pi OS."""
    for exe in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if Path(exe).exists() and subprocess.run([exe, "-c", "import numpy"], capture_output=True).returncode:
            return exe
    import pytest

    pytest.skip("needs a system python3 without numpy (Debian's python3 package)")


def test_board_without_interpreter_says_what_is_missing_and_how_to_fix_it(sshd_board, tmp_path, harness_cli):
    res = _devices(harness_cli, tmp_path, [sshd_board.device("bare-pi", python=_bare_python())])
    assert res.returncode == 1, res.stderr
    out = res.stdout
    assert "not set up" in out and "no TFLite interpreter" in out, out
    assert "harness devices setup" in " ".join(out.split()), out
    assert "No module named" not in out + res.stderr
    assert max(len(line) for line in out.splitlines()) <= TABLE_WIDTH, out


def test_unreachable_device_error_has_its_own_column(tmp_path, harness_cli):
    key = tmp_path / "id_test"
    key.write_text("not used: nothing listens\n")
    known = tmp_path / "known_hosts"
    known.write_text("")
    res = _devices(harness_cli, tmp_path, [{"name": "local", "kind": "local"},
                              {"name": "far-pi", "kind": "raspberry_pi", "host": "127.0.0.1", "port": 9, "user": "pi",
                               "key_file": str(key), "known_hosts": str(known), "connect_timeout_s": 2,
                               "reconnect_attempts": 1}])
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    header = next(line for line in lines if "device" in line and "status" in line)
    assert "problem / error" in header
    col = header.index("problem / error")
    row = next(line for line in lines if "far-pi" in line)
    assert "unreachable" in row and row[col:].strip("│ ")  # the error text starts in its own column
    assert max(len(line) for line in lines) <= TABLE_WIDTH, res.stdout
    facts = json.loads(_devices(harness_cli, tmp_path, [{"name": "local", "kind": "local"}], "--json").stdout)
    assert facts[0]["status"] == "ok" and "thermal_zones" in facts[0] and "cpu_freq_mhz" in facts[0]


def test_setup_prints_its_steps_without_json(sshd_board, tmp_path, harness_cli):
    res = _devices(harness_cli, tmp_path, [sshd_board.device("setup-pi")], "setup")
    assert res.returncode == 0, res.stdout + res.stderr
    steps = res.stdout.split("setup-pi: setup", 1)[1].splitlines()
    steps = [s.strip() for s in steps if s.strip().startswith("- ")]
    assert any(s.startswith("- python 3.") for s in steps), res.stdout
    assert any("runner pushed to" in s for s in steps), res.stdout


def test_refused_host_key_prints_no_socket_noise(sshd_board, tmp_path, harness_cli):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text(f"[{sshd_board.address}]:{sshd_board.port} {(tmp_path / 'other_key.pub').read_text()}")
    res = _devices(harness_cli, tmp_path, [sshd_board.device("spoofed", known_hosts=str(known))])
    assert res.returncode == 1
    assert "unreachable" in res.stdout and "spoofed" in res.stdout
    assert "Socket exception" not in res.stderr + res.stdout, res.stderr
    assert "Traceback" not in res.stderr
