"""What tying a local command to the harness costs: util-linux's setpriv against the Python exec wrapper.

Every command the local target runs (the runner, and the `mkdir`, `sha256sum`, `cat` around it) starts so that
Linux SIGKILLs it when the harness dies (devices/local.py). Side by side in one run, rounds alternated: the CPU of
one start of `true` each way and bare, and the CPU of one local measurement of a small SRCNN (the target's prepare
and one benchmark job: its commands and the runner), with how many commands that job started. Children's CPU
(RUSAGE_CHILDREN), medians of the rounds.

    python benchmarks/local_commands.py [--rounds 5] [--starts 40]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import devices.local as local  # noqa: E402
from devices.transport import CommandResult  # noqa: E402

WAYS = ("setpriv", "python wrapper")


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def as_way(way: str) -> Callable[[], tuple[str, str] | None]:
    """`local._setpriv` for one way: the real lookup, or none (the Python wrapper)."""
    real = local._setpriv
    return real if way == "setpriv" else (lambda: None)


def starts(way: str, n: int) -> float:
    """CPU ms of one start of `true`, the way given ('bare': not tied at all)."""
    c = children_cpu()
    for _ in range(n):
        argv = ["true"] if way == "bare" else local.tied_to(["true"], os.getpid(), way == "python wrapper")
        subprocess.run(argv, check=True)
    return (children_cpu() - c) / n * 1000


def one_job(model: Path) -> tuple[float, int]:
    """CPU s and commands of a fresh local target's prepare and one benchmark job of `model`."""
    from devices.local_target import LocalTarget
    from devices.target import JobSpec
    from harness.planning.config import BenchSettings, LocalDevice

    count = [0]
    real_run = local.LocalTransport.run

    def counted(self: local.LocalTransport, argv: Sequence[str], *, timeout_s: float,
                stdin: str | None = None) -> CommandResult:
        count[0] += 1
        return real_run(self, argv, timeout_s=timeout_s, stdin=stdin)

    local.LocalTransport.run = counted  # type: ignore[method-assign]
    try:
        c = children_cpu()
        target = LocalTarget(LocalDevice(name="local", kind="local"))
        target.prepare()
        bench = BenchSettings(threads=1, warmup_runs=2, warmup_s=0, min_runs=20, min_s=0, max_runs=20, cooldown_s=0)
        raw = target.benchmark(JobSpec(model_path=model, bench=bench))
        target.close()
        if raw.runner.get("error"):
            raise RuntimeError(raw.runner["error"])
        return children_cpu() - c, count[0]
    finally:
        local.LocalTransport.run = real_run  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--starts", type=int, default=40)
    args = ap.parse_args(argv)
    if not sys.platform.startswith("linux"):
        print("the commands are tied to the harness on Linux only; nothing to compare here")
        return 0
    if local._setpriv() is None:
        print("no setpriv with --pdeathsig on this host (util-linux 2.33 or later): the Python wrapper is used")
        return 0
    import tensorflow as tf
    import tf_keras as keras

    from converters.zoo import srcnn

    real = local._setpriv
    per_start: dict[str, list[float]] = {w: [] for w in ("bare", *WAYS)}
    per_job: dict[str, list[float]] = {w: [] for w in WAYS}
    commands: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        keras.utils.set_random_seed(0)
        model = Path(tmp) / "srcnn.tflite"
        model.write_bytes(tf.lite.TFLiteConverter.from_keras_model(srcnn(size=32, f2=1)).convert())
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")  # the local target's folder: a fresh one
        for r in range(args.rounds):
            for way in (WAYS if r % 2 == 0 else WAYS[::-1]):
                local._setpriv = as_way(way)  # type: ignore[assignment]
                try:
                    per_start[way].append(starts(way, args.starts))
                    cpu, n = one_job(model)
                finally:
                    local._setpriv = real
                per_job[way].append(cpu)
                commands[way] = n
            per_start["bare"].append(starts("bare", args.starts))
    med = {w: statistics.median(v) for w, v in per_start.items()}
    job = {w: statistics.median(v) for w, v in per_job.items()}
    print(f"\nmedians of {args.rounds} rounds ({args.starts} starts of `true` each way a round), children's CPU")
    print(f"{'way':<16}{'one start (ms)':>16}{'one job (s)':>13}{'commands a job':>16}")
    for w in ("bare", *WAYS):
        print(f"{w:<16}{med[w]:>16.1f}" + (f"{job[w]:>13.3f}{commands[w]:>16d}" if w in job else ""))
    print(f"\nsetpriv / python wrapper: one start {med['setpriv'] / med['python wrapper']:.2f}x, "
          f"one job {job['setpriv'] / job['python wrapper']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
