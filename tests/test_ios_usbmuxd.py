"""The real pymobiledevice3 client (devices/ios_device.py) against the usbmuxd stand-in (tests/usbmuxd_sim.py):
discovery through USBMUXD_SOCKET_ADDRESS and each way discovery fails, as one line."""
from __future__ import annotations

import pytest

pytest.importorskip("pymobiledevice3", reason="pip install pymobiledevice3 (the host extra)")

from devices.ios_device import PyMobileDeviceAdapter  # noqa: E402
from errors import DeviceError  # noqa: E402
from harness.orchestration import orchestrate  # noqa: E402
from harness.planning.config import parse_devices  # noqa: E402
from harness.planning.plan import make_plan  # noqa: E402
from harness.store.db import ResultsDB  # noqa: E402
from tests.usbmuxd_sim import SimPhone, UsbmuxdSim  # noqa: E402

PAIRED_NOT = "00008120-001A2B3C4D5E6F70"
REFUSING = "00008030-000000000000AAAA"
WIFI = "00008110-0000000000001234"


@pytest.fixture
def usbmuxd(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no pair records from this machine's user
    monkeypatch.delenv("HARNESS_IOS_ADAPTER", raising=False)
    sock = tmp_path / "usbmuxd"
    monkeypatch.setenv("USBMUXD_SOCKET_ADDRESS", str(sock))
    phones = [SimPhone(PAIRED_NOT, 3), SimPhone(REFUSING, 4, lockdownd=False),
              SimPhone(WIFI, 7, connection_type="Network")]
    with UsbmuxdSim(sock, phones) as sim:
        yield sim


def _fail(udid: str) -> str:
    adapter = PyMobileDeviceAdapter(udid, "dev.harness.companion")
    try:
        with pytest.raises(DeviceError) as info:
            adapter.check_ready()
    finally:
        adapter.close()
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_lists_every_phone_usbmuxd_knows(usbmuxd):
    adapter = PyMobileDeviceAdapter(PAIRED_NOT, "dev.harness.companion")
    try:
        assert adapter.list_udids() == [PAIRED_NOT, REFUSING, WIFI]
    finally:
        adapter.close()
    assert "ListDevices" in usbmuxd.requests


def test_unpaired_phone_says_how_to_pair(usbmuxd):
    text = _fail(PAIRED_NOT)
    assert text == (f"{PAIRED_NOT}: not paired with this host: unlock it, run `pymobiledevice3 lockdown pair` "
                    "and tap Trust")
    # The client went through usbmuxd's Connect into lockdownd and asked for a pair record.
    assert "Connect" in usbmuxd.requests and "ReadPairRecord" in usbmuxd.requests
    assert usbmuxd.lockdown_requests[:2] == ["QueryType", "GetValue"]


def test_refused_connection_and_unknown_udid(usbmuxd):
    assert "usbmuxd could not connect to it" in _fail(REFUSING)
    text = _fail("00008101-00000000DEADBEEF")
    assert "not connected (usbmuxd lists: " in text and PAIRED_NOT in text


def test_no_usbmuxd_names_the_socket(tmp_path, monkeypatch):
    monkeypatch.setenv("USBMUXD_SOCKET_ADDRESS", str(tmp_path / "absent.sock"))
    text = _fail(PAIRED_NOT)
    assert text.endswith(f"no usbmuxd at {tmp_path / 'absent.sock'}: install and start usbmuxd (apt install "
                         "usbmuxd) or set USBMUXD_SOCKET_ADDRESS")


def test_run_goes_on_with_other_devices(usbmuxd, tmp_path, tiny_tflite, isolated_cache):
    devices = parse_devices({"devices": [{"name": "local", "kind": "local"},
                                         {"name": "iphone", "kind": "ios", "udid": PAIRED_NOT}]})
    plan = make_plan(devices, models=[str(tiny_tflite)], variants=["fp32"], peak_probe=False,
                     overrides={"min_runs": 5, "min_s": 0.05, "warmup_s": 0.0, "cooldown_s": 0.0})
    summary = orchestrate.run(plan, tmp_path / "r.db")
    rows = {m.device: m for m in ResultsDB(tmp_path / "r.db").measurements(summary.run_id)}
    assert rows["local"].status == "ok"
    assert rows["iphone"].status == "error"
    assert rows["iphone"].error == (f"device unreachable: iphone: {PAIRED_NOT}: not paired with this host: unlock "
                                    "it, run `pymobiledevice3 lockdown pair` and tap Trust")
