"""`harness import` reads dumpsys captures, and `--store` keeps what a log holds (temperatures, throttling)."""
from __future__ import annotations

import json

from harness.cli import main
from harness.store.db import ResultsDB


def test_import_dumpsys_battery_and_thermalservice(device_outputs, capsys):
    assert main(["import", "dumpsys_battery", str(device_outputs / "dumpsys_battery.samsung.txt"), "--json"]) == 0
    battery = json.loads(capsys.readouterr().out)
    assert battery["voltage_mv"] == 4312 and battery["temperature_c"] == 30.9
    assert main(["import", "dumpsys_thermalservice",
                 str(device_outputs / "dumpsys_thermalservice.android_tv.txt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["temperatures_c"] == {"GPU": 36.0, "CPU0": 37.0}


def test_import_of_the_wrong_log_is_one_line(device_outputs, capsys):
    assert main(["import", "dumpsys_battery", str(device_outputs / "vcgencmd.raspberry_pi.txt")]) == 2
    err = capsys.readouterr().err
    assert "not a dumpsys_battery log" in err and len(err.strip().splitlines()) == 1


def test_import_vcgencmd_store_keeps_temperatures_and_throttling(device_outputs, tmp_path, capsys):
    db = tmp_path / "r.db"
    assert main(["import", "vcgencmd", str(device_outputs / "vcgencmd.raspberry_pi.txt"), "--store",
                 "--db", str(db), "--device", "pi"]) == 0
    assert "stored as run" in capsys.readouterr().out
    [m] = ResultsDB(db).measurements()
    assert m.device == "pi" and m.temp_max_c == 39.2 and m.p50_us is None
    assert m.metrics["throttled_now"] == "under_voltage,throttled" and m.extra["throttled"]["raw"] == "0x50005"
