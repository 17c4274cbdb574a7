"""What a target reads of the bench settings: devices.config.BenchSettings itself, now that the device models
live in devices/ (it was a Protocol mirroring harness.planning.config.BenchSettings while they lived in harness/)."""
from __future__ import annotations

from devices.config import BenchSettings as Bench

__all__ = ["Bench"]
