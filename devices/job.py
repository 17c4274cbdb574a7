"""What a platform hands a runtime (JobSpec) and what comes back to the host (RawRun): the seam between
devices/*_target.py (platforms) and devices/runtime/ (runtimes), kept apart from both so neither imports the other."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devices.bench import Bench
from devices.runner_result import RunnerResult

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True)
class JobSpec:
    """What the orchestrator asks a target to measure; bench is a harness.planning.config.BenchSettings.

    `companions`: what the target's runtime needs besides the variant (kind -> host path, e.g.
    "saved_model" for TF-TRT, "onnx" for TensorRT), prepared in the conversion phase because a target
    never runs TensorFlow on the host while it measures; `companion_origins` says where each came from
    and is recorded with the result.
    """

    model_path: Path
    bench: Bench
    input_shapes: dict[str, list[int]] | None = None
    seed: int = 0
    companions: dict[str, Path] = field(default_factory=dict)
    companion_origins: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    # Held-out inputs for targets that score on the device (iOS): raw float32, eval_count x eval_shape.
    eval_inputs: Path | None = None
    eval_shape: tuple[int, ...] | None = None
    eval_count: int = 0


@dataclass
class RawRun:
    """What a target hands back: the runtime's typed result plus whatever the target's probes saw."""

    result: RunnerResult = field(default_factory=RunnerResult)  # every runtime builds it (devices/runtime/)
    # (host wall-clock time in s, mW, source): the host keeps only those in the runner's timed window.
    power_samples: list[tuple[float, float, str]] = field(default_factory=list)
    throttled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # the row's facts, each platform's and runtime's own
    clock_offset_s: float | None = None  # host wall clock minus the board's: moves timed_window_unix_s
    window_unix_s: tuple[float, float] | None = None  # timed loop on the host's clock, when the target knows it
    idle_power_samples: list[tuple[float, float, str]] = field(default_factory=list)  # at rest before the job
    freq_samples: list[tuple[float, float]] = field(default_factory=list)  # (host time s, CPU MHz) from a probe
    memory: dict[str, float] = field(default_factory=dict)  # board-wide figures, e.g. board_ram_used_peak_mb
    outputs: npt.NDArray[np.float32] | None = None  # the model's outputs on JobSpec.eval_inputs, for the host to score

    @property
    def runner(self) -> dict[str, object]:
        """The result as the runner's JSON (the contract's shape): for storing or showing what a runtime said,
        never for the host's figures, which read `result`."""
        return self.result.to_json()


def job_timeout_s(bench: Bench) -> float:
    """The bench's timeout, grown in sustained mode to fit the whole loop (BenchSettings.job_timeout_s)."""
    return float(getattr(bench, "job_timeout_s", None) or bench.timeout_s)


def parse_runner_output(stdout: str, stderr: str, exit_code: int) -> RunnerResult:
    """The runner prints one JSON line, read once here; anything else (a crash, a kill) becomes an error."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                break
            if isinstance(parsed, dict):
                return RunnerResult.from_json(parsed)
            break
    tail = (stderr or stdout).strip().splitlines()[-1:] or [""]
    return RunnerResult.failed(f"runner exited {exit_code} without a result: {tail[0][:300]}")
