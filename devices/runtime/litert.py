"""The LiteRT runner (rpi/runner.py), the default runtime of every Linux target: the job as JSON on stdin, one
JSON line back. On a board over ssh it runs under `timeout` so an overrun dies on the board too, and the board's
clock offset moves its timed window onto the host's clock."""
from __future__ import annotations

import json
from dataclasses import replace

from devices.runtime.base import ModelRuntime
from devices.runtime.board import TIMEOUT_EXIT, Board, Host
from devices.job import JobSpec, RawRun, job_timeout_s, parse_runner_output


class LitertRunner(ModelRuntime[Board, RawRun]):
    """`runtime: litert` (the default) on a Raspberry Pi, a Jetson or any ssh board."""

    def run(self, platform: Board, job: JobSpec) -> RawRun:
        platform.resolve()
        remote = platform.remote_model_path(job.model_path)
        platform.transport.push_if_changed(job.model_path, remote)
        payload = json.dumps(platform.runner_job(job, remote))
        limit = job_timeout_s(job.bench)
        offset = platform.board_clock_offset()
        with platform.probe_session(job) as raw:
            res = platform.transport.run(platform.runner_argv(limit), timeout_s=limit + 30, stdin=payload)
        raw.result = parse_runner_output(res.stdout, res.stderr, res.exit_code)
        raw.clock_offset_s = offset
        if res.exit_code == TIMEOUT_EXIT and raw.result.error:
            raw.result = replace(raw.result, error=f"runner still running after {limit:.0f} s (timeout_s); killed "
                                                    "on the board")
        return raw


class HostLitert(ModelRuntime[Host, RawRun]):
    """The runner as a subprocess of this host (kind local), exactly as it runs on a board."""

    def run(self, platform: Host, job: JobSpec) -> RawRun:
        remote = platform.remote_model_path(job.model_path)
        platform.transport.push_if_changed(job.model_path, remote)
        payload = json.dumps(platform.runner_job(job, remote))
        with platform.probe_session(job) as raw:
            res = platform.transport.run([platform.python, platform.runner_remote, "--job", "-"],
                                         timeout_s=job_timeout_s(job.bench), stdin=payload)
        raw.result = parse_runner_output(res.stdout, res.stderr, res.exit_code)
        if raw.clock_offset_s is None and platform.same_clock:
            raw.clock_offset_s = 0.0
        return raw
