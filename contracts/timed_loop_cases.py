"""Timed-loop test vectors: the runner's loop driven by a fake clock, so every language gets the same counts.

The fake clock advances only inside invoke(), by that call's cost; the loop itself costs nothing. Each case
gives the job's loop settings and the invoke costs (cycled); the expected outcome is what rpi/runner.py's
timed_loop returns under that clock. contracts/regenerate.py writes them to timed_loop/cases.json.

SUSTAINED_CASES do the same for sustained mode (`sustained_s`, `window_s`: rpi/runner.py `_sustained_loop`),
written to timed_loop/sustained.json: the windows ([t_s since the loop was entered, runs done so far]) every
app's loop must cut at the same invokes.
"""
from __future__ import annotations

import itertools
from typing import Any

CASES: list[dict[str, Any]] = [
    {"name": "min_runs_binds", "job": {"warmup_runs": 1, "warmup_s": 0.0, "min_runs": 50, "min_s": 0.01,
                                       "max_s": 150.0, "max_runs": 0, "sample_interval_s": 0.5},
     "invoke_cost_us": [1000.0]},
    {"name": "min_seconds_binds", "job": {"warmup_runs": 1, "warmup_s": 0.0, "min_runs": 5, "min_s": 1.0,
                                          "max_s": 150.0, "max_runs": 0, "sample_interval_s": 0.5},
     "invoke_cost_us": [20000.0]},
    {"name": "warmup_by_seconds", "job": {"warmup_runs": 1, "warmup_s": 0.1, "min_runs": 10, "min_s": 0.0,
                                          "max_s": 150.0, "max_runs": 0, "sample_interval_s": 0.5},
     "invoke_cost_us": [7000.0]},
    {"name": "max_seconds_caps", "job": {"warmup_runs": 0, "warmup_s": 0.0, "min_runs": 1000, "min_s": 0.0,
                                         "max_s": 0.5, "max_runs": 0, "sample_interval_s": 0.25},
     "invoke_cost_us": [30000.0]},
    {"name": "max_runs_caps", "job": {"warmup_runs": 2, "warmup_s": 0.0, "min_runs": 100, "min_s": 10.0,
                                      "max_s": 150.0, "max_runs": 12, "sample_interval_s": 0.5},
     "invoke_cost_us": [500.0]},
    {"name": "uneven_costs", "job": {"warmup_runs": 3, "warmup_s": 0.0, "min_runs": 8, "min_s": 0.02,
                                     "max_s": 150.0, "max_runs": 0, "sample_interval_s": 0.01},
     "invoke_cost_us": [1500.0, 250.0, 4000.0, 900.0]},
]


SUSTAINED_CASES: list[dict[str, Any]] = [
    {"name": "even_windows", "job": {"sustained_s": 1.0, "window_s": 0.25, "sample_interval_s": 0.1},
     "invoke_cost_us": [10000.0]},
    {"name": "default_window", "job": {"sustained_s": 2.0, "window_s": 0, "sample_interval_s": 0.5},
     "invoke_cost_us": [30000.0, 70000.0]},  # window 0: sustained_s / 20, at least 0.5 s
    {"name": "slow_invokes_overrun", "job": {"sustained_s": 0.9, "window_s": 0.2, "sample_interval_s": 0.05},
     "invoke_cost_us": [130000.0]},  # windows end at the first invoke past each boundary
]


class FakeTime:
    """Stands in for the `time` module inside rpi.runner: time passes only when invoke() is called."""

    def __init__(self, costs_us: list[float]) -> None:
        self.ns = 1_000_000_000_000
        self._costs = itertools.cycle(costs_us)
        self.invokes = 0

    def invoke(self) -> None:
        self.invokes += 1
        self.ns += int(round(next(self._costs) * 1000))

    def perf_counter_ns(self) -> int:
        return self.ns

    def monotonic(self) -> float:
        return self.ns / 1e9

    def time(self) -> float:
        return 1_700_000_000.0 + self.ns / 1e9


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """Run rpi.runner.timed_loop under a fake clock; the figures every implementation must reproduce."""
    from rpi import runner

    fake = FakeTime(case["invoke_cost_us"])
    samples: list[str] = []
    real = runner.time
    runner.time = fake  # type: ignore[assignment]
    try:
        out = runner.timed_loop(fake.invoke, case["job"], samples.append)
    finally:
        runner.time = real
    return {"first_inference_us": out["first_inference_us"], "warmup_runs_done": out["warmup_runs_done"],
            "runs": len(out["latencies_us"]), "latencies_us": out["latencies_us"], "duration_s": out["duration_s"],
            "samples_taken": len(samples), "total_invokes": fake.invokes}


def run_sustained_case(case: dict[str, Any]) -> dict[str, Any]:
    """Run rpi.runner.timed_loop in sustained mode under a fake clock (no origin: times count from the call)."""
    from rpi import runner

    fake = FakeTime(case["invoke_cost_us"])
    samples: list[str] = []
    real = runner.time
    runner.time = fake  # type: ignore[assignment]
    try:
        out = runner.timed_loop(fake.invoke, {"sample_interval_s": 0.5, **case["job"]}, samples.append)
    finally:
        runner.time = real
    return {"first_inference_us": out["first_inference_us"], "runs": len(out["latencies_us"]),
            "latencies_us": out["latencies_us"], "duration_s": out["duration_s"], "window_s": out["window_s"],
            "windows": out["windows"], "timed_start_s": out["timed_start_s"], "interrupted": out["interrupted"],
            "samples_taken": len(samples), "total_invokes": fake.invokes}
