"""An Android phone as a platform over adb: its probes, sampler, cool-down and energy rule. What runs the model
(benchmark_model or the companion app) is a runtime from devices/runtime/, chosen by the registry.

Energy design: battery power is sampled from sysfs during the run. Phones are usually powered over
USB while adb is attached, and the charger then feeds the phone and the battery: the battery's
current no longer measures what the benchmark draws. So when dumpsys battery reports any power
source (USB, AC, wireless, dock) before or after the run, RawRun.power_samples stays empty (no
energy figure is computed) and the samples are kept in extra["power_samples_while_powered"], with
extra["energy_invalid"] saying why. Only an unplugged phone (adb over Wi-Fi) gets energy per
inference.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from devices.adb import AdbTransport
from devices.apk import ApkError, apk_identity, installed_version_code
from devices.probes import android as ap
from devices.bench import Bench
from devices.config import AndroidDevice
from devices.energy_validity import battery_samples_verdict
from devices.idle_baseline import idle_seconds, rest_before_job, split_idle
from devices.remote_paths import content_key, content_path
from devices.runtime import load as load_runtime
from devices.runtime.base import ModelRuntime
from devices.runtime.companion_app import RunnerAndExtra
from devices.runtime.phone import Phone
from devices.sampler import ProbeReading
from devices.target import JobSpec, RawRun, Target
from devices.timing import WALL_CLOCK_ARGV, clock_offset_s, window_ending_at
from devices.transport import CommandResult, TransportError
from errors import DeviceError

# The oldest companion app whose result file this host reads (versionCode of android_app/app).
MIN_APP_VERSION_CODE = 1
# One line `PATH kHz` per CPU with cpufreq; `cpu[0-9]*` leaves out the cpufreq/ and cpuidle/ folders.
CPUFREQ_SCRIPT = ('for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq; do '
                  '[ -r "$f" ] && echo "$f $(cat "$f")"; done; true')


def default_binary_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "harness" / "android"


class AndroidTarget(Target):
    kind = "android"

    config: AndroidDevice

    def __init__(self, config: AndroidDevice) -> None:
        self.adb = AdbTransport(config.serial, host=config.adb_host, port=config.adb_port,
                                connect_timeout_s=config.connect_timeout_s, link_timeout_s=config.link_timeout_s,
                                link_check_s=config.link_check_s)
        super().__init__(config, self.adb)
        self.workdir = config.workdir.rstrip("/")
        self.app_dir = (config.app_dir or f"/sdcard/Android/data/{config.app_package}/files/harness").rstrip("/")
        # what runs the model here (benchmark_model or the companion app), from the runtime registry
        self.runtime: ModelRuntime[Phone, RunnerAndExtra] = load_runtime(self.kind, config.runtime)
        self.job_t0 = 0.0  # host monotonic time the current job's observation began (sustained windows' clock)
        self._supply: str | None = None
        self._props: dict[str, str] | None = None
        self.probe_problems: dict[str, str] = {}  # probe -> why it gave nothing, for the row and the facts

    # -- probes ---------------------------------------------------------------------------------
    def _sh(self, argv: list[str], timeout_s: float = 30.0, probe: bool = False) -> CommandResult:
        if probe:
            return self.adb.probe(argv, timeout_s=timeout_s)
        return self.adb.run(argv, timeout_s=timeout_s)

    def props(self) -> dict[str, str]:
        if self._props is None:
            self._props = ap.parse_getprop(self._sh(["getprop"]).stdout)
        return self._props

    def _problem(self, probe: str, res: CommandResult, detail: str = "") -> None:
        """Why a probe gave nothing: its stderr's first line (a phone's tools say it there), else `detail`."""
        said = next((ln.strip() for ln in res.stderr.splitlines() if ln.strip()), "")
        shown = next((ln.strip() for ln in res.stdout.splitlines() if ln.strip()), "")
        self.probe_problems[probe] = ((f"exit {res.exit_code}: " if not res.ok else "")
                                      + (said or detail or shown or "no output"))[:200]

    def battery(self, probe: bool = False) -> Mapping[str, object] | None:
        res = self._sh(["dumpsys", "battery"], probe=probe)
        try:
            return ap.parse_dumpsys_battery(res.stdout)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            self._problem("battery", res, str(exc))
            return None

    def thermal(self, probe: bool = False) -> Mapping[str, object]:
        res = self._sh(["dumpsys", "thermalservice"], probe=probe)
        parsed: Mapping[str, object]
        try:
            parsed = ap.parse_thermalservice(res.stdout)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            parsed = {}
            self._problem("thermal", res, str(exc))
        if not parsed.get("temperatures_c") and parsed.get("status") is None:
            self._problem("thermal", res, "no temperature or status in dumpsys thermalservice")
        return parsed

    def temperatures(self) -> dict[str, float]:
        temps = zones(self.thermal())
        battery_c = number(self.battery(), "temperature_c")
        if battery_c is not None:
            temps.setdefault("battery", battery_c)
        return temps

    def probe(self, n: int) -> ProbeReading:
        """Battery power every tick, the thermal service every 4th (it is slow to answer)."""
        power = self.power_sample()
        if n % 4 != 3:
            return ProbeReading(power_mw=power)
        th = self.thermal(probe=True)
        return ProbeReading(power_mw=power, temperatures_c=zones(th), status=status(th))

    def cpu_freqs(self) -> dict[str, int]:
        """{cpuN: kHz}. The glob must reach the phone's sh unquoted, so it is inside a script string;
        a quoted argument arrives as a literal `*` that matches nothing."""
        listing = self._sh(["sh", "-c", CPUFREQ_SCRIPT])
        pairs = [ln.split() for ln in listing.stdout.splitlines()]
        pairs = [p for p in pairs if len(p) == 2 and p[0].startswith("/")]
        if not pairs:
            self._problem("cpu_freq", listing, "no readable cpufreq/scaling_cur_freq")
            return {}
        return ap.parse_cpufreq([p[0] for p in pairs], " ".join(p[1] for p in pairs))

    def clock_offset(self) -> float | None:
        """Host minus phone wall clock from one `date +%s.%N` round trip (toybox date); None if unreadable."""
        return clock_offset_s(lambda: self._sh(WALL_CLOCK_ARGV).stdout)

    def find_battery_supply(self) -> str | None:
        """The power_supply whose type is Battery (or the one the config names)."""
        base = "/sys/class/power_supply"
        if self.config.battery_supply:
            return f"{base}/{self.config.battery_supply}"
        names = self._sh(["ls", base]).stdout.split()
        for name in sorted(names, key=lambda n: n != "battery"):
            res = self._sh(["cat", f"{base}/{name}/type"])
            if res.ok and res.stdout.strip() == "Battery":
                return f"{base}/{name}"
        return None

    def power_sample(self) -> float | None:
        if self._supply is None:
            self.probe_problems["power"] = "no power_supply of type Battery under /sys/class/power_supply"
            return None
        res = self._sh(["cat", f"{self._supply}/current_now", f"{self._supply}/voltage_now"],
                       timeout_s=self.config.link_timeout_s, probe=True)
        values = res.stdout.split()
        if res.ok and len(values) == 2:
            try:
                return ap.power_mw(values[0], values[1])
            except (ValueError, TypeError) as exc:
                self._problem("power", res, f"current_now/voltage_now: {exc}")
                return None
        self._problem("power", res, "current_now/voltage_now unreadable")
        return None

    def facts(self) -> dict[str, object]:
        self.adb.ensure_ready()
        self.probe_problems = {}
        facts = ap.device_facts(self.props())
        facts["serial"] = self.config.serial
        facts["board"] = " ".join(str(x) for x in (facts["manufacturer"], facts["model"]) if x) + (
            f" ({facts['soc']})" if facts["soc"] else "")
        facts.update(self.runtime.facts(self))
        facts["battery"] = self.battery()
        thermal = self.thermal()
        facts["thermal_status"] = thermal.get("status")
        facts["temperatures_c"] = facts["thermal_zones"] = thermal.get("temperatures_c")
        facts["cpu_freq_khz"] = self.cpu_freqs()
        cpus = self._sh(["ls", "/sys/devices/system/cpu"]).stdout.split()
        facts["cores"] = sum(1 for c in cpus if c[3:].isdigit() and c.startswith("cpu")) or None
        meminfo_res = self._sh(["cat", "/proc/meminfo"])
        meminfo = meminfo_res.stdout
        total = next((ln.split()[1] for ln in meminfo.splitlines() if ln.startswith("MemTotal:")), None)
        facts["memory_mb"] = int(total) // 1024 if total and total.isdigit() else None
        if facts["memory_mb"] is None:
            self._problem("memory", meminfo_res, "no MemTotal in /proc/meminfo")
        if self.probe_problems:
            facts["probe_problems"] = dict(self.probe_problems)
            facts["notes"] = [f"{k} unavailable: {v}" for k, v in sorted(self.probe_problems.items())]
        return facts

    # -- setup ----------------------------------------------------------------------------------
    def local_binary(self) -> Path:
        """The benchmark_model build to push: the configured path, else the cache directory."""
        if self.config.benchmark_model:
            p = Path(self.config.benchmark_model).expanduser()
            if not p.is_file():
                raise DeviceError(self.name, f"benchmark_model: {p}: no such file")
            return p
        abi = self.props().get("ro.product.cpu.abi", "")
        for candidate in (default_binary_dir() / f"benchmark_model-{abi}", default_binary_dir() / "benchmark_model"):
            if candidate.is_file():
                return candidate
        raise DeviceError(self.name, "no benchmark_model binary: set `benchmark_model:` for this device or put "
                          f"the Android build at {default_binary_dir() / 'benchmark_model'}")

    def prepare(self) -> None:
        self.adb.ensure_ready()
        self.runtime.prepare(self)
        self._supply = self.find_battery_supply()

    def app_version_code(self) -> int | None:
        """The installed companion app's versionCode, None when it is not installed."""
        res = self._sh(["dumpsys", "package", self.config.app_package])
        return installed_version_code(res.stdout, self.config.app_package) if res.ok else None

    def ensure_app(self) -> None:
        """Install or update the companion app from `apk:` when the phone's is missing or older; without
        `apk:`, a missing or too old app is one DeviceError line saying what to do."""
        pkg, have = self.config.app_package, self.app_version_code()
        if self.config.apk:
            apk = Path(self.config.apk).expanduser()
            if not apk.is_file():
                raise DeviceError(self.name, f"apk: {apk}: no such file")
            try:
                apk_pkg, want = (pkg, self.config.apk_version_code) if self.config.apk_version_code \
                    else apk_identity(apk)
            except ApkError as exc:
                raise DeviceError(self.name, f"apk: {exc}") from None
            if apk_pkg != pkg:
                raise DeviceError(self.name, f"apk: {apk} is package {apk_pkg}, but app_package is {pkg}")
            if have is None or have < want:
                self._install(apk)
                have = self.app_version_code()
                if have is None or have < want:
                    raise DeviceError(self.name, f"apk: {apk}: installed, but the phone reports versionCode "
                                      f"{have} instead of {want}")
        if have is None:
            raise DeviceError(self.name, f"companion app {pkg} is not installed: set `apk:` for this device "
                              "to the APK built from android_app/ (./gradlew assembleDebug), or run "
                              "./gradlew installDebug there")
        if have < MIN_APP_VERSION_CODE:
            raise DeviceError(self.name, f"companion app {pkg} is too old (versionCode {have}, this host needs "
                              f">= {MIN_APP_VERSION_CODE}): set `apk:` to a newer build of android_app/")

    def _install(self, apk: Path) -> None:
        """Push the APK and `pm install -r` it (adb install's non-streamed path, which every phone has)."""
        remote = f"{self.adb.tmp_dir}/harness-{content_key(apk)}.apk"
        self.adb.push(apk, remote)
        try:
            res = self._sh(["pm", "install", "-r", remote], timeout_s=300)
        finally:
            self.adb.remove(remote)
        said = (res.stdout + res.stderr).strip()
        if not res.ok or "Success" not in said:
            why = next((ln for ln in said.splitlines() if "Failure" in ln or "Error" in ln), said[-200:])
            raise DeviceError(self.name, f"apk: installing {apk.name} failed: {why.strip()[:300]}")

    def cool_down(self, bench: Bench, stop: threading.Event | None = None) -> float:
        """The platform base's cool-down (fixed rest, threshold, then under max_start_temp_c), on a live link."""
        self.adb.ensure_ready()
        return super().cool_down(bench, stop)

    def start_limit_c(self) -> float | None:
        return self.config.max_start_temp_c

    def _battery_guard(self, batt: Mapping[str, object] | None) -> None:
        level = number(batt, "level_pct")
        if batt is None or level is None:
            return
        if level < self.config.min_battery_pct and not batt.get("plugged"):
            raise DeviceError(self.name, f"battery at {level:.0f}% is below min_battery_pct "
                              f"{self.config.min_battery_pct}%: charge the phone")

    # -- measuring ------------------------------------------------------------------------------
    def benchmark(self, job: JobSpec) -> RawRun:
        self.adb.ensure_ready()
        if not self.runtime.ready:
            self.prepare()
        self.probe_problems = {}
        before_batt = self.battery()
        self._battery_guard(before_batt)
        before_thermal = self.thermal()
        before_freq = self.cpu_freqs()
        t0 = self.job_t0 = time.monotonic()
        temps: list[tuple[float, str, dict[str, float]]] = [(0.0, "before", zones(before_thermal))]
        idle_s = idle_seconds(job.bench)
        with self.sampler(job.bench, t0, join_timeout_s=self.config.link_timeout_s + 5,
                          first_wait_s=min(0.1, job.bench.sample_interval_s), errors=(TransportError,),
                          gave_up=lambda: self.adb.broken is not None) as sampler:
            busy_from = rest_before_job(idle_s)
            result, extra = self.runtime.run(self, job)  # benchmark_model and the companion app both type it
            ended = time.time()
        # The run is measured: a phone that dies now costs the after-readings, never the result.
        after_batt: Mapping[str, object] | None
        after_thermal: Mapping[str, object]
        try:
            after_batt, after_thermal = self.battery(), self.thermal()
        except TransportError as exc:
            after_batt, after_thermal = None, {}
            extra["probe_after_failed"] = str(exc)[:200]
        temps += sampler.temps
        temps.append((round(time.monotonic() - t0, 3), "after", zones(after_thermal)))
        result = replace(result, temperatures=tuple(t for t in temps if t[2]))
        if result.windows:  # sustained: the thermal status over time marks the first throttle event
            # (the companion app's own reading at each window end, when it sent them, with the host's polls)
            result = replace(result, thermal_status=tuple(sorted(
                [*result.thermal_status, *((t, st) for t, st in sampler.status_times)], key=lambda x: x[0])))
        statuses = [s for s in (status(before_thermal), *sampler.statuses, status(after_thermal)) if s is not None]
        extra.update({
            "battery_before": before_batt, "battery_after": after_batt,
            "thermal_status_max": max(statuses) if statuses else None,
            "thermal_source": after_thermal.get("source"),
            "cpu_freq_khz_before": before_freq, "cooldown": self.last_cooldown,
            "probe_failures": sampler.failures,
        })
        ignored = {(str(e.get("sensor")), str(e.get("reason"))): e
                   for probe in (before_batt, before_thermal, after_batt, after_thermal)
                   for e in _list(probe, "ignored_sensors") if isinstance(e, dict)}
        if ignored:  # placeholders (emulator's 0 V, absent 0.0 °C sensors): never readings, listed with the reason
            extra["ignored_sensors"] = list(ignored.values())
        if self.probe_problems:  # each failed probe leaves its own columns empty, with the reason here
            extra["probe_problems"] = dict(self.probe_problems)
        counter_before = (before_batt or {}).get("charge_counter_uah")
        counter_after = (after_batt or {}).get("charge_counter_uah")
        if isinstance(counter_before, (int, float)) and isinstance(counter_after, (int, float)):
            extra["charge_counter_delta_uah"] = counter_after - counter_before
        outputs = o if isinstance(o := extra.pop("_outputs", None), np.ndarray) else None
        offset = extra.pop("phone_clock_offset_s", None)
        raw = RawRun(result, throttled=bool(statuses) and max(statuses) >= 1, extra=dict(extra),
                     clock_offset_s=float(offset) if isinstance(offset, (int, float)) else None, outputs=outputs)
        busy, idle = split_idle(sampler.power, busy_from, idle_s)
        # benchmark_model prints no timestamps: its timed loop is taken as count x mean ending when it returned
        # (the push, model load and warm-up lie before it). The app's result names its own window.
        if result.windows:  # sustained: the loop of windows on the host's own clock
            raw.window_unix_s = result.timed_window_unix_s
        elif result.duration_s and not result.error and self.runtime.window_ends_at_return:
            raw.window_unix_s = window_ending_at(ended, result.duration_s)
            raw.extra["power_window_estimate"] = (f"{self.runtime.name}: [return - count x mean, return] on the "
                                                  "host's clock")
        plugged = any(b and b.get("plugged") for b in (before_batt, after_batt))
        unreadable = self.probe_problems.get("power", "current_now/voltage_now unreadable")
        why_none = f"no battery power readings: {unreadable}"
        kept, said = battery_samples_verdict(sampler.power if plugged else busy, plugged, "android", why_none)
        raw.extra.update(said)
        if kept:
            raw.power_samples, raw.idle_power_samples = kept, idle
        return raw

    def push_model(self, local: Path, directory: str) -> str:
        """Content-addressed under `directory`, pushed once per phone."""
        remote = content_path(directory, local)
        self.adb.push_if_changed(local, remote)
        return remote


def zones(thermal: Mapping[str, object]) -> dict[str, float]:
    """The thermal service's temperatures (C per sensor) from `thermal()`; empty when it read none."""
    temps = thermal.get("temperatures_c")
    if not isinstance(temps, dict):
        return {}
    return {str(k): float(v) for k, v in temps.items() if isinstance(v, (int, float))}


def status(thermal: Mapping[str, object]) -> int | None:
    """The thermal service's status (0 none ... 6 shutdown), None when it printed none."""
    st = thermal.get("status")
    return st if isinstance(st, int) else None


def number(probe: Mapping[str, object] | None, key: str) -> float | None:
    """A probe's numeric field, None when the probe or the field is missing."""
    v = (probe or {}).get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _list(probe: Mapping[str, object] | None, key: str) -> list[object]:
    v = (probe or {}).get(key)
    return v if isinstance(v, list) else []


# mypy checks here that a phone is what its runtimes need (devices/runtime/phone.py)
_PHONE_FITS: type[Phone] = AndroidTarget
