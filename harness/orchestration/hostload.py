"""What else used the host's CPUs while a job ran: /proc/stat before and after, minus our own CPU time.

A latency measured while other processes took half the CPUs is not a property of the model. The
figures stored with each row (harness.store.results.Measurement.host_*):

- `host_others_cpu_pct`: CPU time used by other processes (busy time from /proc/stat minus this
  process's and its children's CPU time, from getrusage), as a percentage of all CPUs over the job;
- `host_steal_pct`: time the hypervisor gave to other guests (a VM's "steal"), same base;
- `host_run_queue`: runnable tasks (procs_running in /proc/stat) at the end of the job, ours included.

Pure parsing (parse_proc_stat) so ssh targets can read the board's /proc/stat the same way.
"""
from __future__ import annotations

import dataclasses
import os
import resource
from dataclasses import dataclass
from typing import Any

from devices.runner_result import RunnerResult
from harness.store.results import Measurement, Validity

# A row whose job shared the host with other processes taking more than this share of all CPUs is
# flagged `host busy` (on a 2-core host: half a core; the devices file's bench.host_busy_pct changes it).
# Steal beyond HOST_BUSY_STEAL_PCT likewise.
HOST_BUSY_OTHERS_PCT = 25.0
HOST_BUSY_STEAL_PCT = 10.0


@dataclass(frozen=True)
class CpuTimes:
    """Cumulative CPU seconds summed over all CPUs, and the runnable tasks at the moment of reading."""

    total_s: float
    idle_s: float  # idle + iowait
    steal_s: float
    procs_running: int | None
    own_s: float = 0.0  # this process's and its waited-for children's user + system time
    cpus: int = 1


def parse_proc_stat(text: str, clock_ticks: int = 100) -> CpuTimes:
    """The aggregate `cpu` line of /proc/stat (user nice system idle iowait irq softirq steal ...)."""
    total = idle = steal = 0.0
    running: int | None = None
    cpus = 0
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "cpu":
            vals = [float(x) for x in parts[1:9]] + [0.0] * max(0, 8 - len(parts[1:9]))
            # guest and guest_nice are already counted in user and nice: not added again.
            total = sum(vals) / clock_ticks
            idle = (vals[3] + vals[4]) / clock_ticks
            steal = vals[7] / clock_ticks
        elif parts[0].startswith("cpu") and parts[0][3:].isdigit():
            cpus += 1
        elif parts[0] == "procs_running" and len(parts) > 1 and parts[1].isdigit():
            running = int(parts[1])
    return CpuTimes(total, idle, steal, running, cpus=max(cpus, 1))


def own_cpu_s() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def cpu_times() -> CpuTimes | None:
    """This host's counters now; None where there is no /proc/stat (macOS)."""
    try:
        with open("/proc/stat") as f:
            text = f.read()
    except OSError:
        return None
    t = parse_proc_stat(text, os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
    return CpuTimes(t.total_s, t.idle_s, t.steal_s, t.procs_running, own_cpu_s(), t.cpus)


def busy_share(a: CpuTimes | None, b: CpuTimes | None) -> float | None:
    """Share (0..1) of all CPUs' time that anyone used between two readings."""
    if a is None or b is None or b.total_s <= a.total_s:
        return None
    total = b.total_s - a.total_s
    return max(0.0, min(1.0, (total - (b.idle_s - a.idle_s)) / total))


@dataclass(frozen=True)
class HostNoise:
    others_cpu_pct: float | None
    steal_pct: float | None
    run_queue: int | None

    def busy(self, others_pct: float = HOST_BUSY_OTHERS_PCT) -> bool:
        return (self.others_cpu_pct or 0.0) > others_pct or (self.steal_pct or 0.0) > HOST_BUSY_STEAL_PCT


def host_noise(a: CpuTimes | None, b: CpuTimes | None, own_s: float | None = None) -> HostNoise:
    """Other processes' and other guests' share between readings `a` and `b`. `own_s` is the CPU time
    our side used meanwhile (default: the difference of the readings' own_s, local jobs)."""
    if a is None or b is None or b.total_s <= a.total_s:
        return HostNoise(None, None, b.procs_running if b is not None else None)
    total = b.total_s - a.total_s
    busy = total - (b.idle_s - a.idle_s) - (b.steal_s - a.steal_s)
    own = (b.own_s - a.own_s) if own_s is None else own_s
    others = max(0.0, min(1.0, (busy - own) / total))
    steal = max(0.0, min(1.0, (b.steal_s - a.steal_s) / total))
    return HostNoise(round(100 * others, 1), round(100 * steal, 1), b.procs_running)


def runner_noise(result: RunnerResult) -> HostNoise | None:
    """The noise a runner measured on its target over the timed window (rpi/runner.py host_cpu_during);
    None when the runtime did not report it (benchmark_model, trtexec, the apps, an older runner)."""
    if result.host_others_cpu_pct is None:
        return None
    return HostNoise(float(result.host_others_cpu_pct), result.host_steal_pct, result.host_run_queue)


def noise_columns(validity: Validity | None, noise: HostNoise | None,
                  busy_pct: float = HOST_BUSY_OTHERS_PCT) -> dict[str, Any]:
    """An ok row's host noise columns and its validity with `host busy` and the figure (none when unmeasured):
    the orchestrator builds the row with them (harness.orchestration.measure.to_measurement)."""
    if noise is None or noise.others_cpu_pct is None:
        return {}
    if validity is not None:
        notes = validity.notes
        busy = noise.busy(busy_pct)
        if busy:
            notes = notes + (f"host busy: other processes used {noise.others_cpu_pct:.0f} % of the CPUs"
                             + (f", steal {noise.steal_pct:.0f} %" if noise.steal_pct else "")
                             + f" (over {busy_pct:.0f} % is busy)",)
        validity = dataclasses.replace(validity, host_quiet=not busy, notes=notes)
    return {"validity": validity, "host_others_cpu_pct": noise.others_cpu_pct, "host_steal_pct": noise.steal_pct,
            "host_run_queue": noise.run_queue}


def with_host_noise(m: Measurement, noise: HostNoise, busy_pct: float = HOST_BUSY_OTHERS_PCT) -> Measurement:
    """A row made elsewhere (an import, a test) with the host's noise stored beside it, as `noise_columns`."""
    return dataclasses.replace(m, **noise_columns(m.validity, noise, busy_pct)) if m.status == "ok" else m


def current_load(seconds: float = 0.5) -> dict[str, float | int | bool | None]:
    """This host now: load averages, and what other processes took of the CPUs over `seconds`."""
    import time

    a = cpu_times()
    time.sleep(seconds)
    b = cpu_times()
    noise = host_noise(a, b)
    load1, load5, _ = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {"load1": load1, "load5": load5, "cpus": b.cpus if b is not None else os.cpu_count(),
            "others_cpu_pct": noise.others_cpu_pct, "steal_pct": noise.steal_pct, "run_queue": noise.run_queue,
            "busy": noise.busy()}


def load_text(load: dict[str, float | int | bool | None]) -> str:
    """One line for `harness devices`: `this host: load 3.2 (1 min) on 2 CPUs; ...`."""
    text = f"this host: load {load['load1']:.1f} (1 min) on {load['cpus']} CPUs" if load.get("load1") is not None \
        else "this host: load unknown"
    if load.get("others_cpu_pct") is not None:
        text += (f"; other processes used {load['others_cpu_pct']:.0f} % of the CPUs just now"
                 f", {load['run_queue']} runnable tasks")
        if load.get("steal_pct"):
            text += f", steal {load['steal_pct']:.0f} %"
    if load.get("busy"):
        text += (f" — busy: rows measured now are flagged `host busy` (over {HOST_BUSY_OTHERS_PCT:.0f} %); "
                 "README 'Quieting a host'")
    return text
