"""The one sampler thread a platform runs beside a job: reads its probes every interval, on the host's clock.

Android (battery power, thermal service) and iOS (IOPMPowerSource) differ only in what one tick reads, their
`Target.probe` (devices/target.py); the thread, its start, its stop (which never waits out an interval), the
stamping of each reading on the host's clock and the "a failed probe costs a sample, never the run" rule live
here once. Linux boards sample on the board itself (vcgencmd, tegrastats streams).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Self


class SamplerThread:
    """Subclasses implement `tick(n)` (n counts ticks from 0); use as a context manager around the job.

    `first_wait_s` lets the first reading come early (a short job still gets one); a tick that raises one of
    `errors` counts in `failures`; `gave_up()` returning True after a failure ends the sampling (a dead link).
    """

    errors: tuple[type[BaseException], ...] = (Exception,)

    def __init__(self, interval_s: float, name: str, join_timeout_s: float = 10.0,
                 first_wait_s: float | None = None) -> None:
        self.interval_s = float(interval_s)
        self.first_wait_s = self.interval_s if first_wait_s is None else float(first_wait_s)
        self.join_timeout_s = join_timeout_s
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def tick(self, n: int) -> None:
        raise NotImplementedError

    def gave_up(self) -> bool:
        return False

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.join_timeout_s)

    def _loop(self) -> None:
        n = 0
        while not self._stop.wait(self.interval_s if n else self.first_wait_s):
            try:
                self.tick(n)
            except self.errors:
                self.failures += 1
                if self.gave_up():
                    return
            n += 1


@dataclass(frozen=True)
class ProbeReading:
    """What one tick of a platform's probes read; None or empty where a probe was not read at this tick."""

    power_mw: float | None = None
    temperatures_c: Mapping[str, float] = field(default_factory=dict)
    status: int | None = None  # a phone's thermal status (Android's PowerManager levels)
    external_power: bool | None = None  # on a charger or USB power at this reading (None: not read)


class ProbeSampler(SamplerThread):
    """Runs a platform's `probe(n)` every interval and keeps what it read, stamped on the host's clock: power as
    (host wall time, mW, source), temperatures and thermal status as seconds since the job's `t0` (host monotonic),
    the clock of the runner's temperature series."""

    def __init__(self, probe: Callable[[int], ProbeReading | None], interval_s: float, t0: float, name: str, *,
                 source: str = "battery", join_timeout_s: float = 10.0, first_wait_s: float | None = None,
                 errors: tuple[type[BaseException], ...] = (Exception,),
                 gave_up: Callable[[], bool] | None = None) -> None:
        super().__init__(interval_s, name, join_timeout_s=join_timeout_s, first_wait_s=first_wait_s)
        self.probe, self.t0, self.source, self.errors = probe, t0, source, errors
        self._gave_up = gave_up
        self.power: list[tuple[float, float, str]] = []
        self.temps: list[tuple[float, str, dict[str, float]]] = []
        self.status_times: list[tuple[float, int]] = []  # (s since t0, thermal status) at each reading
        self.external_power = False  # any reading on external power

    @property
    def statuses(self) -> list[int]:
        return [s for _, s in self.status_times]

    def tick(self, n: int) -> None:
        r = self.probe(n)
        if r is None:
            return
        if r.power_mw is not None:  # stamped with the host's wall clock, as every target's power is
            self.power.append((round(time.time(), 3), r.power_mw, self.source))
        t = round(time.monotonic() - self.t0, 3)
        if r.temperatures_c:
            self.temps.append((t, "run", dict(r.temperatures_c)))
        if r.status is not None:
            self.status_times.append((t, r.status))
        self.external_power = self.external_power or bool(r.external_power)

    def gave_up(self) -> bool:
        return self._gave_up() if self._gave_up is not None else False
