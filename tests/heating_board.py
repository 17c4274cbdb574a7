"""A board that heats up: thermal zones and cpufreq files in a temp folder that a thread rewrites as
a real phone or Pi behaves under a sustained load. The temperature climbs (first-order, towards a
ceiling); when it crosses `throttle_at_c` the governor lowers the cap (scaling_max_freq) and the running
clock follows, and stays down. The wall-clock time of that step is kept, so a test can check that a
sustained run finds the onset where the simulator put it."""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path


class HeatingBoard:
    def __init__(self, root: Path, *, start_c: float = 45.0, ceiling_c: float = 85.0, tau_s: float = 2.0,
                 throttle_at_c: float = 62.0, mhz: int = 1800, throttled_mhz: int = 1200, cpus: int = 2,
                 tick_s: float = 0.02) -> None:
        self.root = root
        self.start_c, self.ceiling_c, self.tau_s = start_c, ceiling_c, tau_s
        self.throttle_at_c, self.mhz, self.throttled_mhz = throttle_at_c, mhz, throttled_mhz
        self.cpus, self.tick_s = cpus, tick_s
        self.throttled_at_unix: float | None = None
        self.hottest_c = start_c
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        zone = root / "thermal" / "thermal_zone0"
        zone.mkdir(parents=True)
        (zone / "type").write_text("cpu-thermal\n")
        self._temp = zone / "temp"
        self._freq = [root / f"cpu{i}" / "cpufreq" for i in range(cpus)]
        for d in self._freq:
            d.mkdir(parents=True)
        self._write(start_c, mhz)

    @property
    def thermal_glob(self) -> str:
        return str(self.root / "thermal" / "thermal_zone*")

    @property
    def cpufreq_glob(self) -> str:
        return str(self.root / "cpu[0-9]*" / "cpufreq")

    def _write(self, celsius: float, mhz: int) -> None:
        for path, text in [(self._temp, f"{int(celsius * 1000)}\n")] + [
                (d / name, f"{mhz * 1000}\n") for d in self._freq for name in ("scaling_cur_freq", "scaling_max_freq")]:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text)
            tmp.replace(path)  # a reader sees the old value or the new one, never an empty file

    def _loop(self, t0: float) -> None:
        while not self._stop.wait(self.tick_s):
            t = time.monotonic() - t0
            celsius = self.ceiling_c - (self.ceiling_c - self.start_c) * pow(2.718281828, -t / self.tau_s)
            self.hottest_c = celsius
            if self.throttled_at_unix is None and celsius >= self.throttle_at_c:
                self.throttled_at_unix = time.time()
            self._write(celsius, self.throttled_mhz if self.throttled_at_unix is not None else self.mhz)

    def heat(self) -> HeatingBoard:
        """Start heating now (call when the load starts)."""
        self._thread = threading.Thread(target=self._loop, args=(time.monotonic(),), daemon=True)
        self._thread.start()
        return self

    def heat_under_load(self, marker: str) -> HeatingBoard:
        """Start heating when the load starts: the moment a process whose command line holds `marker`
        (the board's runner) appears, as a phone warms only once something runs on it."""
        return self._heat_once(lambda: _running(marker))

    def heat_when_looping(self, marker: str) -> HeatingBoard:
        """Start heating when the sustained loop starts, not when the process does: the runner's
        `_sustained_loop` catches SIGTERM from its first timed invoke on (/proc/PID/status SigCgt), so a
        runner that spends seconds importing TensorFlow and converting does not heat the board meanwhile."""
        return self._heat_once(lambda: _looping(marker))

    def _heat_once(self, started: Callable[[], bool]) -> HeatingBoard:
        """Poll `started` every 10 ms on a thread; heat from the moment it first holds."""
        def wait_then_heat() -> None:
            while not self._stop.is_set():
                if started():
                    self._loop(time.monotonic())
                    return
                time.sleep(0.01)

        self._thread = threading.Thread(target=wait_then_heat, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def _running(marker: str) -> bool:
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != me:
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmd and b"--job" in cmd:
                return True
    return False


def _looping(marker: str) -> bool:
    """A Python process with `marker` and --job on its command line catches SIGTERM (signal 15) now."""
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != me:
            try:
                cmd = (entry / "cmdline").read_bytes()
                argv0 = os.path.basename(cmd.split(b"\0", 1)[0])
                # the runner itself: `timeout`, which runs it on a board, catches SIGTERM to pass it on
                if marker.encode() not in cmd or b"--job" not in cmd or b"python" not in argv0:
                    continue
                status = (entry / "status").read_text()
            except OSError:
                continue
            caught = next((ln.split()[1] for ln in status.splitlines() if ln.startswith("SigCgt:")), "0")
            if int(caught, 16) & (1 << (15 - 1)):
                return True
    return False


class HeatingPhone:
    """The adb simulator's phone under a sustained load (benchmark_model windows, or the companion app's
    loop through `infer`): it heats only while inferences run, and when the CPU reaches `throttle_at_c` the
    thermal service reports status 2 (moderate), the big cores' clock falls and each inference takes
    `slowdown` times longer, as a phone's governor does. `throttled_at_unix` is the moment (time.time())."""

    THERMAL = ("IsStatusOverride: false\nThermal Status: {status}\nCached temperatures:\n"
               "\tTemperature{{mValue={cpu:.1f}, mType=0, mName=CPU0, mStatus={status}}}\n"
               "\tTemperature{{mValue={gpu:.1f}, mType=1, mName=GPU, mStatus=0}}\nHAL Ready: true\n")

    def __init__(self, sim, *, start_c: float = 38.0, rise_c_per_s: float = 6.0, throttle_at_c: float = 50.0,
                 latency_us: float = 2000.0, slowdown: float = 1.6) -> None:
        self.sim, self.celsius, self.rise = sim, start_c, rise_c_per_s
        self.throttle_at_c, self.latency_us, self.slowdown = throttle_at_c, latency_us, slowdown
        self.throttled_at: float | None = None
        self.throttled_at_unix: float | None = None
        self._lock = threading.Lock()
        self._publish()
        sim.heating = self

    def _publish(self) -> None:
        status = 2 if self.throttled_at is not None else 0
        self.sim.thermal_text = self.THERMAL.format(status=status, cpu=self.celsius, gpu=self.celsius - 4)
        big = 1800000 if self.throttled_at is not None else 2850000
        for cpu, khz in enumerate((1803000, 1803000, 2348000, big)):
            self.sim.write(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq", f"{khz}\n")

    @property
    def thermal_status(self) -> int:
        """What PowerManager.getCurrentThermalStatus would say now (the app reads it at each window end)."""
        return 2 if self.throttled_at is not None else 0

    def infer(self, n: int = 1) -> float:
        """One inference at the phone's current speed: sleeps as it would, heats by the time it really ran
        (a sleep overshoots on a loaded host), and returns its modelled latency (µs); the thermal service and
        clocks are republished every 50th (`n`: the caller's count) and at the throttle."""
        with self._lock:
            lat = self.latency_us * (self.slowdown if self.throttled_at is not None else 1.0)
        t0 = time.monotonic()
        time.sleep(lat / 1e6)
        with self._lock:
            self.celsius += self.rise * (time.monotonic() - t0)
            if self.throttled_at is None and self.celsius >= self.throttle_at_c:
                self.throttled_at, self.throttled_at_unix = time.monotonic(), time.time()
                self._publish()
            elif n % 50 == 0:
                self._publish()
        return lat

    def publish(self) -> None:
        with self._lock:
            self._publish()

    def run_for(self, seconds: float) -> list[float]:
        """benchmark_model's timed loop: sleeps as the inferences would, heating as it goes."""
        samples: list[float] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end or not samples:
            samples.append(self.infer(len(samples) + 1))
        self.publish()
        return samples
