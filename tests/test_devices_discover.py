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


def test_discover_without_adb_server_or_usbmuxd_says_so_per_source(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("USBMUXD_SOCKET_ADDRESS", str(tmp_path / "no-usbmuxd"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    assert main(["devices", "discover", "--adb-port", str(port)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    adb = [line for line in lines if "no adb server" in line]
    assert len(adb) == 1 and "adb start-server" in adb[0]
    assert any(line.startswith("harness: ios:") for line in lines) and lines[-1].startswith("no phone attached")
    assert not any("Error:" in line for line in lines), lines  # a reason, never an exception's class name
    assert len(lines) == 3 and "Traceback" not in "".join(lines)


def test_setup_with_nothing_to_set_up_says_so(tmp_path, capsys):
    f = tmp_path / "devices.yaml"
    f.write_text("devices:\n  - {name: here, kind: local}\n")
    assert main(["devices", "setup", "--devices", str(f), "--format", "csv"]) == 0
    err = capsys.readouterr().err
    assert "nothing to set up" in err and str(f) in err


def test_discover_lists_iphones_through_usbmuxd(tmp_path, monkeypatch, capsys):
    import pytest

    pytest.importorskip("pymobiledevice3", reason="pip install pymobiledevice3 (the host extra)")
    from tests.usbmuxd_sim import SimPhone, UsbmuxdSim

    udid = "00008120-001A2B3C4D5E6F70"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    sock = tmp_path / "usbmuxd"
    monkeypatch.setenv("USBMUXD_SOCKET_ADDRESS", str(sock))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # no adb server: its one line, and the iPhone is still listed
    with UsbmuxdSim(sock, [SimPhone(udid, 3)]):
        assert main(["devices", "discover", "--adb-port", str(port)]) == 0
    cap = capsys.readouterr()
    devices = parse_devices({"devices": yaml.safe_load(cap.out)})
    assert [(d.kind, d.udid) for d in devices.devices] == [("ios", udid)]
    assert "no adb server" in cap.err
