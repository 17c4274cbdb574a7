"""What a runtime on a Linux board (a Raspberry Pi, a Jetson, any ssh board) needs of its platform.

devices/rpi_target.py's SshRunnerTarget fits it (mypy checks that where the platform hands itself over); the
runtimes type against this Protocol so that no runtime module imports a platform module (no import circle).
"""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from collections.abc import Mapping
from typing import Protocol

from devices.config import DeviceBase, JetsonDevice, RaspberryPiDevice
from devices.job import JobSpec, RawRun
from devices.transport import Transport

TIMEOUT_EXIT = 124  # coreutils `timeout` when the limit passed


class Host(Protocol):
    """A Linux target running rpi/runner.py (this host included): what the runner's runtime needs of it."""

    transport: Transport
    python: str
    same_clock: bool  # the runner runs on this host: its wall clock is the host's

    @property
    def config(self) -> DeviceBase: ...  # the device's validated config (devices.yaml)

    @property
    def runner_remote(self) -> str: ...
    def remote_model_path(self, local: Path) -> str: ...
    def runner_job(self, job: JobSpec, remote_model: str) -> Mapping[str, object]: ...
    def probe_session(self, job: JobSpec) -> AbstractContextManager[RawRun]: ...


class Board(Protocol):
    """A Linux board reached over a transport, running rpi/runner.py from its workdir."""

    transport: Transport
    workdir: str
    python: str
    cpufreq_glob: str

    @property
    def config(self) -> RaspberryPiDevice | JetsonDevice: ...

    def resolve(self) -> None: ...
    def prepare(self) -> None: ...
    def tool(self, name: str) -> str: ...
    def remote_model_path(self, local: Path) -> str: ...
    def runner_job(self, job: JobSpec, remote_model: str) -> Mapping[str, object]: ...
    def runner_argv(self, limit_s: float) -> list[str]: ...
    def board_clock_offset(self) -> float | None: ...
    def probe_session(self, job: JobSpec) -> AbstractContextManager[RawRun]: ...
    def temperatures(self) -> dict[str, float]: ...


class JetsonBoard(Board, Protocol):
    """A Jetson: its config names the TensorRT precisions and TF-TRT's fallback."""

    @property
    def config(self) -> JetsonDevice: ...


def companion(job: JobSpec, kind: str, runtime: str) -> tuple[Path | None, str | None]:
    """The prepared export of KIND for this job, or the one-line reason there is none."""
    path = job.companions.get(kind)
    if path is not None:
        return Path(path), None
    what = {"saved_model": "a SavedModel", "onnx": "an ONNX"}.get(kind, kind)
    return None, (f"runtime {runtime} needs {what} export of {Path(job.model_path).name}, made on the host in the "
                  "conversion phase (harness run does that); none was handed to the target")


def mean(values: Sequence[float] | None) -> float | None:
    return sum(values) / len(values) if values else None
