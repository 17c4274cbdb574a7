"""Boards reached over ssh that run rpi/runner.py, and the Raspberry Pi with its firmware probes.

`SshRunnerTarget` is what a Pi and a Jetson share: the ssh transport, a workdir on the board
(`~` resolved there), the runner run under `timeout` so an overrun is killed on the board too,
and a venv made by `harness devices setup` used when present. `RaspberryPiTarget` adds
vcgencmd (temperature, throttling bits decoded, ARM clock) and hwmon power, sampled while the
runner works.
"""
from __future__ import annotations


from devices.probes import vcgencmd as vc
from devices.config import JetsonDevice, RaspberryPiDevice
from devices.ssh import SshTransport
from devices.runtime.board import TIMEOUT_EXIT, Board
from devices.target import BoardSamples, JobSpec, RawRun, RunnerTarget, stream_clock
from devices.idle_baseline import split_idle
from devices.timing import WALL_CLOCK_ARGV, clock_offset_s
from devices.transport import Transport

__all__ = ["TIMEOUT_EXIT", "RaspberryPiTarget", "SshRunnerTarget", "judge_throttling", "stream_clock"]


class SshRunnerTarget(RunnerTarget):
    """A Linux board over ssh running the LiteRT runner."""

    kind = "ssh"

    config: RaspberryPiDevice | JetsonDevice

    def __init__(self, config: RaspberryPiDevice | JetsonDevice, transport: Transport | None = None) -> None:
        super().__init__(config, transport or SshTransport.from_config(config), config.workdir, config.python)
        self._resolved = False

    def sudo(self, argv: list[str]) -> list[str]:
        """`sudo -n` never prompts: without a sudoers rule it fails at once and the probe says so."""
        return ["sudo", "-n", *argv] if self.config.use_sudo else argv

    def tool(self, name: str) -> str:
        """A board tool's path from the config, `~` resolved on the board: every argument is quoted, and
        a quoted `~` stays literal."""
        path = getattr(self.config, name)
        expand = getattr(self.transport, "expand", None)
        return str(expand(path)) if expand is not None and path.startswith("~") else str(path)

    def resolve(self) -> None:
        """Absolute workdir on the board, and the venv's python when setup made one."""
        if self._resolved:
            return
        expand = getattr(self.transport, "expand", lambda p: p)
        self.workdir = expand(self.config.workdir).rstrip("/")
        self._runner_remote = f"{self.workdir}/runner.py"
        self.python = self.tool("python")
        if self.config.venv:
            venv_python = f"{self.workdir}/venv/bin/python"
            if self.transport.run(["test", "-x", venv_python], timeout_s=30).ok:
                self.python = venv_python
        self._resolved = True

    def prepare(self) -> None:
        self.resolve()
        super().prepare()

    def facts(self) -> dict[str, object]:
        facts = super().facts()
        facts["python_path"] = self.python
        facts["workdir"] = self.workdir
        if isinstance(self.transport, SshTransport):
            facts["address"] = f"{self.transport.user}@{self.transport.host}:{self.transport.port}"
        if getattr(self.config, "emulated", None):
            facts["emulated"] = self.config.emulated
        return facts

    def mark_emulated(self, raw: RawRun) -> RawRun:
        """An emulator's row says so (`emulated:` in devices.yaml): its timings are not a board's."""
        if getattr(self.config, "emulated", None):
            raw.extra["emulated"] = self.config.emulated
        return raw

    def runner_argv(self, limit_s: float) -> list[str]:
        return ["timeout", "-k", "5", f"{limit_s:.0f}", self.python, self._runner_remote, "--job", "-"]

    def board_clock_offset(self) -> float | None:
        """Host minus board wall clock, from one `date` round trip (its error is half the round trip):
        moves the runner's timed window onto the host's clock, where the power samples are."""
        return clock_offset_s(lambda: self.transport.run(WALL_CLOCK_ARGV, timeout_s=30).stdout)

    def benchmark(self, job: JobSpec) -> RawRun:
        """The registered runtime runs the job; an emulator's row says so whatever the runtime."""
        return self.mark_emulated(super().benchmark(job))


class RaspberryPiTarget(SshRunnerTarget):
    kind = "raspberry_pi"
    config: RaspberryPiDevice
    _throttled_before: vc.Throttled | None = None  # get_throttled just before the job's sampler started

    def _vcgencmd(self, *args: str) -> str:
        res = self.transport.run([self.tool("vcgencmd"), *args], timeout_s=30)
        return res.stdout + res.stderr

    def facts(self) -> dict[str, object]:
        facts = super().facts()
        if self.config.board_model:
            facts["board_detected"] = facts.get("board")
            facts["board"] = self.config.board_model
        # each answer after its command, so a bare `frequency(45)=...` is read as the clock it was asked for
        text = "\n".join(f"$ vcgencmd {' '.join((a, *rest))}\n" + self._vcgencmd(a, *rest) for a, *rest in
                         (("measure_temp",), ("get_throttled",), ("measure_clock", "arm"), ("measure_volts", "core")))
        readings = vc.parse_transcript(text)
        unavailable = None if readings else vc.problem(text) or text.strip()[:200] or "no output"
        facts["vcgencmd"] = readings or {"unavailable": unavailable}
        facts["power_sensor"] = self._power_sensor()
        missing = facts.get("missing")
        notes = [f"{key} empty: {why}" for key, why in (missing.items() if isinstance(missing, dict) else ())]
        if unavailable:
            notes.append(f"vcgencmd unavailable: {unavailable}")
        if notes:
            facts["notes"] = notes
        return facts

    def _power_sensor(self) -> str | None:
        script = ("for h in /sys/class/hwmon/hwmon*; do for f in \"$h\"/power*_input; do "
                  "[ -r \"$f\" ] && echo \"$(cat \"$h/name\") ${f##*/}\"; done; done; true")
        res = self.transport.run(["sh", "-c", script], timeout_s=30)
        first = res.stdout.strip().splitlines()[:1]
        return f"hwmon:{first[0]}" if first else None

    def temperatures(self) -> dict[str, float]:
        temps = super().temperatures()
        soc = vc.parse_temp(self._vcgencmd("measure_temp"))
        if soc is not None:
            temps["vcgencmd"] = soc
        return temps

    def board_sampler(self, job: JobSpec) -> list[str]:
        """vcgencmd (temperature, throttle bits, ARM clock) and hwmon power, every sample interval (>= 0.5 s)."""
        interval = max(0.5, float(job.bench.sample_interval_s))
        return ["sh", "-c", vc.SAMPLER_SCRIPT, "sh", self.tool("vcgencmd"), f"{interval:g}"]

    def before_sampling(self, raw: RawRun) -> None:
        self._throttled_before = vc.parse_throttled(self._vcgencmd("get_throttled"))

    def read_samples(self, raw: RawRun, board: BoardSamples) -> None:
        """Throttle bits before and after and the sampler's readings; power on the host's clock."""
        samples = vc.parse_sampler(board.lines)
        after = vc.parse_throttled(self._vcgencmd("get_throttled"))
        power = [(board.to_unix(s["t_s"]), mw, src) for s in samples
                 if (mw := s["power_mw"]) is not None and (src := s["power_source"]) is not None]
        raw.power_samples, raw.idle_power_samples = split_idle(power, board.busy_from, board.idle_s)
        if not raw.power_samples:  # the power columns stay empty; the row says why
            raw.extra["energy_invalid"] = "no power reading: no readable hwmon power*_input on this board" \
                if samples else "no power reading: the probe sampler printed nothing"
        raw.throttled, report = judge_throttling(self._throttled_before, after, samples)
        if samples:  # every reading, not only the peak and the flags seen (host clock, like the power samples)
            report["series"] = vc.sampler_series(samples, board.to_unix)
        raw.extra["raspberry_pi"] = report


def judge_throttling(before: vc.Throttled | None, after: vc.Throttled | None,
                     samples: list[vc.Sample]) -> tuple[bool, dict[str, object]]:
    """A run was throttled when any "now" bit was set at any sample, or a "since boot" bit appeared."""
    seen_now = sorted({flag for s in samples if s["throttled"] for flag in s["throttled"]["now"]}
                      | set(after["now"] if after else []))
    new_since = sorted(set(after["since_boot"] if after else []) - set(before["since_boot"] if before else []))
    temps = [s["temp_c"] for s in samples if s["temp_c"] is not None]
    problems = sorted({p for s in samples if (p := s["problem"])})
    report: dict[str, object] = {
        "throttled_before": before,
        "throttled_after": after,
        "throttled_during_run": seen_now,
        "throttled_since_boot_new": new_since,
        "soc_temp_c_max": max(temps, default=None),
        "samples": len(samples),
    }
    if before is None and after is None:
        report["vcgencmd_unavailable"] = problems[0] if problems else "no get_throttled reading"
    return bool(seen_now or new_since), report


# mypy checks here that a board is what its runtimes need (devices/runtime/board.py)
_BOARD_FITS: type[Board] = RaspberryPiTarget
