"""The one interface between a platform and a runtime (the seam FAI-PEP draws between platforms/ and
frameworks/, TFLite's benchmark tool between its run loop and `RunImpl`).

`P` is what the runtime needs of its platform (a Protocol of the platform's transport and probes), `R` what
one run hands back to the platform, which wraps it in its own observations (power, temperatures, clocks).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from devices.runtimes import Runtime
from devices.job import JobSpec

P = TypeVar("P")
R = TypeVar("R")


class ModelRuntime(ABC, Generic[P, R]):
    """One registered runtime, built per target by `devices.runtime.load`."""

    # benchmark_model and trtexec print no timestamps: their timed loop is placed as ending when they returned.
    window_ends_at_return = False

    def __init__(self, entry: Runtime) -> None:
        self.entry = entry

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def ready(self) -> bool:
        """False until `prepare` put what it needs on the device (a platform prepares before the first job)."""
        return True

    def prepare(self, platform: P) -> None:
        """Put on the device what this runtime needs (a binary, an app, a helper script); nothing by default."""

    def facts(self, platform: P) -> dict[str, object]:
        """What `harness devices` shows of this runtime on this device (added to the platform's facts)."""
        return {}

    def abort(self, platform: P) -> None:
        """From another thread on Ctrl-C: ask the running job to end early with what it measured (the companion
        app's sustained loop); nothing by default, the platform's transport ends the rest."""

    @abstractmethod
    def run(self, platform: P, job: JobSpec) -> R:
        """Run one job on the platform; raise DeviceError/TransportError when the device or link fails."""
