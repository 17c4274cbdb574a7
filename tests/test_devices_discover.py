"""`harness devices discover` through the real adb server joined to the phone simulator, and `devices setup`
saying when there is nothing to set up."""
from __future__ import annotations

import socket

import yaml

from harness.cli import main
from harness.planning.config import parse_devices


def test_discover_lists_attached_phones_as_valid_entries(adb_server, adb_sim, capsys):
    joined = adb_server.cli("connect", adb_sim.serial)
    assert joined.returncode == 0, joined.stderr
    assert main(["devices", "discover", "--adb-port", str(adb_server.port)]) == 0
    out = capsys.readouterr().out
    assert adb_sim.serial in out and "kind: android" in out
    entries = yaml.safe_load(out)  # ready to paste: the list parses and validates as devices.yaml
    devices = parse_devices({"devices": entries})
    [phone] = [d for d in devices.devices if d.serial == adb_sim.serial]
    assert phone.adb_port == adb_server.port


def test_discover_without_an_adb_server_is_one_line(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    assert main(["devices", "discover", "--adb-port", str(port)]) == 1
    err = capsys.readouterr().err.strip()
    assert "no adb server" in err and "adb start-server" in err and len(err.splitlines()) == 1


def test_setup_with_nothing_to_set_up_says_so(tmp_path, capsys):
    f = tmp_path / "devices.yaml"
    f.write_text("devices:\n  - {name: here, kind: local}\n")
    assert main(["devices", "setup", "--devices", str(f), "--format", "csv"]) == 0
    err = capsys.readouterr().err
    assert "nothing to set up" in err and str(f) in err
