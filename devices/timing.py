"""Where a timed loop lies on the host's clock: the rules every target shares, written once.

Power samples carry the host's wall-clock time; the runner's timed loop is stamped with the board's. Three ways
join them, in this order of trust: the target's own window on the host's clock (an estimate where the tool
prints no timestamps: `window_ending_at`), else the runner's window moved by the measured clock offset
(`clock_offset_s`), else none (and then no energy per inference).
"""
from __future__ import annotations

import time
from collections.abc import Callable

# Remote wall clock with sub-second digits (GNU coreutils, busybox and toybox `date` all take it).
WALL_CLOCK_ARGV = ["date", "+%s.%N"]


def clock_offset_s(read_remote_wall: Callable[[], str]) -> float | None:
    """Host minus remote wall clock from one round trip (its error is at most half the round trip);
    `read_remote_wall` runs WALL_CLOCK_ARGV there and returns its stdout. None when unreadable."""
    t0 = time.time()
    out = read_remote_wall()
    t1 = time.time()
    try:
        return (t0 + t1) / 2 - float(out.strip())
    except ValueError:
        return None


def window_ending_at(ended_unix_s: float, duration_s: float,
                     not_before_unix_s: float | None = None) -> tuple[float, float]:
    """A tool that prints no timestamps (benchmark_model, trtexec, the iOS app seen from the host): its timed
    loop is taken as the `duration_s` that ended when its result came back, never before it was launched."""
    start = ended_unix_s - float(duration_s)
    if not_before_unix_s is not None:
        start = max(not_before_unix_s, start)
    return start, ended_unix_s


def timed_window_on_host(own: tuple[float, float] | None, runner_window: tuple[float, float] | None,
                         offset_s: float | None) -> tuple[float, float] | None:
    """The target's own window when it has one, else the runner's moved by the clock offset, else None."""
    if own:
        return float(own[0]), float(own[1])
    if runner_window and offset_s is not None:
        return float(runner_window[0]) + offset_s, float(runner_window[1]) + offset_s
    return None
