"""The one sampler thread a target runs beside a job: reads its probes every interval, on the host's clock.

Android (battery power, thermal state) and iOS (IOPMPowerSource) differ only in what one tick reads; the
thread, its start, its stop (which never waits out an interval) and the "a failed probe costs a sample, never
the run" rule live here once. Linux boards sample on the board itself (vcgencmd, tegrastats streams).
"""
from __future__ import annotations

import threading
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
