"""Values a tool prints where it has no reading: one rule per tool, each with where it was seen.

A placeholder is never stored as a reading. The parsers call the functions below and list what
they left out under `ignored_sensors` ([{"sensor", "value", "reason"}]), so a row says which
sensors were ignored and why instead of silently carrying 0 °C, -256 °C or 100 °C.

Units that differ by OEM are not asserted either: `Charge counter` is µAh per the AOSP
BatteryManager documentation (BATTERY_PROPERTY_CHARGE_COUNTER), but some OEMs print mAh; a value
that cannot be µAh at the printed level is kept as a raw number with its unit marked unknown.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Placeholder:
    """One sentinel: the tool, what it is printed in, the value, what it means, where it was seen."""

    tool: str
    field: str
    value: str
    meaning: str
    source: str


RULES: tuple[Placeholder, ...] = (
    Placeholder("tegrastats", "any sensor NAME@xC", "-256C (any value <= -200C)",
                "the sensor is off or absent (CV0/CV1/CV2 with no DLA load, GPU when power-gated)",
                "tests/fixtures/device-outputs/tegrastats/orin_agx64.jetson_exporter-14.txt "
                "(https://github.com/GDWR/jetson_exporter/issues/14)"),
    Placeholder("tegrastats", "PMIC@xC", "100C (50C on some boards)",
                "the PMIC die's thermal trip setting, printed in the temperature list; not a measurement",
                "tests/fixtures/device-outputs/tegrastats/xavier_agx_jp42.gtop-pr7.txt "
                "(https://github.com/martinkersner/gtop/pull/7), tx2_l4t28_vdd.realtime_object_detection-24.txt"),
    Placeholder("tegrastats", "rail named NC", "NC 0mW/0mW",
                "a not-connected INA3221 channel (AGX Orin carrier); not a rail of the board",
                "tests/fixtures/device-outputs/tegrastats/orin_agx64.jetson_exporter-14.txt"),
    Placeholder("dumpsys_battery", "voltage", "0",
                "no battery voltage: the emulator and battery-less boards report 0 (a running phone's "
                "battery is never at 0 mV)",
                "tests/fixtures/device-outputs/dumpsys/battery_emulator_zero_voltage.appium-adb-133.txt "
                "(https://github.com/appium/appium-adb/issues/133)"),
    Placeholder("dumpsys_battery", "temperature", "0 (with voltage 0 or present: false)",
                "no battery thermistor: printed beside voltage 0 by the emulator",
                "tests/fixtures/device-outputs/dumpsys/battery_emulator_zero_voltage.appium-adb-133.txt"),
    Placeholder("dumpsys_battery", "Charge counter", "-1, -2147483648, 2147483647 (INT sentinels)",
                "the fuel gauge does not report it", "AOSP BatteryManager: Integer.MIN_VALUE when unsupported"),
    Placeholder("dumpsys_thermalservice", "Temperature{mValue=...}", "-99.9, -273, NaN (any value below -40 C)",
                "no sensor behind the name (Samsung HALs print -99.9); -40 C is the lowest rated operating "
                "temperature of phone parts, so nothing colder is a reading",
                "reported in issue 25 (Samsung, -99.9); no recorded fixture holds it yet"),
    Placeholder("dumpsys_thermalservice", "Temperature{mValue=0.0}", "0.0 beside other sensors above 10 C",
                "an absent sensor: Samsung lists SUBBAT, SUBBATRAW and USB at exactly 0.0 on a phone at 24 C",
                "tests/fixtures/device-outputs/dumpsys/thermalservice_samsung_a52_zero_subbat.android-se-246774.txt "
                "(https://android.stackexchange.com/questions/246774)"),
)

TEGRASTATS_NO_READING_C = -200.0
TEGRASTATS_TRIP_SETTINGS = ("PMIC",)
TEGRASTATS_NOT_RAILS = ("NC",)
PHONE_COLDEST_C = -40.0
INT_SENTINELS = frozenset({-2147483648, 2147483647, -1})


def ignored(sensor: str, value: object, reason: str) -> dict[str, str]:
    return {"sensor": sensor, "value": str(value), "reason": reason}


def tegrastats_temperature(name: str, value_c: float) -> str | None:
    """Why a tegrastats temperature is not a reading, or None when it is one."""
    if value_c <= TEGRASTATS_NO_READING_C:
        return f"{value_c:g}C is tegrastats' no-reading value (sensor off or absent)"
    if name.upper().startswith(TEGRASTATS_TRIP_SETTINGS):
        return "PMIC prints its thermal trip setting, not a measured temperature"
    return None


def tegrastats_rail(name: str) -> str | None:
    """Why a tegrastats rail is not a rail of the board, or None."""
    if name in TEGRASTATS_NOT_RAILS:
        return "NC is a not-connected power monitor channel"
    return None


def battery_placeholders(fields: Mapping[str, object]) -> list[dict[str, str]]:
    """The dumpsys battery fields (already parsed) that are placeholders; the caller drops them."""
    out = []
    no_battery = fields.get("voltage_mv") == 0 or fields.get("present") is False
    if fields.get("voltage_mv") == 0:
        out.append(ignored("voltage", 0, "0 mV: no battery voltage reported (emulator or board without battery)"))
    if fields.get("temperature_c") == 0.0 and no_battery:
        out.append(ignored("temperature", 0, "0 beside a 0 mV / absent battery: no battery thermistor"))
    return out


def charge_counter(raw: int | None, level_pct: float | None) -> tuple[dict[str, int | str], dict[str, str] | None]:
    """`Charge counter` as printed: µAh when plausible (AOSP), else the raw number with its unit unknown.

    A phone battery holds 1000-10000 mAh; at a level above 5 % a µAh counter is at least 50 mAh =
    50000 µAh. Below that the number is mAh-sized (some OEMs print mAh) and is not converted.
    """
    if raw is None:
        return {}, None
    if raw in INT_SENTINELS:
        return {}, ignored("Charge counter", raw, "an integer sentinel: the fuel gauge does not report it")
    if raw <= 0:
        return {}, ignored("Charge counter", raw, "not a charge: zero or negative")
    if level_pct is not None and level_pct > 5 and raw < 50000:
        return ({"charge_counter_raw": raw,
                 "charge_counter_unit": "unknown (too small for µAh at this level; some OEMs print mAh)"}, None)
    return {"charge_counter_uah": raw, "charge_counter_unit": "µAh (AOSP BatteryManager documentation)"}, None


def thermal_placeholders(temps: dict[str, float]) -> tuple[dict[str, float], list[dict[str, str]]]:
    """Split dumpsys thermalservice readings into real ones and placeholders (with the reason)."""
    keep: dict[str, float] = {}
    out: list[dict[str, str]] = []
    warm = any(v > 10.0 for v in temps.values() if not math.isnan(v))
    for name, v in temps.items():
        if math.isnan(v):
            out.append(ignored(name, "NaN", "NaN: the HAL has no value for it"))
        elif v < PHONE_COLDEST_C:
            out.append(ignored(name, v, f"{v:g} C is below any phone's operating range: a no-sensor value"))
        elif v == 0.0 and warm:
            out.append(ignored(name, v, "exactly 0.0 C while other sensors read above 10 C: an absent sensor"))
        else:
            keep[name] = v
    return keep, out
