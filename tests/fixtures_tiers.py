"""The test tiers: `pytest -m "not slow"` is the quick inner loop, `pytest` (every test) stays what CI runs.

A test is slow when it trains a model, converts through many passes, builds an app (Swift, JVM), starts a
Ray cluster or runs a whole `harness run` through the CLI: those files are listed here once, instead of a marker in each file, so the
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
    "test_compression_steps.py", "test_detection_int8.py", "test_ladder_baseline.py",
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
                             "test_fsrcnn_init.py"}),
    # the tiny detection proxy (`tiny_proxy` in tests/fixtures_converters.py): built and saved once for both
    "proxy": frozenset({"test_detection_int8.py", "test_detection_proxy.py"}),
}

# Wall seconds of the longest files (the sum of their tests' wall in one `-n 2` run of each tier on the shared
# 2-core host at load averages 16-40, 2026-12-06; on a quiet host each is about 4x less): the scheduler starts the
# heaviest first, so that the file still running when the other worker runs out of work is a short one. Only the
# order matters. A file not listed counts 2 s a test in the quick tier and 30 s in the slow one (each tier's mean
# per test: 469 s / 1001 tests and 1521 s / 214 tests on the quiet host, serial, times 4).
FILE_SECONDS: dict[str, float] = {
    # quick tier
    "test_live.py": 250, "test_accuracy_change_build.py": 206, "test_sustained.py": 165, "test_android_host.py": 142,
    "test_ssh_targets.py": 122, "test_ssh_jetson_probes.py": 121, "test_detection_proxy.py": 106,
    "test_bad_input.py": 105, "test_faults.py": 97, "test_litert_profile.py": 89, "test_compare_repeats.py": 87,
    "test_report.py": 56, "test_converters_analysis.py": 51, "test_ssh_faults.py": 49, "test_adb_target.py": 36,
    "test_user_task.py": 29, "test_ios_target.py": 25, "test_live_truth.py": 21, "test_first_run_costs.py": 21,
    "test_compare.py": 20, "test_recommend.py": 20, "test_peak_swing.py": 18, "test_regression.py": 18,
    "test_accuracy_change.py": 17, "test_interrupt.py": 16,
    # slow tier (the 83 of its 214 tests that ran before the run was stopped; test_user_models: 15 of its 16)
    "test_farm.py": 649, "test_channels.py": 603, "test_detection.py": 544, "test_farm_bind.py": 167,
    "test_user_models.py": 101, "test_farm_scale.py": 63, "test_walls.py": 27,
    # the builder files, each on its own worker (before they were one unit): -n 3 at load 18-44 on 2026-12-07,
    # scaled to this table's load by test_channels' two figures (1645 s then, 603 s here: x 0.37);
    # test_accuracy_change_build: 849 s there, 311 s scaled (its quick-tier figure above kept). The 7 files, -n 3:
    # 398 s CPU as separate units (load 18-44), 227 s as one unit (load 4-6, 6 min 14 s wall)
    "test_converters_passes.py": 834, "test_converters_build.py": 359,
    "test_accuracy_kept.py": 382, "test_fsrcnn_init.py": 114, "test_compression_steps.py": 223,
    # the arm64 board on a quiet host (load 4, last-timings.json): boot 7 s, setup 120 s, run 63 s, the kill
    # test about 60 s more; x 4 for this table's load. Unlisted it counted 5 x 30 s and could start late.
    "test_arm64_board.py": 1000,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).name in SLOW_FILES:
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
