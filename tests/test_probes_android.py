"""Android probe parsers on the real recorded outputs and the variants other phones print."""
from __future__ import annotations

import pytest

from devices.probes import android as ap


def test_dumpsys_battery_recorded_samsung(device_outputs):
    b = ap.parse_dumpsys_battery((device_outputs / "dumpsys_battery.samsung.txt").read_text())
    assert b["usb_powered"] is True and b["ac_powered"] is False and b["plugged"] is True
    assert b["level_pct"] == 100.0
    assert b["voltage_mv"] == 4312
    assert b["temperature_c"] == pytest.approx(30.9)  # 309 tenths of a degree
    assert b["charge_counter_uah"] == 2967000
    assert b["technology"] == "Li-ion"


def test_dumpsys_battery_unplugged_scale_and_sentinel(device_outputs):
    text = (device_outputs / "dumpsys_battery.samsung.txt").read_text()
    text = text.replace("USB powered: true", "USB powered: false").replace("level: 100", "level: 37")
    text = text.replace("scale: 100", "scale: 50").replace("Charge counter: 2967000", "Charge counter: -2147483648")
    b = ap.parse_dumpsys_battery(text)
    assert b["plugged"] is False and b["level_pct"] == 74.0
    assert "charge_counter_uah" not in b


def test_dumpsys_battery_rejects_other_text():
    with pytest.raises(ValueError, match="not a dumpsys battery"):
        ap.parse_dumpsys_battery("Can't find service: battery\n")


def test_thermalservice_recorded_uses_cached_when_no_hal_block(device_outputs):
    t = ap.parse_thermalservice((device_outputs / "dumpsys_thermalservice.android_tv.txt").read_text())
    assert t["status"] == 0 and t["status_name"] == "none"
    assert t["temperatures_c"] == {"GPU": 36.0, "CPU0": 37.0}
    assert t["source"] == "cached"


def test_thermalservice_prefers_current_hal_readings(device_outputs):
    recorded = (device_outputs / "dumpsys_thermalservice.android_tv.txt").read_text()
    # The recording stops at "HAL connection:"; phones go on with the live HAL block.
    text = recorded.replace("Thermal Status: 0", "Thermal Status: 3") + (
        "\tThermalHAL 2.0 connected: yes\n"
        "Current temperatures from HAL:\n"
        "\tTemperature{mValue=51.5, mType=0, mName=CPU0, mStatus=2}\n"
        "\tTemperature{mValue=-273.0, mType=1, mName=GPU, mStatus=0}\n"
        "\tTemperature{mValue=NaN, mType=3, mName=skin, mStatus=0}\n"
        "\tTemperature{mValue=3.3e1, mType=2, mName=battery, mStatus=0}\n"
        "Current cooling devices from HAL:\n"
        "\tCoolingDevice{mValue=0, mType=2, mName=cpu0}\n")
    t = ap.parse_thermalservice(text)
    assert t["source"] == "hal" and t["status"] == 3 and t["status_name"] == "severe"
    # The stale cached 37.0 is not used; the -273 and NaN "no sensor" readings are dropped.
    assert t["temperatures_c"] == {"CPU0": 51.5, "battery": 33.0}


def test_hardware_properties_older_android():
    text = ("****** Dump of HardwarePropertiesManagerService ******\n"
            "CPU temperatures: [41.0, 42.5, 40.0, 39.5]\n"
            "CPU throttling temperatures: [95.0, 95.0, 95.0, 95.0]\n"
            "GPU temperatures: [38.0]\n"
            "Battery temperature: [29.0]\n")
    t = ap.parse_thermalservice(text)
    assert t["source"] == "hardware_properties" and "status" not in t
    assert t["temperatures_c"]["CPU1"] == 42.5 and t["temperatures_c"]["Battery0"] == 29.0
    assert not any("throttling" in k for k in t["temperatures_c"])


@pytest.mark.parametrize("raw, ua", [
    ("-452000", 452000.0),      # µA, negative while discharging (most kernels)
    ("452000", 452000.0),       # µA, vendor with the opposite sign
    ("-452", 452000.0),         # mA
    ("-2147483648", None),      # "no reading" sentinel
    ("garbage", None),
])
def test_current_normalization(raw, ua):
    assert ap.normalize_current_ua(raw) == ua


@pytest.mark.parametrize("raw, uv", [("4012000", 4012000.0), ("4012", 4012000.0), ("0", None),
                                     ("-2147483648", None)])
def test_voltage_normalization(raw, uv):
    assert ap.normalize_voltage_uv(raw) == uv


def test_power_from_sysfs_units():
    # 452 mA at 4.012 V is 1813.4 mW, whatever unit and sign the kernel uses for the current.
    expected = 0.452 * 4.012 * 1000
    assert ap.power_mw("-452000", "4012000") == pytest.approx(expected)
    assert ap.power_mw("452", "4012000") == pytest.approx(expected)
    assert ap.power_mw("-2147483648", "4012000") is None


def test_getprop_and_facts():
    text = ("[ro.build.version.sdk]: [28]\n[ro.build.version.release]: [9]\n"
            "[ro.product.model]: [SM-G960F]\n[ro.product.manufacturer]: [samsung]\n"
            "[ro.board.platform]: [exynos5]\n[ro.product.cpu.abi]: [arm64-v8a]\n[weird line\n")
    facts = ap.device_facts(ap.parse_getprop(text))
    assert facts["sdk"] == 28 and facts["os"] == "Android 9"
    assert facts["model"] == "SM-G960F" and facts["soc"] == "exynos5" and facts["abi"] == "arm64-v8a"


def test_cpufreq_pairs_paths_and_values():
    paths = [f"/sys/devices/system/cpu/cpu{i}/cpufreq/scaling_cur_freq" for i in (0, 4)]
    assert ap.parse_cpufreq(paths, "1803000\n2850000\n") == {"cpu0": 1803000, "cpu4": 2850000}
    assert ap.parse_cpufreq(paths, "1803000\n") == {}  # a core went offline: do not misattribute
