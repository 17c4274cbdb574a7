"""The host's side of the companion app, through the real adb server and the simulated phone:
`adb reverse` (the live page on the phone's localhost), `--on-device` for serve and run, installing the
app from `apk:`, and `harness run` with `runtime: app` end to end."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devices.adb import AdbTransport
from devices.android_target import AndroidTarget
from devices.transport import TransportError
from errors import DeviceError, UserError
from harness.live.server import LiveServer
from tests.apk_fixture import make_apk

PKG = "dev.harness.companion"


def _adb(adb_server, adb_sim) -> AdbTransport:
    t = AdbTransport(adb_sim.serial, port=adb_server.port, link_timeout_s=3.0, link_check_s=1.0)
    t.connect()
    return t


def _wait(cond, timeout_s: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _status(raw: bytes) -> int:
    return int(raw.split(b"\r\n", 1)[0].split()[1])


# -- adb reverse -------------------------------------------------------------------------------------
def test_reverse_reaches_the_host_server_and_is_removed(adb_server, adb_sim, tmp_path):
    adb = _adb(adb_server, adb_sim)
    with LiveServer(tmp_path / "r.db", port=0, watch_db=False) as server:
        adb.reverse(server.port, server.port)
        assert adb.reverse_list() == [(f"tcp:{server.port}", f"tcp:{server.port}")]
        # The phone's localhost:PORT, through the real adb server, is the host's live server.
        raw = adb_sim.http_get(server.port, "/healthz")
        assert _status(raw) == 200 and raw.rstrip().endswith(b'{"ok": true}')
        assert adb.reverse_list() == [(f"tcp:{server.port}", f"tcp:{server.port}")]
        adb.reverse_remove(server.port)
        assert adb.reverse_list() == []
        with pytest.raises(ConnectionRefusedError):
            adb_sim.http_get(server.port, "/healthz")
        with pytest.raises(TransportError, match="not found"):
            adb.reverse_remove(server.port)  # adbd's own FAIL text, one line
    assert adb.broken is None  # a FAIL answer is not a broken link


def test_event_stream_resumes_through_the_tunnel(adb_server, adb_sim, tmp_path):
    """What the Live screen's SSE client sends (Last-Event-ID) reaches the server through adb reverse."""
    adb = _adb(adb_server, adb_sim)
    with LiveServer(tmp_path / "r.db", port=0, watch_db=False) as server:
        for i in range(4):
            server.hub.publish("job_started", {"device": "d", "model": f"m{i}", "variant": "fp32"})
        server.hub.publish("run_finished", {"run_id": "r", "status": "finished"})
        adb.reverse(server.port, server.port)
        raw = adb_sim.http_get(server.port, "/api/events", headers="Last-Event-ID: 3\r\n",
                               until=b"event: run_finished")
        adb.reverse_remove(server.port)
    text = raw.decode()
    assert "text/event-stream" in text and "id: 4\nevent: job_started" in text and "id: 5\nevent: run_finished" in text
    assert "id: 3\n" not in text


# -- --on-device -------------------------------------------------------------------------------------
def _phone_yaml(tmp_path: Path, sim, server, **extra) -> Path:
    lines = [f"  - name: phone\n    kind: android\n    serial: '{sim.serial}'\n    adb_port: {server.port}\n",
             "    link_timeout_s: 2\n    link_check_s: 0.5\n    connect_timeout_s: 5\n"]
    lines += [f"    {k}: {v}\n" for k, v in extra.items()]
    p = tmp_path / "devices.yaml"
    p.write_text("devices:\n" + "".join(lines))
    return p


def test_serve_on_device_opens_the_live_screen_and_removes_the_forward(adb_server, adb_sim, tmp_path):
    devices = _phone_yaml(tmp_path, adb_sim, adb_server)
    proc = subprocess.Popen([sys.executable, "-m", "harness", "serve", "--port", "0", "--db", str(tmp_path / "r.db"),
                             "--on-device", "phone", "--devices", str(devices)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("harness serve: http://127.0.0.1:"), line + proc.stderr.read()[-2000:]
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        assert f"tcp:{port}" in adb_sim.reverses
        start = next(s for s in adb_sim.app.starts if s["component"])
        assert start["component"] == f"{PKG}/.LiveActivity" and start["data"] == f"http://localhost:{port}/"
        who, url, raw = _wait(lambda: adb_sim.app.fetched and adb_sim.app.fetched[-1], what="the app's fetch")
        assert who == "app" and _status(raw) == 200 and "harness · live".encode() in raw
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "companion app's Live screen" in err and "Traceback" not in err
    assert adb_sim.reverses == {}  # removed when serve stopped


def test_without_the_app_the_phones_browser_opens_the_page(adb_server, adb_sim, tmp_path):
    from harness.live.phone import open_on_phone

    adb_sim.installed.clear()
    devices = _phone_yaml(tmp_path, adb_sim, adb_server)
    with LiveServer(tmp_path / "r.db", port=0, watch_db=False) as server:
        phone = open_on_phone("phone", str(devices), server)
        try:
            assert phone.opened_with == "browser"
            who, _url, raw = _wait(lambda: adb_sim.app.fetched and adb_sim.app.fetched[-1], what="the browser")
            assert who == "browser" and _status(raw) == 200
        finally:
            phone.close()
    start = adb_sim.app.starts[-1]
    assert start["component"] is None and start["action"] == "android.intent.action.VIEW"
    assert adb_sim.reverses == {}


def test_on_device_errors_are_one_line(adb_server, adb_sim, tmp_path, monkeypatch):
    from harness.live.phone import open_on_phone, phone_config

    with LiveServer(tmp_path / "r.db", port=0, watch_db=False) as server:
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb_server.port))
        with pytest.raises(UserError, match=r"^no-such-phone: --on-device: .*not found") as exc:
            open_on_phone("no-such-phone", None, server)
        assert exc.value.exit_code == 1 and "\n" not in str(exc.value)
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "x\x1b[2J")
        with pytest.raises(UserError, match=r"ANDROID_ADB_SERVER_PORT: 'x\\x1b\[2J' is not a port number"):
            phone_config("serial", None)
    assert adb_sim.reverses == {}


# -- apk: install or update ------------------------------------------------------------------------
def test_missing_app_without_apk_is_one_line(android_device, adb_sim):
    adb_sim.installed.clear()
    t = AndroidTarget(android_device(runtime="app"))
    with pytest.raises(DeviceError, match=r"companion app dev.harness.companion is not installed: set `apk:`") as e:
        t.prepare()
    assert "\n" not in str(e.value)
    adb_sim.installed.add(PKG)
    adb_sim.app.version_codes[PKG] = 0
    with pytest.raises(DeviceError, match=r"too old \(versionCode 0, this host needs >= 1\)"):
        t.prepare()


def test_apk_installs_when_missing_or_older_and_only_then(android_device, adb_sim, tmp_path):
    apk = make_apk(tmp_path / "app-debug.apk", version_code=3)
    adb_sim.installed.clear()
    t = AndroidTarget(android_device(runtime="app", apk=str(apk)))
    assert t.facts()["app_version_code"] is None  # `harness devices` says the app is missing
    t.prepare()
    assert adb_sim.app.version_codes[PKG] == 3 and len(adb_sim.app.installs) == 1
    assert t.facts()["app_version_code"] == 3
    assert not list(adb_sim.path("/data/local/tmp").glob("harness-*.apk"))  # the pushed APK is removed
    t.prepare()
    assert len(adb_sim.app.installs) == 1  # same version: no reinstall
    newer = make_apk(tmp_path / "app-newer.apk", version_code=4)
    AndroidTarget(android_device(runtime="app", apk=str(newer))).prepare()
    assert adb_sim.app.version_codes[PKG] == 4 and len(adb_sim.app.installs) == 2
    AndroidTarget(android_device(runtime="app", apk=str(apk))).prepare()  # the phone's is newer: kept
    assert adb_sim.app.version_codes[PKG] == 4 and len(adb_sim.app.installs) == 2


def test_apk_problems_are_one_line(android_device, adb_sim, tmp_path):
    def fails(match: str, **cfg) -> None:
        with pytest.raises(DeviceError, match=match) as e:
            AndroidTarget(android_device(runtime="app", **cfg)).prepare()
        assert "\n" not in str(e.value) and "Traceback" not in str(e.value)

    fails(r"apk: .*nope.apk: no such file", apk=str(tmp_path / "nope.apk"))
    junk = tmp_path / "junk.apk"
    junk.write_bytes(b"not a zip\x1b[2J")
    fails(r"apk: .*junk.apk: not a readable APK", apk=str(junk))
    other = make_apk(tmp_path / "other.apk", package="com.example.other", version_code=9)
    fails(r"is package com.example.other, but app_package is dev.harness.companion", apk=str(other))
    # A config that claims a newer versionCode than the APK holds: the phone refuses the downgrade.
    adb_sim.app.version_codes[PKG] = 5
    old = make_apk(tmp_path / "old.apk", version_code=2)
    fails(r"installing old.apk failed: Failure \[INSTALL_FAILED_VERSION_DOWNGRADE", apk=str(old),
          apk_version_code=7)


def test_apk_version_code_must_be_positive():
    from harness.planning.config import parse_devices

    with pytest.raises(UserError, match=r"devices\[0\] \(phone\)\.apk_version_code: .*0"):
        parse_devices({"devices": [{"name": "phone", "kind": "android", "serial": "x", "apk_version_code": 0}]})


# -- harness run, runtime: app, end to end --------------------------------------------------------
def test_run_with_the_app_installs_measures_and_shows_live_on_the_phone(adb_server, adb_sim, tmp_path, tiny_tflite,
                                                                         isolated_cache):
    """One command: the APK installed, the job run by the app (stand-in answering from the golden result),
    the live page opened on the phone through adb reverse, the forward removed at the end."""
    from harness.store.db import ResultsDB

    adb_sim.installed.clear()
    apk = make_apk(tmp_path / "app-debug.apk", version_code=3)
    devices = _phone_yaml(tmp_path, adb_sim, adb_server, runtime="app", apk=f"'{apk}'",
                          bench="{threads: 2, delegate: gpu}")
    db = tmp_path / "r.db"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--devices", str(devices), "--db", str(db), "--models",
         str(tiny_tflite), "--variants", "fp32", "--runs", "7", "--min-seconds", "0", "--warmup-seconds", "0",
         "--cooldown", "0", "--no-progress", "--no-peak-probe", "--live", "127.0.0.1:0", "--on-device", "phone"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "XDG_CACHE_HOME": str(isolated_cache)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 measured, 0 errors" in proc.stdout, proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr
    rows = ResultsDB(db).measurements(ResultsDB(db).latest_run_id())
    assert len(rows) == 1
    m = rows[0]
    assert m.status == "ok" and m.runtime == "litert-android" and m.delegate == "gpu" and m.threads == 2
    assert len(m.latencies_us) == 7
    assert m.extra["app"]["delegate_applied"] == "gpu" and m.extra["app"]["thermal_headroom_before"] == 0.42
    assert m.extra["delegate_outcome"]["applied"] == "completely" and "delegate_fallback" not in m.extra
    assert adb_sim.app.version_codes[PKG] == 3 and len(adb_sim.app.installs) == 1
    live = [s for s in adb_sim.app.starts if s["component"] == f"{PKG}/.LiveActivity"]
    bench = [s for s in adb_sim.app.starts if s["component"] == f"{PKG}/.BenchmarkActivity"]
    assert len(live) == 1 and len(bench) == 1, adb_sim.app.starts
    assert bench[0]["extras"]["num_runs"] == 7 and bench[0]["extras"]["delegate"] == "gpu"
    who, _url, raw = _wait(lambda: adb_sim.app.fetched and adb_sim.app.fetched[0], what="the Live screen's fetch")
    assert who == "app" and _status(raw) == 200
    assert adb_sim.reverses == {}


def test_am_start_extras_are_the_contracts(android_device, adb_sim, tmp_path):
    """The host sends exactly contracts/android/am_start.json's extras, with its types; the JVM test
    (JobExtrasTest) turns the same extras into the contract's runner job."""
    import json
    import re
    import shlex

    from devices.target import JobSpec
    from harness.planning.config import BenchSettings

    c = json.loads((Path(__file__).resolve().parent.parent / "contracts/android/am_start.json").read_text())
    model = tmp_path / "tiny.tflite"
    model.write_bytes(b"TFL3" + bytes(64))
    t = AndroidTarget(android_device(runtime="app"))
    t.prepare()
    t.benchmark(JobSpec(model_path=model, bench=BenchSettings(**c["bench"], timeout_s=30.0)))
    extras = adb_sim.app.starts[-1]["extras"]
    assert set(extras) == set(c["extras"])
    volatile = {"model", "result_path", "run_token"}
    assert {k: v for k, v in extras.items() if k not in volatile} == \
        {k: v for k, v in c["extras"].items() if k not in volatile}
    assert re.fullmatch(r"/sdcard/Android/data/dev\.harness\.companion/files/harness/models/[0-9a-f]{16}-tiny\.tflite",
                        extras["model"])
    assert extras["result_path"].endswith(f"/result-{extras['run_token']}.json")
    argv = shlex.split(next(cmd for cmd in adb_sim.commands if cmd.startswith("am start")))
    sent_types = {argv[i + 1]: argv[i] for i, a in enumerate(argv) if a.startswith("--e")}
    assert sent_types == c["extra_types"]


def test_a_gpu_delegate_that_took_nothing_is_flagged(android_device, adb_sim, model_file):
    """The app's runtime log says no node went to the GPU: the row says so, as benchmark_model's would."""
    from devices.target import JobSpec
    from harness.planning.config import BenchSettings

    adb_sim.app.tflite_log = ["I/tflite  (12345): Created TensorFlow Lite delegate for GPU.",
                              "E/tflite  (12345): Following operations are not supported by GPU delegate:",
                              "E/tflite  (12345): CONV_2D: Max version supported: 5. Requested version 6.",
                              "E/tflite  (12345): No operations will run on the GPU, and all 3 operations will run "
                              "on the CPU."]
    t = AndroidTarget(android_device(runtime="app"))
    t.prepare()
    raw = t.benchmark(JobSpec(model_path=model_file, bench=BenchSettings(delegate="gpu", min_runs=5, timeout_s=30.0)))
    assert raw.extra["delegate_outcome"]["fallback"] is True
    assert raw.extra["delegate_fallback"].startswith("gpu delegate requested but ")


@pytest.fixture
def model_file(tmp_path) -> Path:
    p = tmp_path / "tiny.tflite"
    p.write_bytes(b"TFL3" + bytes(64))
    return p


def test_run_measures_even_when_the_phone_cannot_show_the_page(tmp_path, tiny_tflite, isolated_cache):
    """`run --on-device` with no adb server: one warning line, and the local device is measured anyway."""
    db = tmp_path / "r.db"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--db", str(db), "--models", str(tiny_tflite), "--variants",
         "fp32", "--runs", "5", "--min-seconds", "0", "--warmup-seconds", "0", "--cooldown", "0", "--no-progress",
         "--no-peak-probe", "--live", "127.0.0.1:0", "--on-device", "emulator-5554"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "XDG_CACHE_HOME": str(isolated_cache), "ANDROID_ADB_SERVER_PORT": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("harness: warning:")]
    assert len(warnings) == 1 and "adb server not reachable at 127.0.0.1:1" in warnings[0]
    assert "1 measured, 0 errors" in proc.stdout and "Traceback" not in proc.stderr
