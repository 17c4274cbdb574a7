"""AdbTransport against the real adb server and the simulated phone, including every adbutils trap."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from devices.adb import AdbTransport
from devices.transport import TransportError
from tests.adb_sim import AdbSimulator


def transport(server, serial: str, **kw) -> AdbTransport:
    opts = dict(port=server.port, link_timeout_s=1.5, link_check_s=0.5, connect_timeout_s=3.0)
    opts.update(kw)
    return AdbTransport(serial, **opts)


def test_run_exit_codes_stderr_and_quoting(adb_server, adb_sim):
    t = transport(adb_server, adb_sim.serial)
    t.connect()
    assert t.shell_v2 is True
    res = t.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout_s=10)
    assert (res.exit_code, res.stdout, res.stderr) == (3, "out\n", "err\n")
    # Every argument is quoted: a `;` in an argument is data, not a second command.
    res = t.run(["echo", "a; echo injected"], timeout_s=10)
    assert res.stdout == "a; echo injected\n"
    assert not any(c.strip().startswith("echo injected") for c in adb_sim.commands)
    assert t.run(["cat"], timeout_s=10, stdin="line one\n").stdout == "line one\n"
    # The phone is listed by the real server under its host:port serial.
    assert f"{adb_sim.serial}\tdevice" in adb_server.cli("devices").stdout


def test_push_pull_and_push_once_by_hash(adb_server, adb_sim, tmp_path):
    t = transport(adb_server, adb_sim.serial)
    t.connect()
    src = tmp_path / "model.tflite"
    src.write_bytes(bytes(range(256)) * 1000)  # several sync chunks
    assert t.push_if_changed(src, "/data/local/tmp/h/models/model.tflite") is True
    assert adb_sim.path("/data/local/tmp/h/models/model.tflite").read_bytes() == src.read_bytes()
    assert t.push_if_changed(src, "/data/local/tmp/h/models/model.tflite") is False
    back = tmp_path / "back" / "model.tflite"
    t.pull("/data/local/tmp/h/models/model.tflite", back)
    assert back.read_bytes() == src.read_bytes()
    assert t.stat("/data/local/tmp/h/models/model.tflite")[1] == src.stat().st_size
    assert t.stat("/data/local/tmp/h/nothing") is None
    with pytest.raises(TransportError, match="push /sys/x"):
        t.push(src, "/sys/x")  # the phone refuses: a clear error, and the link stays usable
    t.ensure_ready()
    assert t.run(["echo", "still here"], timeout_s=5).stdout == "still here\n"


def test_pull_of_missing_path_raises_and_leaves_nothing(adb_server, adb_sim, tmp_path):
    """adbutils' sync.pull() of a missing path makes an empty local directory; ours raises."""
    t = transport(adb_server, adb_sim.serial)
    t.connect()
    dest = tmp_path / "out" / "result.json"
    with pytest.raises(FileNotFoundError):
        t.pull("/data/local/tmp/no-such-result.json", dest)
    assert not dest.exists() and not (tmp_path / "out").exists()


def test_connect_failure_text_becomes_an_error(adb_server):
    """adbutils' connect() returns "failed to connect ..." instead of raising."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: refused
    t = transport(adb_server, dead)
    t0 = time.monotonic()
    with pytest.raises(TransportError, match=rf"adb connect {dead}: .*(failed|unable|refused)"):
        t.connect()
    assert time.monotonic() - t0 < 10


def test_missing_usb_serial_and_missing_server(adb_server):
    with pytest.raises(TransportError, match="not found"):
        transport(adb_server, "R58M123ABC").connect()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError, match=rf"adb server not reachable.*adb -P {port} start-server"):
        AdbTransport("R58M123ABC", port=port).connect()


def test_shell_v1_phone_exit_codes_and_exit_n(adb_server, tmp_path, device_outputs):
    """Phones without shell_v2: the exit status comes from a marker, and `exit N` cannot eat it."""
    sim = AdbSimulator(tmp_path / "old-phone", device_outputs, shell_v2=False)
    try:
        t = transport(adb_server, sim.serial)
        t.connect()
        assert t.shell_v2 is False
        res = t.run(["sh", "-c", "echo partial; exit 7"], timeout_s=10)
        assert res.exit_code == 7 and res.stdout == "partial\n"
        assert t.run(["exit", "4"], timeout_s=10).exit_code == 4
        assert t.run(["getprop", "ro.build.version.sdk"], timeout_s=10).stdout.strip() == "34"
    finally:
        sim.close()
        adb_server.cli("disconnect", sim.serial)


def test_phone_unplugged_mid_command(adb_server, adb_sim):
    """The stream closes without an exit status: adbutils' shell() would return ''."""
    t = transport(adb_server, adb_sim.serial)
    t.connect()
    adb_sim.vanish_on("sleep", after_s=0.3, mode="close")
    t0 = time.monotonic()
    with pytest.raises(TransportError, match="went away|link failed|stopped answering"):
        t.run(["sleep", "20"], timeout_s=60)
    assert time.monotonic() - t0 < 5
    assert t.broken is not None
    t0 = time.monotonic()
    with pytest.raises(TransportError, match="adb connect .*refused"):
        t.run(["echo", "again"], timeout_s=5)  # reconnect is tried, and fails clearly
    assert time.monotonic() - t0 < 2


def test_phone_silent_mid_command_is_detected_before_adb_notices(adb_server, adb_sim):
    """A phone that goes silent (Wi-Fi drop) is still listed by the server for ~15 s; our own link
    check notices within link_check_s + link_timeout_s and drops it from the server."""
    t = transport(adb_server, adb_sim.serial)
    t.connect()
    adb_sim.vanish_on("sleep", after_s=0.3, mode="hang")
    errors: list[BaseException] = []

    def job() -> None:
        try:
            t.run(["sleep", "30"], timeout_s=120)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    t0 = time.monotonic()
    worker = threading.Thread(target=job)
    worker.start()
    time.sleep(0.8)  # silent for 0.5 s: the server still calls it a device
    assert f"{adb_sim.serial}\tdevice" in adb_server.cli("devices").stdout
    worker.join(30)
    took = time.monotonic() - t0
    assert len(errors) == 1 and isinstance(errors[0], TransportError), errors
    assert "stopped answering" in str(errors[0]) or "did not answer" in str(errors[0])
    assert took < 6, took
    assert adb_sim.serial not in adb_server.cli("devices").stdout


def test_command_timeout_is_ours(adb_server, adb_sim):
    t = transport(adb_server, adb_sim.serial)
    t.connect()
    t0 = time.monotonic()
    with pytest.raises(TransportError, match="timed out after"):
        t.run(["sleep", "5"], timeout_s=1.0)
    assert time.monotonic() - t0 < 3
