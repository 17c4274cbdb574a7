"""The test tiers: `pytest -m "not slow"` is the quick inner loop, `pytest` (every test) stays what CI runs.

A test is slow when it trains a model, converts through many passes, builds an app (Swift, JVM), starts a
Ray cluster or runs a whole `harness run` through the CLI: those files (and single such tests of quick files) are listed here once, instead of a marker in each file, so the
list is read and kept in one place. Figures behind it: README "Tests: the quick tier".

Both tiers run on three pytest-xdist workers (`-n 3 --dist loadfile` in pyproject.toml's addopts; README "Tests in
parallel"): a file's tests stay on one worker (its module fixtures are built once), the files that share a
machine-wide resource go to one worker as one unit, and the heaviest files start first.
"""
from __future__ import annotations

import json
import os
import resource
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SLOW_FILES = frozenset({
    # trains zoo models or runs the compression passes end to end
    "test_accuracy_kept.py", "test_channels.py", "test_converters_build.py", "test_converters_coreml.py",
    "test_converters_passes.py", "test_fsrcnn_init.py", "test_pass_params.py", "test_user_models.py",
    "test_detection.py", "test_user_detection.py", "test_svd.py", "test_ladder.py", "test_progress_and_names.py",
    "test_compression_steps.py", "test_detection_int8.py", "test_ladder_baseline.py", "test_keras_export.py",
    # builds or runs an app or a cluster
    "test_ios_app.py", "test_android_core.py", "test_farm.py", "test_farm_bind.py", "test_farm_scale.py",
    # whole `harness run`s through the CLI in subprocesses (zoo conversions, simulated phones and boards, nightly
    # series), or lint-imports on copies of the tree: the heaviest of the rest by CPU seconds measured per test
    "test_run_local.py", "test_tftrt.py", "test_quiet.py", "test_ios_e2e.py", "test_adb_e2e.py",
    "test_report_nightly.py", "test_ios_live_client.py", "test_nightly_policy.py", "test_walls.py",
    # boots Debian arm64 under qemu-system-aarch64 (TCG) and sets it up from nothing
    "test_arm64_board.py",
    # a heating Jetson through trtexec on the ssh simulator
    "test_trtexec_sustained.py",
})

# Single tests that train or fine-tune a model in files that are otherwise quick: CPU seconds of each in the idle
# whole-suite run of 2026-12-07 08:35 (tests/fixtures_tiers.py timeline); together 226 of the quick tier's 508.
SLOW_TESTS = frozenset({
    "test_shipped_weights.py::test_retraining_here_reaches_the_shipped_accuracy",  # 83
    "test_distillation.py::test_prune_channels_and_its_control_carry_the_same_distillation",  # 55
    "test_accuracy_change_build.py::test_a_pruned_variant_carries_its_control_s_scores_on_the_same_images",  # 40
    "test_classification_data.py::test_shipped_squeezenet_is_trained_and_well_below_the_ceiling",  # 31
    "test_distillation.py::test_a_fine_tune_with_a_teacher_moves_the_student_towards_it",  # 17
    # 48 CPU-s in the idle whole-suite run of 2026-12-07 14:50 (the Intel host): two deep_compression builds
    "test_prune_layers.py::test_the_built_variant_records_its_per_layer_rule",
})

# Files that start Ray clusters (`farm up`, ray.cluster_utils): one cluster at a time on this machine, so they run
# one after the other on one worker, as one unit.
# Files that build the same tiny zoo variants through the session `builder` (tests/fixtures_converters.py): on one
# worker each model's source, fp32 reference and fine-tuned passes (factorize, prune_channels, deep_compression) are
# built once per run instead of once per worker, and always in the same order (the pruned model a file compares
# against is the one it built first). The two files that convert the tiny detection proxy share its build.
ONE_WORKER_GROUPS = {
    "ray": frozenset({"test_farm.py", "test_farm_bind.py", "test_farm_scale.py", "test_faults.py"}),
    "converters": frozenset({"test_accuracy_change_build.py", "test_accuracy_kept.py", "test_channels.py",
                             "test_compression_steps.py", "test_converters_build.py", "test_converters_passes.py",
                             "test_fsrcnn_init.py", "test_prune_layers.py"}),
    # the tiny detection proxy (`tiny_proxy` in tests/fixtures_converters.py): built and saved once for both
    "proxy": frozenset({"test_detection_int8.py", "test_detection_proxy.py"}),
}

# Wall seconds of the longest files: the sum of their tests' wall in one whole-suite run (`.ci/run` on a clean
# clone, three workers, this 2-core VM otherwise idle, 2026-12-07 08:35-08:53; its timeline, HARNESS_TEST_TIMELINE),
# every file of 10 s or more. The scheduler starts the heaviest units first, so that the unit still running when
# the other workers run out of work is a short one (in that run test_user_models, listed at a guessed 101 s, started
# at 726 s and ran 377 s: the last to end). Only the order matters. A file not listed counts 2 s a test in the
# quick tier and 30 s in the slow one (a new slow file is not known to be light: it starts early).
FILE_SECONDS: dict[str, float] = {
    "test_farm.py": 671, "test_user_models.py": 377, "test_arm64_board.py": 327, "test_shipped_weights.py": 153,
    "test_accuracy_kept.py": 128, "test_distillation.py": 127, "test_farm_bind.py": 122, "test_channels.py": 94,
    "test_ladder.py": 93, "test_sustained.py": 74, "test_run_local.py": 72, "test_detection.py": 70,
    "test_accuracy_change_build.py": 65, "test_compression_steps.py": 59, "test_converters_build.py": 53,
    "test_tftrt.py": 48, "test_report_nightly.py": 45, "test_converters_passes.py": 45,
    "test_ssh_jetson_probes.py": 44, "test_classification_data.py": 43, "test_ssh_faults.py": 41,
    "test_ssh_targets.py": 38, "test_farm_scale.py": 26, "test_adb_e2e.py": 25, "test_live.py": 24,
    "test_faults.py": 23, "test_quiet.py": 21, "test_converters_coreml.py": 20, "test_android_host.py": 20,
    "test_trtexec_sustained.py": 16, "test_detection_int8.py": 16, "test_pools.py": 16, "test_bad_input.py": 16,
    "test_progress_and_names.py": 16, "test_svd.py": 15, "test_keras_export.py": 15, "test_adb_target.py": 15,
    "test_ios_e2e.py": 14,
    "test_android_app_sustained.py": 12, "test_user_detection.py": 11, "test_nightly_policy.py": 11,
    "test_ios_live_client.py": 11, "test_interleave.py": 10,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        name = Path(str(item.fspath)).name
        if name in SLOW_FILES or f"{name}::{item.name.split('[', 1)[0]}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


def unit_of(nodeid: str) -> str:
    """The scheduling unit of a test: its file, or the group its file belongs to."""
    path = nodeid.split("::", 1)[0]
    name = Path(path).name
    for group, files in ONE_WORKER_GROUPS.items():
        if name in files:
            return f"group:{group}"
    return path


def unit_seconds(nodeids: list[str]) -> float:
    """What a unit of these tests is expected to take: its files' measured seconds, or their tier's mean."""
    tests = Counter(Path(n.split("::", 1)[0]).name for n in nodeids)
    return sum(FILE_SECONDS.get(name, count * (30.0 if name in SLOW_FILES else 2.0)) for name, count in tests.items())


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile`, with the groups above kept on one worker and the heaviest units started first."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class HeaviestFirst(LoadFileScheduling):
        _ordered = False

        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

        def _reschedule(self, node: Any) -> None:
            # A worker that replaces a crashed one (the OOM killer on a loaded host) is in `nodes` before its
            # collection arrives; xdist's loadscope then handed it work and died on a KeyError (INTERNALERROR,
            # the whole run lost). It gets work when its collection is registered (`schedule()` runs again).
            if node in self.registered_collections or not self.workqueue:
                super()._reschedule(node)

        def _assign_work_unit(self, node: Any) -> None:
            if not self._ordered:
                self._ordered = True
                units = sorted(self.workqueue.items(), key=lambda kv: -unit_seconds(list(kv[1])))
                self.workqueue = OrderedDict(units)
            super()._assign_work_unit(node)

    return HeaviestFirst(config, log)


# `HARNESS_TEST_TIMELINE=FILE pytest ...`: each worker appends one JSON line per test (worker, nodeid, start and
# end on the wall clock, CPU seconds of the worker and of the children it waited for), so a run says which unit
# ran where and when, and what each file costs in CPU whatever the load (`python -m tests.fixtures_tiers FILE`).
# A test's line includes its fixtures' teardown, and a child's CPU counts when the child is reaped: the last test
# of a module carries its module fixtures' children (test_farm's last test: the Ray lab's four nodes, 34.5 CPU-s in
# 2.3 s), a worker's last test its session fixtures' children (the kept isolate worker, sshd, the adb server:
# 61 CPU-s in 1 s for test_serve_addresses, a worker's last), and children never reaped by the worker (the daemons
# of a `ray start`) count nowhere.
TIMELINE_ENV = "HARNESS_TEST_TIMELINE"


def _cpu() -> tuple[float, float]:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    path = os.environ.get(TIMELINE_ENV)
    if not path:
        yield
        return
    start, (own0, kids0) = time.time(), _cpu()
    yield
    own1, kids1 = _cpu()
    # this session's own xdist worker id (an inherited PYTEST_XDIST_WORKER names the parent's worker: a pytest
    # started from inside a test of an xdist run)
    worker = getattr(item.config, "workerinput", {}).get("workerid", "main")
    line = {"worker": worker, "test": item.nodeid, "start": start,
            "end": time.time(), "cpu_s": round(own1 - own0, 3), "children_cpu_s": round(kids1 - kids0, 3)}
    with open(path, "a") as fh:
        fh.write(json.dumps(line) + "\n")


def timeline_summary(lines: list[dict[str, Any]]) -> str:
    """Per worker: when its last test ended and its units in order; per file: wall and CPU seconds."""
    t0 = min(x["start"] for x in lines)
    out = [f"{len(lines)} tests, {max(x['end'] for x in lines) - t0:.0f} s from the first start to the last end; "
           f"CPU {sum(x['cpu_s'] + x['children_cpu_s'] for x in lines):.0f} s (workers + waited-for children)"]
    by_file: dict[str, list[float]] = {}
    for worker in sorted({x["worker"] for x in lines}):
        mine = sorted((x for x in lines if x["worker"] == worker), key=lambda x: x["start"])
        units: list[str] = []
        for x in mine:
            unit = unit_of(x["test"])
            if not units or units[-1].split(" ")[0] != unit:
                units.append(f"{unit} @{x['start'] - t0:.0f}")
        out.append(f"{worker}: ends at {mine[-1]['end'] - t0:.0f} s; " + ", ".join(units))
    for x in lines:
        f = by_file.setdefault(Path(x["test"].split("::", 1)[0]).name, [0.0, 0.0, 0])
        f[0] += x["end"] - x["start"]
        f[1] += x["cpu_s"] + x["children_cpu_s"]
        f[2] += 1
    out.append("file: wall s, CPU s, tests (heaviest CPU first)")
    for name, (wall, cpu, n) in sorted(by_file.items(), key=lambda kv: -kv[1][1]):
        out.append(f"  {name}: {wall:.0f}, {cpu:.0f}, {n:.0f}")
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    print(timeline_summary([json.loads(l) for l in Path(sys.argv[1]).read_text().splitlines() if l.strip()]))
