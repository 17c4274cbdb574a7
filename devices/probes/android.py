"""Parsers for what an Android phone says about itself: dumpsys battery, dumpsys thermalservice
(and the older hardware_properties), power_supply sysfs readings, getprop. Pure functions.

Units: dumpsys battery `temperature` is tenths of a degree C, `voltage` mV, `Charge counter` µAh per
AOSP (some OEMs print mAh: placeholders.charge_counter keeps such a number with its unit unknown);
placeholders (the emulator's voltage 0 / temperature 0, Samsung's -99.9 °C, 0.0 °C absent sensors)
are left out and listed under `ignored_sensors` (devices/probes/placeholders.py);
sysfs `current_now` is µA on most kernels (some report mA, some flip the sign, some return the
-2147483648 sentinel), `voltage_now` µV.
"""
from __future__ import annotations

import re
from typing import Any

from devices.probes import placeholders as ph

INT_MIN_SENTINEL = -2147483648
SENTINELS = {INT_MIN_SENTINEL, 2147483647, -1}

THERMAL_STATUS_NAMES = ("none", "light", "moderate", "severe", "critical", "emergency", "shutdown")

_BOOL = {"true": True, "false": False}


def parse_dumpsys_battery(text: str) -> dict[str, Any]:
    """`dumpsys battery` -> levels, plugged state, voltage_mv, temperature_c, charge_counter_uah.

    ValueError when the text is not a battery dump, so a wrong command never reads as an empty phone.
    """
    raw: dict[str, str] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, _, value = line.strip().partition(":")
        raw[key.strip().lower()] = value.strip()
    if "level" not in raw:
        raise ValueError("not a dumpsys battery output (no 'level:' line)")
    out: dict[str, Any] = {}
    for key, name in (("ac powered", "ac_powered"), ("usb powered", "usb_powered"),
                      ("wireless powered", "wireless_powered"), ("dock powered", "dock_powered"),
                      ("present", "present")):
        if key in raw:
            out[name] = _BOOL.get(raw[key].lower())
    for key, name in (("level", "level"), ("scale", "scale"), ("status", "status"), ("health", "health"),
                      ("voltage", "voltage_mv"), ("charge counter", "charge_counter"),
                      ("max charging current", "max_charging_current_ua"), ("current now", "current_now_ua"),
                      ("charging state", "charging_state")):
        if key in raw:
            try:
                out[name] = int(raw[key])
            except ValueError:
                continue
    if "temperature" in raw:
        try:
            out["temperature_c"] = int(raw["temperature"]) / 10.0
        except ValueError:
            pass
    if "technology" in raw:
        out["technology"] = raw["technology"]
    scale = out.get("scale") or 100
    out["level_pct"] = round(100.0 * out["level"] / scale, 1) if scale > 0 else float(out["level"])
    out["plugged"] = any(out.get(k) for k in ("ac_powered", "usb_powered", "wireless_powered", "dock_powered"))
    ignored = ph.battery_placeholders(out)
    for entry in ignored:
        out.pop({"voltage": "voltage_mv", "temperature": "temperature_c"}[entry["sensor"]], None)
    counter, why = ph.charge_counter(out.pop("charge_counter", None), out["level_pct"])
    out.update(counter)
    if why:
        ignored.append(why)
    if ignored:
        out["ignored_sensors"] = ignored
    return out


_TEMP = re.compile(r"Temperature\{mValue=([-\d.eE+]+|NaN), mType=(-?\d+), mName=([^,]*), mStatus=(-?\d+)\}")
_HW_PROPS = re.compile(r"^(CPU|GPU|Battery|Skin) temperatures?: \[([^\]]*)\]", re.M)
_STATUS = re.compile(r"^\s*Thermal Status: (\d+)", re.M)


def _temps_in(block: str) -> tuple[dict[str, float], list[dict[str, str]]]:
    """The readings of one block, and the placeholders left out of them (placeholders.thermal_placeholders)."""
    temps: dict[str, float] = {}
    for value, _type, name, _status in _TEMP.findall(block):
        try:
            v = float(value)
        except ValueError:
            continue
        key = name.strip() or f"type{_type}"
        temps[key if key not in temps else f"{key}#{len(temps)}"] = v if v != v else round(v, 2)
    return ph.thermal_placeholders(temps)


def parse_thermalservice(text: str) -> dict[str, Any]:
    """`dumpsys thermalservice` -> {status, status_name, temperatures_c, source}.

    Uses the block of current HAL readings (`Current temperatures from HAL:`); the `Cached
    temperatures:` block is what the service saw at its last event and can be minutes old, so it is
    used only when no HAL block was printed (source says which). Also reads the pre-Android-10
    `dumpsys hardware_properties` lists. Empty temperatures when there is nothing usable.
    """
    out: dict[str, Any] = {"temperatures_c": {}, "source": None}
    _read_thermal_blocks(text, out)
    if not out.get("ignored_sensors"):
        out.pop("ignored_sensors", None)
    return out


def _read_thermal_blocks(text: str, out: dict[str, object]) -> None:
    m = _STATUS.search(text)
    if m:
        status = int(m.group(1))
        out["status"] = status
        out["status_name"] = THERMAL_STATUS_NAMES[status] if 0 <= status < len(THERMAL_STATUS_NAMES) else "unknown"
    hal_at = text.find("Current temperatures from HAL")
    if hal_at >= 0:
        end = text.find("Current cooling devices", hal_at)
        temps, out["ignored_sensors"] = _temps_in(text[hal_at:end if end > 0 else len(text)])
        if temps:
            out["temperatures_c"], out["source"] = temps, "hal"
            return
    cached_at = text.find("Cached temperatures")
    if cached_at >= 0:
        end = text.find("HAL Ready", cached_at)
        temps, out["ignored_sensors"] = _temps_in(text[cached_at:end if end > 0 else len(text)])
        if temps:
            out["temperatures_c"], out["source"] = temps, "cached"
            return
    temps = {}
    for kind, values in _HW_PROPS.findall(text):
        for i, v in enumerate(x.strip() for x in values.split(",") if x.strip()):
            try:
                f = float(v)
            except ValueError:
                continue
            temps[f"{kind}{i}"] = f if f != f else round(f, 2)
    temps, out["ignored_sensors"] = ph.thermal_placeholders(temps)
    if temps:
        out["temperatures_c"], out["source"] = temps, "hardware_properties"


def normalize_current_ua(raw: int | float | str | None) -> float | None:
    """A `current_now` reading in µA as a magnitude; mA readings are scaled; sentinels give None.

    Phones draw roughly 50 mA to 5 A while working: |value| < 10000 can only be mA (10 mA in µA
    would be an idle phone with its screen off, never one running a benchmark).
    """
    try:
        v = float(str(raw).strip())
    except (TypeError, ValueError):
        return None
    if int(v) in SENTINELS:
        return None
    v = abs(v)
    return v * 1000.0 if v < 10000 else v


def normalize_voltage_uv(raw: int | float | str | None) -> float | None:
    """A `voltage_now` reading in µV; mV (and V) readings are scaled; sentinels and zero give None."""
    try:
        v = float(str(raw).strip())
    except (TypeError, ValueError):
        return None
    if int(v) in SENTINELS or v <= 0:
        return None
    if v < 100:  # volts
        return v * 1e6
    if v < 100000:  # millivolts
        return v * 1000.0
    return v


def power_mw(current_raw: int | float | str | None, voltage_raw: int | float | str | None) -> float | None:
    """Battery power in mW from raw sysfs current and voltage; None when either is unusable."""
    i = normalize_current_ua(current_raw)
    u = normalize_voltage_uv(voltage_raw)
    if i is None or u is None:
        return None
    return i * u / 1e9  # µA * µV = pW; / 1e9 -> mW


_PROP = re.compile(r"^\[([^\]]+)\]: \[(.*)\]$")


def parse_getprop(text: str) -> dict[str, str]:
    """`getprop` lines `[key]: [value]` -> dict (multi-line values keep their first line)."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        m = _PROP.match(line.strip())
        if m:
            props[m.group(1)] = m.group(2)
    return props


def device_facts(props: dict[str, str]) -> dict[str, object]:
    """The facts `harness devices` shows, from getprop: model, SoC, SDK, ABI."""
    sdk = props.get("ro.build.version.sdk")
    soc = props.get("ro.soc.model") or props.get("ro.board.platform") or props.get("ro.hardware")
    return {
        "os": f"Android {props.get('ro.build.version.release', '?')}",
        "sdk": int(sdk) if sdk and sdk.isdigit() else None,
        "model": props.get("ro.product.model"),
        "manufacturer": props.get("ro.product.manufacturer"),
        "soc": soc,
        "soc_manufacturer": props.get("ro.soc.manufacturer"),
        "abi": props.get("ro.product.cpu.abi"),
        "build": props.get("ro.build.fingerprint"),
    }


def parse_cpufreq(paths: list[str], text: str) -> dict[str, int]:
    """`cat` of several scaling_cur_freq files (kHz) -> {cpuN: kHz}; a count mismatch keeps nothing."""
    values = [v.strip() for v in text.split() if v.strip()]
    if len(values) != len(paths):
        return {}
    out: dict[str, int] = {}
    for path, value in zip(paths, values):
        m = re.search(r"/(cpu\d+)/", path)
        if m and value.isdigit():
            out[m.group(1)] = int(value)
    return out
