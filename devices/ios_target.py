"""An iPhone as a platform: reached over USB through devices/ios_adapter.py (pymobiledevice3), observed by its
battery's IOPMPowerSource while the companion app runs the job (devices/runtime/companion_app.py: the protocol
both apps speak, Core ML here).

The runtime pushes the model (an .mlpackage, unpacked from the cached zip, or a .tflite for apps built with the
TensorFlow Lite pod) and a job into the app's Documents, launches the app with `--job NAME` and collects
Documents/results/NAME.json; this platform samples the battery meanwhile and puts its readings on the row.

Energy: an iPhone on USB is powered by the host, so the battery's current includes charging; as on
Android, energy per inference is computed only when the battery reports neither charging nor external
power during the run; otherwise the readings are kept in extra and extra["energy_invalid"] says why.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from devices.config import IosDevice
from devices.energy_validity import battery_samples_verdict
from devices.ios_adapter import BatteryReading, IosAdapter, battery_reading
from devices.ios_connect import make_adapter
from devices.runtime import load as load_runtime
from devices.runtime.base import ModelRuntime
from devices.runtime.companion_app import AppRun, IosBlock
from devices.runtime.phone import IPhone
from devices.sampler import ProbeReading, ProbeSampler
from devices.target import JobSpec, RawRun, Target
from devices.timing import window_ending_at
from devices.transport import CommandResult, Transport
from errors import DeviceError

HOT_STATES = ("serious", "critical")  # ProcessInfo.thermalState values that mean throttling


class _NoTransport(Transport):
    """iOS has no shell: the adapter moves files. Target.close() still calls transport.close()."""

    name = "ios"

    def run(self, argv: Sequence[str], *, timeout_s: float, stdin: str | None = None) -> CommandResult:
        raise DeviceError("ios", "iOS targets run no shell commands")

    def push(self, local: Path, remote: str) -> None:
        raise DeviceError("ios", "use the iOS adapter")

    def pull(self, remote: str, local: Path) -> None:
        raise DeviceError("ios", "use the iOS adapter")

    def remove(self, remote: str) -> None:
        raise DeviceError("ios", "use the iOS adapter")


class IosTarget(Target):
    kind = "ios"

    config: IosDevice

    def __init__(self, config: IosDevice, adapter: IosAdapter | None = None) -> None:
        super().__init__(config, _NoTransport())
        self.adapter = adapter or make_adapter(config.udid, config.bundle_id)
        # the companion app, from the runtime registry (devices.yaml `runtime`, else the kind's default)
        self.runtime: ModelRuntime[IPhone, AppRun[IosBlock]] = load_runtime(self.kind, getattr(config, "runtime", None))
        self.job_t0 = 0.0  # host monotonic time the current job's observation began (sustained windows' clock)

    def facts(self) -> dict[str, object]:
        facts: dict[str, object] = dict(self.adapter.check_ready())
        facts["udid"] = self.config.udid
        facts.update(self.runtime.facts(self))
        batt = battery_reading(self.adapter.power_source())
        facts["battery"] = batt
        facts["temperatures_c"] = facts["thermal_zones"] = _battery_zone(batt)
        return facts

    def prepare(self) -> None:
        try:
            self.adapter.check_ready()
        except DeviceError as exc:  # "udid: reason" from the adapter, under this device's name
            raise DeviceError(self.name, str(exc)) from None
        self.runtime.prepare(self)

    def temperatures(self) -> dict[str, float]:
        return _battery_zone(battery_reading(self.adapter.power_source()))

    def probe(self, n: int) -> ProbeReading | None:
        """IOPMPowerSource: the battery's power, temperature and whether it is on external power."""
        r = battery_reading(self.adapter.power_source())
        if r is None:
            return None
        return ProbeReading(power_mw=r["power_mw"], temperatures_c=_battery_zone(r), external_power=r["charging"])

    def benchmark(self, job: JobSpec) -> RawRun:
        """The companion app runs the job; this platform reads the battery before, during and after it."""
        t0 = self.job_t0 = time.monotonic()
        before = battery_reading(self.adapter.power_source())
        with self.sampler(job.bench, t0) as sampler:
            run = self.runtime.run(self, job)
        after = battery_reading(self.adapter.power_source())
        return self.observed(run, before, after, sampler, time.time())

    def observed(self, run: AppRun[IosBlock], before: BatteryReading | None, after: BatteryReading | None,
                 sampler: ProbeSampler, after_wall: float) -> RawRun:
        """The app's result with what the platform saw: battery temperatures (where the app sent none), thermal
        states and throttling, battery power kept for energy only on battery and only over the timed window."""
        result, extra, block = run.result, run.extra, run.block or IosBlock()
        temps: list[tuple[float, str, dict[str, float]]] = []
        if before and before["temperature_c"] is not None:
            temps.append((0.0, "before", _battery_zone(before)))
        temps += sampler.temps
        if after and after["temperature_c"] is not None:
            temps.append((round(time.monotonic() - self.job_t0, 3), "after", _battery_zone(after)))
        if not result.error and not result.temperatures:
            result = replace(result, temperatures=tuple(temps))
        states = thermal_states(block)
        extra.update({"battery_before": before, "battery_after": after, "probe_failures": sampler.failures,
                      "thermal_states": states})
        if run.block:
            extra["ios"] = run.block
        raw = RawRun(result, throttled=any(s in HOT_STATES for s in states), extra=dict(extra), outputs=run.outputs)
        powered = sampler.external_power or any(r["charging"] for r in (before, after) if r)
        kept, said = battery_samples_verdict(
            sampler.power, powered, "ios", "no battery readings (diagnostics IORegistry IOPMPowerSource unreadable)")
        raw.extra.update(said)
        if not kept:
            return raw
        # the readings just before launch and after the result bracket the window
        edges = [(w, r["power_mw"], "battery") for w, r in ((run.launched_unix_s, before), (after_wall, after))
                 if r and w is not None]
        raw.power_samples = sorted([*kept, *edges])
        if not result.error and result.duration_s and run.seen_unix_s is not None:
            # The phone's clock is not the host's: the timed loop ended at the latest when its result was seen,
            # and lasted duration_s. An estimate, said so, like trtexec's window.
            raw.window_unix_s = window_ending_at(run.seen_unix_s, result.duration_s,
                                                 not_before_unix_s=run.launched_unix_s)
            raw.extra["power_window_estimated"] = ("timed loop placed on the host's clock as [result seen - "
                                                   "duration_s, result seen]: the phone's clock is not read")
        return raw

    def close(self) -> None:
        try:
            self.adapter.close()
        finally:
            super().close()


def thermal_states(block: Mapping[str, object]) -> list[str]:
    """ProcessInfo.thermalState before, during and after the run, as the app's `ios` block names them."""
    during = block.get("thermal_states_during")
    states = [block.get("thermal_state_before"), *(during if isinstance(during, list) else []),
              block.get("thermal_state_after")]
    return [str(s) for s in states if s]


def _battery_zone(r: BatteryReading | None) -> dict[str, float]:
    """The battery as the iPhone's one temperature zone; empty when it was not read."""
    return {"battery": r["temperature_c"]} if r and r["temperature_c"] is not None else {}


# mypy checks here that an iPhone is what the companion app's runtime needs (devices/runtime/phone.py)
_IPHONE_FITS: type[IPhone] = IosTarget
