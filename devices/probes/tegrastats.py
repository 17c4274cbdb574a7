"""`tegrastats` lines from every Jetson generation, parsed into numbers: pure functions.

Formats seen (all accepted, field order never assumed):
- TK1: `cpu [0%,off,off,off]@204 EMC 3%@68 ... GR3D 0%@72`, no rails.
- TX1/TX2 (L4T 28/32): `CPU [9%@345,off,...] EMC_FREQ 0%@1866 GR3D_FREQ 0%@140 BCPU@41C ...
  VDD_IN 1931/1931 VDD_CPU 231/231` (rails: instant/average mW, no unit).
- Nano: `POM_5V_IN 1022/1022 POM_5V_GPU 0/0`; Xavier AGX: rails named `GPU 463/463 CPU 618/618
  SYS5V 3306/3306`, sensors such as `CV0@-256C` (-256 means "no reading").
- Orin (L4T 35+): a leading `MM-DD-YYYY HH:MM:SS` timestamp, `GR3D_FREQ 0%@[305,305]` or no
  frequency at all, temperatures `cpu@43.3C`, rails with units `VDD_IN 4783mW/4783mW`;
  L4T 39 adds a third value (`2792mW/2792mW/2792mW`) and `cpu@43.0C/43.1C`.
- Boards or users without rails (no sudo on some releases): no power at all.
- `RAM used/totalMB (lfb NxSIZE)`, `SWAP used/totalMB (cached XMB)`, `IRAM used/totalkB(lfb XkB)`
  where printed; `GR3D2_FREQ` (a second GPC on early Orin NX releases).
Summaries give peaks (`*_max`) next to means and minimums, so a one-sample spike stays visible;
a figure no sample printed is None. Every sample is kept too: `series` holds each rail, sensor,
clock and load per sample (None where a sample did not print it), aligned with `series["t_s"]`.
Placeholders (-256C, PMIC's 100C trip setting, `NC` rails; devices/probes/placeholders.py) are
never readings: they are left out of `temps_c`/`rails` and listed under `ignored_sensors`.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from devices.probes import placeholders as ph

SENSOR_INVALID_C = ph.TEGRASTATS_NO_READING_C  # -256C and similar sentinels mean "no reading"
# PMIC reports a fixed 100C (or 50C): it is a trip setting, not a measured temperature.
NOT_MEASURED_SENSORS = ph.TEGRASTATS_TRIP_SETTINGS
INPUT_RAIL_PREFERENCE = ("VDD_IN", "POM_5V_IN")

_NUM = r"-?\d+(?:\.\d+)?"
_TS = re.compile(r"^\s*(\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2})\s+")
_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB(?:\s*\(lfb (\d+)x(\d+)(kB|MB)\))?")
_SWAP = re.compile(r"\bSWAP (\d+)/(\d+)MB(?:\s*\(cached (\d+)MB\))?")
_IRAM = re.compile(r"\bIRAM (\d+)/(\d+)kB\s*(?:\(lfb (\d+)kB\))?")
_CPU = re.compile(r"\bCPU \[([^\]]*)\](?:@(\d+))?", re.IGNORECASE)
_EMC = re.compile(r"\bEMC(?:_FREQ)? (\d+)%(?:@(\d+))?")
_GR3D = re.compile(r"\b(GR3D\d?)(?:_FREQ)? (\d+)%(?:@\[?([\d,]+)\]?)?")
_TEMP = re.compile(rf"(?:^|\s)([A-Za-z][\w-]*)@({_NUM})C(?:/({_NUM})C)*(?=\s|$)")
_RAIL = re.compile(r"(?:^|\s)([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?:/(\d+)(?:mW)?)?(?=\s|$)")


def parse_line(line: str) -> dict[str, Any] | None:
    """One tegrastats line -> its figures; None when the line is not a tegrastats line."""
    text = line.strip()
    if not text:
        return None
    out: dict[str, Any] = {}
    m = _TS.match(text)
    if m:
        try:
            out["timestamp"] = datetime.strptime(m.group(1), "%m-%d-%Y %H:%M:%S").isoformat()
        except ValueError:
            pass
    m = _RAM.search(text)
    if m:
        out["ram_used_mb"], out["ram_total_mb"] = int(m.group(1)), int(m.group(2))
        if m.group(3):  # largest free block: count x size
            out["ram_lfb_blocks"] = int(m.group(3))
            out["ram_lfb_block_kb"] = int(m.group(4)) * (1024 if m.group(5) == "MB" else 1)
    m = _SWAP.search(text)
    if m:
        out["swap_used_mb"], out["swap_total_mb"] = int(m.group(1)), int(m.group(2))
        if m.group(3):
            out["swap_cached_mb"] = int(m.group(3))
    m = _IRAM.search(text)
    if m:
        out["iram_used_kb"], out["iram_total_kb"] = int(m.group(1)), int(m.group(2))
        if m.group(3):
            out["iram_lfb_kb"] = int(m.group(3))
    m = _CPU.search(text)
    if m:
        shared = int(m.group(2)) if m.group(2) else None
        cores: list[dict[str, int | None] | None] = []
        for entry in m.group(1).split(","):
            entry = entry.strip()
            if entry == "off" or not entry:
                cores.append(None)
                continue
            cm = re.fullmatch(r"(\d+)%(?:@(\d+))?", entry)
            if cm:
                freq = int(cm.group(2)) if cm.group(2) else shared
                cores.append({"load_pct": int(cm.group(1)), "freq_mhz": freq})
        out["cpu"] = cores
    m = _EMC.search(text)
    if m:
        out["emc_load_pct"] = int(m.group(1))
        if m.group(2):
            out["emc_freq_mhz"] = int(m.group(2))
    for gm in _GR3D.finditer(text):
        key = "gpu" if gm.group(1) in ("GR3D", "GR3D0") else gm.group(1).lower()
        out[f"{key}_load_pct"] = int(gm.group(2))
        if gm.group(3):
            freqs = [int(f) for f in gm.group(3).split(",") if f]
            if freqs:  # Orin prints one clock per GPC (`@[305,305]`): the fastest is the GPU clock
                out[f"{key}_freq_mhz"] = max(freqs)
                if len(freqs) > 1:
                    out[f"{key}_freq_mhz_per_gpc"] = freqs
    temps: dict[str, float] = {}
    invalid: list[str] = []
    ignored: list[dict[str, str]] = []
    for tm in _TEMP.finditer(text):
        name, value = tm.group(1), float(tm.group(2))
        why = ph.tegrastats_temperature(name, value)
        if why is None:
            temps[name] = value
            continue
        ignored.append(ph.ignored(name, f"{tm.group(2)}C", why))
        if value <= SENSOR_INVALID_C:
            invalid.append(name)
    if temps:
        out["temps_c"] = temps
    if invalid:
        out["invalid_sensors"] = invalid
    rails: dict[str, dict[str, float]] = {}
    for rm in _RAIL.finditer(text):
        name = rm.group(1)
        if name in ("RAM", "SWAP", "IRAM"):
            continue
        why = ph.tegrastats_rail(name)
        if why is not None:
            ignored.append(ph.ignored(name, rm.group(0).strip(), why))
            continue
        rail = {"now_mw": float(rm.group(2)), "avg_mw": float(rm.group(3))}
        if rm.group(4) is not None:  # L4T 39: instant/average/maximum
            rail["max_mw"] = float(rm.group(4))
        rails[name] = rail
    if rails:
        out["rails"] = rails
    if ignored:
        out["ignored_sensors"] = ignored
    recognised = {"ram_used_mb", "cpu", "gpu_load_pct", "temps_c", "rails", "emc_load_pct"}
    return out if recognised & out.keys() else None


def parse_text(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """All samples in a log, and the non-empty lines that were not tegrastats lines."""
    samples, unreadable = [], []
    for line in text.splitlines():
        parsed = parse_line(line)
        if parsed is not None:
            samples.append(parsed)
        elif line.strip():
            unreadable.append(line.strip())
    return samples, unreadable


def input_rail(rail_names: list[str], preferred: str | None = None) -> str | None:
    """The board's input rail (whole-module power), or None when the board has none."""
    if preferred:
        return preferred if preferred in rail_names else None
    for name in INPUT_RAIL_PREFERENCE:
        if name in rail_names:
            return name
    ins = [n for n in rail_names if n.endswith("_IN")]
    return ins[0] if ins else None


def power_of(sample: dict[str, Any], rail: str | None) -> float | None:
    """Instant power of one sample: the input rail, or the sum of all rails when there is none."""
    rails = sample.get("rails") or {}
    if not rails:
        return None
    if rail is not None:
        return float(rails[rail]["now_mw"]) if rail in rails else None
    return float(sum(r["now_mw"] for r in rails.values()))


def _cpu_temp(temps: dict[str, float]) -> float | None:
    vals = [v for k, v in temps.items() if k.upper() in ("CPU", "BCPU", "MCPU")]
    return max(vals) if vals else None


def _gpu_temp(temps: dict[str, float]) -> float | None:
    vals = [v for k, v in temps.items() if k.upper() == "GPU"]
    return max(vals) if vals else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def summarize(samples: list[dict[str, Any]], interval_s: float, preferred_rail: str | None = None,
              t0_s: float = 0.0, times_s: list[float] | None = None) -> dict[str, Any]:
    """Power series and figures over a run. Sample i is taken at times_s[i], else t0_s + i * interval_s.

    Power is the input rail when the board has one; otherwise the sum of the rails it reports
    (AGX Xavier/Orin), labelled as such: that sum misses carrier-board losses.
    """
    names = sorted({n for s in samples for n in (s.get("rails") or {})})
    rail = input_rail(names, preferred_rail)
    if preferred_rail and rail is None and names:
        raise ValueError(f"power rail {preferred_rail!r} not in tegrastats output (rails: {', '.join(names)})")
    source = rail if rail else (f"sum({'+'.join(names)})" if names else None)
    power: list[tuple[float, float, str]] = []
    for i, s in enumerate(samples):
        mw = power_of(s, rail)
        if mw is not None and source is not None:
            t = times_s[i] if times_s is not None else t0_s + i * interval_s
            power.append((round(t, 3), mw, f"tegrastats:{source}"))
    temps = [s.get("temps_c") or {} for s in samples]
    cpu_t = [t for t in (_cpu_temp(x) for x in temps) if t is not None]
    gpu_t = [t for t in (_gpu_temp(x) for x in temps) if t is not None]
    cores = [c for s in samples for c in (s.get("cpu") or []) if c]
    cpu_f = [c["freq_mhz"] for c in cores if c.get("freq_mhz") is not None]
    cpu_l = [c["load_pct"] for c in cores if c.get("load_pct") is not None]
    gpu_f = [s["gpu_freq_mhz"] for s in samples if s.get("gpu_freq_mhz") is not None]
    gpu_l = [s["gpu_load_pct"] for s in samples if "gpu_load_pct" in s]
    emc_l = [s["emc_load_pct"] for s in samples if "emc_load_pct" in s]
    emc_f = [s["emc_freq_mhz"] for s in samples if "emc_freq_mhz" in s]
    out: dict[str, Any] = {
        "samples": len(samples),
        "interval_s": interval_s,
        "input_rail": rail,
        "power_source": source,
        "power_samples": power,
        "avg_power_mw": _mean([p[1] for p in power]),
        "max_power_mw": max((p[1] for p in power), default=None),
        "rails_avg_mw": {n: _mean([s["rails"][n]["now_mw"] for s in samples if n in (s.get("rails") or {})])
                         for n in names},
        "rails_max_mw": {n: max(s["rails"][n]["now_mw"] for s in samples if n in (s.get("rails") or {}))
                         for n in names},
        "cpu_temp_c_max": max(cpu_t, default=None),
        "gpu_temp_c_max": max(gpu_t, default=None),
        "temp_c_max_by_sensor": _max_by_sensor(temps),
        "temp_c_mean_by_sensor": _mean_by_sensor(temps),
        # CPU figures are over every online core of every sample; "off" cores are left out
        "cpu_load_pct_mean": _mean([float(x) for x in cpu_l]),
        "cpu_load_pct_max": max(cpu_l, default=None),
        "cpu_freq_mhz_mean": _mean([float(f) for f in cpu_f]),
        "cpu_freq_mhz_min": min(cpu_f, default=None),
        "cpu_freq_mhz_max": max(cpu_f, default=None),
        "gpu_load_pct_mean": _mean([float(x) for x in gpu_l]),
        "gpu_load_pct_max": max(gpu_l, default=None),
        "gpu_freq_mhz_mean": _mean([float(f) for f in gpu_f]),
        "gpu_freq_mhz_min": min(gpu_f, default=None),
        "gpu_freq_mhz_max": max(gpu_f, default=None),
        "emc_load_pct_mean": _mean([float(x) for x in emc_l]),
        "emc_load_pct_max": max(emc_l, default=None),
        "emc_freq_mhz_max": max(emc_f, default=None),
        "invalid_sensors": sorted({n for s in samples for n in s.get("invalid_sensors", [])}),
        "ignored_sensors": _ignored(samples),
        "series": series(samples, [p for p in (times_s or [t0_s + i * interval_s for i in range(len(samples))])]),
    }
    out.update(_memory(samples))
    for extra in sorted({k for s in samples for k in s if re.fullmatch(r"gr3d\d_load_pct", k)}):
        vals = [s[extra] for s in samples if extra in s]  # a second GPC/GPU (`GR3D2_FREQ` on early Orin)
        out[f"{extra}_max"], out[f"{extra}_mean"] = max(vals), _mean([float(v) for v in vals])
    return out


def _ignored(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each placeholder once (first value printed, reason), with how many times the log printed it."""
    seen: dict[str, dict[str, Any]] = {}
    for s in samples:
        for entry in s.get("ignored_sensors", []):
            seen.setdefault(entry["sensor"], {**entry, "times_printed": 0})["times_printed"] += 1
    return list(seen.values())


def series(samples: list[dict[str, Any]], times_s: list[float]) -> dict[str, Any]:
    """Every sample's figures as time series aligned with `t_s` (None where a sample lacks one).

    rails_mw: each rail's instant power; temps_c: each sensor (placeholders excluded); cpu_load_pct
    and cpu_freq_mhz: per core (`cpuN`, None while the core is off); gpu/emc loads and clocks, RAM.
    """
    n = len(samples)

    def column(get: Any) -> list[Any]:
        return [get(s) for s in samples]

    rails = sorted({r for s in samples for r in (s.get("rails") or {})})
    sensors = sorted({t for s in samples for t in (s.get("temps_c") or {})})
    cores = max((len(s.get("cpu") or []) for s in samples), default=0)
    out: dict[str, Any] = {"t_s": [round(t, 3) for t in times_s[:n]]}
    out["rails_mw"] = {r: column(lambda s, r=r: ((s.get("rails") or {}).get(r) or {}).get("now_mw")) for r in rails}
    out["temps_c"] = {t: column(lambda s, t=t: (s.get("temps_c") or {}).get(t)) for t in sensors}

    def core(s: dict[str, Any], i: int, key: str) -> Any:
        cpu = s.get("cpu") or []
        return cpu[i].get(key) if i < len(cpu) and cpu[i] else None

    out["cpu_load_pct"] = {f"cpu{i}": column(lambda s, i=i: core(s, i, "load_pct")) for i in range(cores)}
    out["cpu_freq_mhz"] = {f"cpu{i}": column(lambda s, i=i: core(s, i, "freq_mhz")) for i in range(cores)}
    for key in sorted({k for s in samples for k in s if re.fullmatch(r"(gpu|gr3d\d|emc)_(load_pct|freq_mhz)", k)}
                      | {"ram_used_mb", "swap_used_mb"}):
        vals = column(lambda s, key=key: s.get(key))
        if any(v is not None for v in vals):
            out[key] = vals
    return out


def _memory(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """RAM, SWAP and IRAM over the window: used at its peak and at its lowest, and the total (None if never printed)."""
    out: dict[str, Any] = {}
    for used, total in (("ram_used_mb", "ram_total_mb"), ("swap_used_mb", "swap_total_mb"),
                        ("iram_used_kb", "iram_total_kb")):
        vals = [s[used] for s in samples if used in s]
        totals = [s[total] for s in samples if total in s]
        out[f"{used}_max"] = max(vals, default=None)
        out[f"{used}_min"] = min(vals, default=None)
        out[total] = max(totals, default=None)
    cached = [s["swap_cached_mb"] for s in samples if "swap_cached_mb" in s]
    out["swap_cached_mb_max"] = max(cached, default=None)
    lfb = [s["ram_lfb_blocks"] * s["ram_lfb_block_kb"] for s in samples if "ram_lfb_blocks" in s]
    out["ram_lfb_kb_min"] = min(lfb, default=None)  # the smallest "largest free block" seen: fragmentation
    return out


def _mean_by_sensor(temps: list[dict[str, float]]) -> dict[str, float]:
    names = sorted({n for t in temps for n in t if not n.upper().startswith(NOT_MEASURED_SENSORS)})
    return {n: _mean([t[n] for t in temps if n in t]) for n in names}  # type: ignore[misc]


def _max_by_sensor(temps: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for reading in temps:
        for name, value in reading.items():
            if name.upper().startswith(NOT_MEASURED_SENSORS):
                continue
            out[name] = max(value, out.get(name, value))
    return out


def run_temperatures(samples: list[dict[str, Any]], interval_s: float, t0_s: float = 0.0) -> list[list[Any]]:
    """Samples as the runner's temperature rows [t_s, "run", {sensor: C}], PMIC left out."""
    rows = []
    for i, s in enumerate(samples):
        zones = {k: v for k, v in (s.get("temps_c") or {}).items() if not k.upper().startswith(NOT_MEASURED_SENSORS)}
        if zones:
            rows.append([round(t0_s + i * interval_s, 3), "run", zones])
    return rows


def parse_for_import(text: str, interval_s: float = 1.0) -> dict[str, Any]:
    """`harness import tegrastats FILE`: figures and the power series of a captured log.

    tegrastats' default interval is 1000 ms; logs with timestamps (Orin) use them instead.
    """
    samples, unreadable = parse_text(text)
    if not samples:
        first = unreadable[0][:80] if unreadable else "(empty)"
        raise ValueError(f"no tegrastats line (first line: {first!r})")
    stamps = [s.get("timestamp") for s in samples]
    times = None
    if all(stamps):
        t = [datetime.fromisoformat(x) for x in stamps]  # type: ignore[arg-type]
        times = [(ti - t[0]).total_seconds() for ti in t]
        if len(t) > 1 and times[-1] > 0:
            interval_s = round(times[-1] / (len(t) - 1), 3)
    out = summarize(samples, interval_s, times_s=times)
    out["unreadable_lines"] = len(unreadable)
    if unreadable:
        out["first_unreadable_line"] = unreadable[0][:200]
    if not out["power_samples"]:
        out.pop("power_samples")
        out["note"] = "no power rails in this log (board without rails, or tegrastats run without sudo)"
    return out
