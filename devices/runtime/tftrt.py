"""TF-TRT on a Jetson (`runtime: tftrt`): the variant's SavedModel (exported on the host in the conversion
phase, JobSpec.companions["saved_model"]) is pushed and rpi/tftrt_runner.py converts it with the board's
TensorFlow, which must have TensorRT (JetPack's does; pip's never). Power is kept only for the timed loop, since
the runner's own TensorFlow import and conversion would otherwise dominate the tegrastats window. Nothing here
exports or converts on the host: that would run TensorFlow beside another device's measurement. In sustained
mode the runner's own sustained loop runs on the first precision only (a loop of minutes per job)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from devices.runtime.base import ModelRuntime
from devices.runtimes import Runtime
from devices.runtime.board import TIMEOUT_EXIT, JetsonBoard, companion, mean
from devices.job import JobSpec, RawRun, job_timeout_s, parse_runner_output
from devices.runner_result import RunnerResult
from devices.tree_push import push_tree

TFTRT_RUNNER_SOURCE = Path(__file__).resolve().parent.parent.parent / "rpi" / "tftrt_runner.py"
TFTRT_EXTRA = ("precision", "tensorrt_version", "conversion_us", "converted_now", "trt_engine_ops",
               "tf_ops_outside_trt", "gpus", "note", "warmup_runs_done")


class TfTrt(ModelRuntime[JetsonBoard, RawRun]):
    """Convert and time the SavedModel per precision on the board; the first is the row's figure."""

    def __init__(self, entry: Runtime) -> None:
        super().__init__(entry)
        self._pushed = False

    @property
    def ready(self) -> bool:
        return self._pushed

    def prepare(self, platform: JetsonBoard) -> None:
        platform.transport.push_if_changed(TFTRT_RUNNER_SOURCE, f"{platform.workdir}/tftrt_runner.py")
        self._pushed = True

    def run(self, platform: JetsonBoard, job: JobSpec) -> RawRun:
        platform.resolve()
        saved_model, why = companion(job, "saved_model", self.name)
        if saved_model is None:
            return RawRun(RunnerResult.failed(str(why)))
        remote_dir, pushed = push_tree(platform.transport, saved_model, f"{platform.workdir}/savedmodels")
        first: RawRun | None = None
        others: dict[str, dict[str, object]] = {}
        precisions = list(platform.config.tensorrt_precisions) or ["fp16"]
        sustained = bool(getattr(job.bench, "sustained_s", None))
        for precision in precisions[:1] if sustained else precisions:  # sustained: one loop per job
            raw = self.one(platform, job, remote_dir, precision)
            if first is None:
                first = raw
                raw.extra["saved_model"] = {"path": str(saved_model), **job.companion_origins.get("saved_model", {}),
                                            "remote": remote_dir, "pushed_now": pushed}
                if raw.result.error or raw.result.runtime != "tf-trt":
                    break  # no TensorRT (or plain TensorFlow): other precisions would repeat it
            else:
                r = raw.result
                others[precision] = {"error": r.error} if r.error else {
                    "mean_us": mean(r.latencies_us), "avg_power_mw": mean([p[1] for p in raw.power_samples])}
        assert first is not None
        if sustained and not first.result.error:
            first.extra["sustained_method"] = (f"the TF-TRT runner's own loop (rpi/runner.py _sustained_loop) on the "
                                               f"{precisions[0]} conversion only; other precisions not run")
        if others:
            first.extra["tftrt_other_precisions"] = others
        return first

    def one(self, platform: JetsonBoard, job: JobSpec, remote_dir: str, precision: str) -> RawRun:
        workdir = platform.workdir
        payload = {k: v for k, v in platform.runner_job(job, remote_dir).items()
                   if k not in ("model_path", "delegate")}
        payload.update(saved_model_dir=remote_dir, precision=precision,
                       allow_plain_tf=platform.config.tftrt_allow_plain_tf,
                       converted_dir=f"{workdir}/tftrt/{remote_dir.rsplit('/', 1)[-1]}")
        limit = job_timeout_s(job.bench)  # sustained: the whole loop plus loading
        argv = ["timeout", "-k", "5", f"{limit:.0f}", platform.python, f"{workdir}/tftrt_runner.py", "--job", "-"]
        offset = platform.board_clock_offset()
        with platform.probe_session(job) as raw:
            res = platform.transport.run(argv, timeout_s=limit + 30, stdin=json.dumps(payload))
        raw.result = parse_runner_output(res.stdout, res.stderr, res.exit_code)
        if res.exit_code == TIMEOUT_EXIT and raw.result.error:
            raw.result = replace(raw.result, error=f"tftrt runner still running after {limit:.0f} s (timeout_s); "
                                                        "killed on the board")
        said = raw.runner  # TF-TRT's own facts (conversion_us, ...) are keys the shared type does not name
        raw.extra["tftrt"] = {k: said[k] for k in TFTRT_EXTRA if said.get(k) is not None}
        # The host keeps power only inside the runner's timed window (harness.orchestration.measure), by the
        # samples' own timestamps: not the TensorFlow import, not the conversion.
        raw.clock_offset_s = offset
        return raw
