"""Raspberry Pi firmware readings (`vcgencmd`) and hwmon power: pure parsers.

`get_throttled` is a bit field the firmware keeps: bits 0-3 say what is happening now
(under-voltage, ARM frequency capped, throttled, soft temperature limit) and bits 16-19 say
the same thing has happened since boot. A measurement taken while any "now" bit is set, or
during which a "since boot" bit appeared, was not taken at full speed.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TypedDict

THROTTLED_BITS: dict[int, str] = {
    0: "under_voltage",
    1: "freq_capped",
    2: "throttled",
    3: "soft_temp_limit",
}
SINCE_BOOT_SHIFT = 16

_THROTTLED = re.compile(r"throttled=(0x[0-9a-fA-F]+|\d+)")
_TEMP = re.compile(r"temp=\s*(-?\d+(?:\.\d+)?)\s*'?\s*C")
_CLOCK = re.compile(r"frequency\((\d+)\)=(\d+)")
# `[label] frequency(ID)=HZ`: newer firmware prints the clock name before `frequency` (`h264 frequency(28)=...`),
# shell loops often print `arm:\tfrequency(45)=...`; older firmware prints the bare `frequency(45)=...`.
_CLOCK_LINE = re.compile(r"(?:^|\s)(?:([A-Za-z][\w]*):?\s+)?frequency\((\d+)\)=(\d+)")
_COMMAND = re.compile(r"vcgencmd\s+(measure_clock|measure_volts)(?:\s+([A-Za-z_][\w]*))?")
_VOLT = re.compile(r"volt=\s*(-?\d+(?:\.\d+)?)V")
# What vcgencmd prints when it cannot talk to the firmware (user not in the video group, no /dev/vcio).
_PROBLEMS = ("VCHI initialization failed", "Can't open device file", "not found", "Permission denied",
             "vc_gencmd_read_response returned")


class Throttled(TypedDict):
    """get_throttled decoded: each THROTTLED_BITS flag now and since boot, and the names of those set."""
    raw: str
    under_voltage_now: bool
    under_voltage_since_boot: bool
    freq_capped_now: bool
    freq_capped_since_boot: bool
    throttled_now: bool
    throttled_since_boot: bool
    soft_temp_limit_now: bool
    soft_temp_limit_since_boot: bool
    now: list[str]
    since_boot: list[str]
    unknown_bits: list[int]


class Sample(TypedDict):
    """One block of the board's sampler."""
    t_s: float
    throttled: Throttled | None
    temp_c: float | None
    power_mw: float | None
    power_source: str | None  # set whenever power_mw is
    problem: str | None


def decode_throttled(value: int) -> Throttled:
    """Every bit by name, for now and since boot, plus the lists of those set."""
    def bit(b: int, since: bool = False) -> bool:
        return bool(value >> (b + (SINCE_BOOT_SHIFT if since else 0)) & 1)

    known = sum(1 << b for b in THROTTLED_BITS) | sum(1 << (b + SINCE_BOOT_SHIFT) for b in THROTTLED_BITS)
    return Throttled(
        raw=hex(value), under_voltage_now=bit(0), under_voltage_since_boot=bit(0, True), freq_capped_now=bit(1),
        freq_capped_since_boot=bit(1, True), throttled_now=bit(2), throttled_since_boot=bit(2, True),
        soft_temp_limit_now=bit(3), soft_temp_limit_since_boot=bit(3, True),
        now=[name for b, name in THROTTLED_BITS.items() if bit(b)],
        since_boot=[name for b, name in THROTTLED_BITS.items() if bit(b, True)],
        unknown_bits=[b for b in range(32) if value >> b & 1 and not known >> b & 1])


def parse_throttled(text: str) -> Throttled | None:
    """`throttled=0x50005` -> decoded bits; None when the text has no such line."""
    m = _THROTTLED.search(text)
    if not m:
        return None
    raw = m.group(1)
    return decode_throttled(int(raw, 16) if raw.lower().startswith("0x") else int(raw))


def parse_temp(text: str) -> float | None:
    """`temp=39.2'C` -> 39.2 (SoC temperature in C)."""
    m = _TEMP.search(text)
    return float(m.group(1)) if m else None


def parse_clock_hz(text: str) -> int | None:
    """`frequency(48)=1500398464` -> Hz (the number in brackets is the clock id and varies by model)."""
    m = _CLOCK.search(text)
    return int(m.group(2)) if m else None


def parse_clocks_mhz(text: str) -> dict[str, float]:
    """Every `measure_clock` reading under the name of the clock it measured, in MHz.

    The name comes from the line itself (`h264 frequency(28)=...`, `arm:<TAB>frequency(45)=...`) or
    else from the `vcgencmd measure_clock NAME` command echoed just before it. The number in
    brackets is a clock id that differs between models, so a bare reading with no command before it
    is kept as `id<N>`, never guessed to be the ARM clock. Names are kept as written: the firmware
    does not know `H264` (it answers `frequency(0)=0`) and does know `h264`, so they are different
    readings. A clock read several times keeps its last reading; parse_clock_series has them all.
    """
    return {name: series[-1] for name, series in parse_clock_series(text).items()}


def parse_clock_series(text: str) -> dict[str, list[float]]:
    """Every reading of every clock, in MHz, in the order printed."""
    out: dict[str, list[float]] = {}
    pending: str | None = None
    for line in text.splitlines():
        cmd = _COMMAND.search(line)
        m = _CLOCK_LINE.search(line)
        if cmd and not m:
            pending = (cmd.group(2) or None) if cmd.group(1) == "measure_clock" else None
            continue
        if m:
            name = m.group(1) or pending or f"id{m.group(2)}"
            out.setdefault(name, []).append(round(int(m.group(3)) / 1e6, 3))
            pending = None
    return out


def parse_volts_by_block(text: str) -> dict[str, float]:
    """Every `measure_volts` reading under its block (`core`, `sdram_c`, `sdram_i`, `sdram_p`).

    `vcgencmd measure_volts` with no block measures `core` (the firmware's default), and so does a
    bare `volt=` line with no command before it, which is how the targets ask for it.
    """
    out: dict[str, float] = {}
    pending = "core"
    for line in text.splitlines():
        cmd = _COMMAND.search(line)
        if cmd and cmd.group(1) == "measure_volts":
            pending = (cmd.group(2) or "core").lower()
        v = _VOLT.search(line)
        if v:
            out[pending] = float(v.group(1))
            pending = "core"
    return out


def parse_volts(text: str) -> float | None:
    m = _VOLT.search(text)
    return float(m.group(1)) if m else None


def problem(text: str) -> str | None:
    """The line saying why vcgencmd could not answer, if it could not."""
    for line in text.splitlines():
        if any(p in line for p in _PROBLEMS):
            return line.strip()
    return None


class Transcript(TypedDict, total=False):
    throttled: Throttled
    soc_temp_c: float
    clocks_mhz: dict[str, float]
    clock_readings_mhz: dict[str, list[float]]
    arm_freq_mhz: float
    volts: dict[str, float]
    core_volts: float


def parse_transcript(text: str) -> Transcript:
    """Every reading in a pasted session (`$ vcgencmd ...` prompts optional)."""
    out = Transcript()
    throttled = parse_throttled(text)
    if throttled is not None:
        out["throttled"] = throttled
    temp = parse_temp(text)
    if temp is not None:
        out["soc_temp_c"] = temp
    series = parse_clock_series(text)
    clocks = {name: values[-1] for name, values in series.items()}
    if clocks:
        out["clocks_mhz"] = clocks
        repeated = {name: values for name, values in series.items() if len(values) > 1}
        if repeated:
            out["clock_readings_mhz"] = repeated
        if "arm" in clocks:
            out["arm_freq_mhz"] = round(clocks["arm"], 1)
    volts = parse_volts_by_block(text)
    if volts:
        out["volts"] = volts
        if "core" in volts:
            out["core_volts"] = volts["core"]
    return out


def parse_for_import(text: str) -> dict[str, object]:
    """`harness import vcgencmd FILE`: flat figures from a pasted vcgencmd session."""
    got = parse_transcript(text)
    if not got:
        why = problem(text)
        raise ValueError(why or "no throttled=, temp=, frequency() or volt= line")
    flat: dict[str, object] = {k: v for k, v in got.items()
                               if k not in ("throttled", "clocks_mhz", "clock_readings_mhz", "volts")}
    for name, mhz in got.get("clocks_mhz", {}).items():
        flat[f"{name}_freq_mhz"] = mhz
    for block, volts in got.get("volts", {}).items():
        flat[f"{block}_volts"] = volts
    flat.update({k: v for k, v in got.items() if k in ("clocks_mhz", "clock_readings_mhz", "volts")})
    if "throttled" in got:
        t = got["throttled"]
        flat["throttled_raw"] = t["raw"]
        flat["throttled_now"] = ",".join(t["now"]) or "none"
        flat["throttled_since_boot"] = ",".join(t["since_boot"]) or "none"
        flat["throttled"] = t
    return flat


# ---- the sampler the Pi target runs on the board during a job -------------------------------

# A POSIX sh loop printing one block per sample, `--` between blocks; argv: VCGENCMD INTERVAL_S.
# hwmon lines are `hwmon CHIP FILE VALUE`: power*_input in microwatts, in*_input mV, curr*_input mA
# (kernel hwmon ABI).
SAMPLER_SCRIPT = (
    'V="$1"; I="$2"\n'
    "while :; do\n"
    '  "$V" get_throttled 2>&1\n'
    '  "$V" measure_temp 2>&1\n'
    "  for h in /sys/class/hwmon/hwmon*; do\n"
    '    [ -d "$h" ] || continue\n'
    '    n=$(cat "$h/name" 2>/dev/null || echo unknown)\n'
    '    for f in "$h"/power*_input "$h"/in*_input "$h"/curr*_input; do\n'
    '      [ -r "$f" ] && printf "hwmon %s %s %s\\n" "$n" "${f##*/}" "$(cat "$f" 2>/dev/null)"\n'
    "    done\n"
    "  done\n"
    "  echo --\n"
    '  sleep "$I"\n'
    "done\n"
)


def hwmon_power_mw(readings: dict[tuple[str, str], float]) -> tuple[float, str] | None:
    """Power from one sample's hwmon files: power*_input (uW), else in*_input x curr*_input.

    Returns (mW, source) for the first sensor that has power, or None.
    """
    by_chip: dict[str, dict[str, float]] = {}
    for (chip, fname), value in readings.items():
        by_chip.setdefault(chip, {})[fname] = value
    for chip, files in sorted(by_chip.items()):
        powers = [v for f, v in files.items() if f.startswith("power") and f.endswith("_input")]
        if powers:
            return sum(powers) / 1000.0, f"hwmon:{chip}"
        for f, mv in sorted(files.items()):
            m = re.fullmatch(r"in(\d+)_input", f)
            if m and f"curr{m.group(1)}_input" in files:
                return mv * files[f"curr{m.group(1)}_input"] / 1000.0, f"hwmon:{chip}"
    return None


def parse_sampler(lines: Iterable[tuple[float, str]]) -> list[Sample]:
    """Blocks of the sampler's output -> [{t_s, throttled, temp_c, power_mw, power_source, problem}]."""
    samples: list[Sample] = []
    block: list[str] = []
    t_first: float | None = None
    for t, line in lines:
        if t_first is None:
            t_first = t
        if line.strip() != "--":
            block.append(line)
            continue
        text = "\n".join(block)
        readings: dict[tuple[str, str], float] = {}
        for row in block:
            parts = row.split()
            if len(parts) == 4 and parts[0] == "hwmon":
                try:
                    readings[(parts[1], parts[2])] = float(parts[3])
                except ValueError:
                    pass
        power = hwmon_power_mw(readings)
        samples.append({
            "t_s": round(t, 3),
            "throttled": parse_throttled(text),
            "temp_c": parse_temp(text),
            "power_mw": power[0] if power else None,
            "power_source": power[1] if power else None,
            "problem": problem(text) if parse_throttled(text) is None else None,
        })
        block, t_first = [], None
    return samples


def sampler_series(samples: list[Sample], to_time: Callable[[float], float] = float) -> dict[str, object]:
    """Every sampler reading as series aligned on `t_s` (to_time maps the stream's times, e.g. onto the host's
    clock): the SoC temperature, the hwmon power with its source, and the throttle bits set "now" at each sample."""
    sources = sorted({src for s in samples if (src := s["power_source"])})
    return {
        "t_s": [round(float(to_time(s["t_s"])), 3) for s in samples],
        "temps_c": {"soc (vcgencmd)": [s.get("temp_c") for s in samples]},
        "power_mw": {src: [s["power_mw"] if s.get("power_source") == src else None for s in samples]
                     for src in sources},
        "throttled_now": [list(t["now"]) if (t := s["throttled"]) else [] for s in samples],
    }
