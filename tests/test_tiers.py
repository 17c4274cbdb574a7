"""The quick tier (`pytest -m "not slow"`): its list of slow files names real files, and the marker is declared."""
from __future__ import annotations

import tomllib
from pathlib import Path

from tests.fixtures_tiers import SLOW_FILES, SLOW_TESTS

TESTS = Path(__file__).resolve().parent



class _LoadfileConfig:
    """The two options the scheduler reads: `--dist loadfile` on two popen workers."""

    def getoption(self, name: str) -> object:
        return {"dist": "loadfile"}[name]

    def getvalue(self, name: str) -> object:
        return {"tx": ["2*popen"]}[name]

def test_every_slow_file_exists():
    """A renamed file would otherwise drop silently into the quick tier."""
    assert sorted(f for f in SLOW_FILES if not (TESTS / f).is_file()) == []


def test_every_slow_test_exists():
    """A renamed test would otherwise drop silently into the quick tier."""
    import ast

    missing = []
    for entry in sorted(SLOW_TESTS):
        file, name = entry.split("::")
        tree = ast.parse((TESTS / file).read_text())
        if not any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body):
            missing.append(entry)
    assert missing == []


def test_the_slow_marker_is_declared():
    config = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert any(m.startswith("slow:") for m in config["markers"])


def test_every_file_the_scheduler_names_exists():
    """A renamed Ray file would otherwise run beside another cluster; a renamed heavy file would start late."""
    from tests.fixtures_tiers import FILE_SECONDS, ONE_WORKER_GROUPS

    named = set(FILE_SECONDS).union(*ONE_WORKER_GROUPS.values())
    assert sorted(f for f in named if not (TESTS / f).is_file()) == []


def test_ray_files_are_one_unit_and_other_files_their_own():
    from tests.fixtures_tiers import unit_of

    assert unit_of("tests/test_farm.py::test_x") == unit_of("tests/test_faults.py::test_y[a-b]") == "group:ray"
    assert unit_of("tests/test_live.py::test_x") == "tests/test_live.py"
    assert unit_of("tests/test_live.py::test_x") != unit_of("tests/test_report.py::test_x")


def test_the_heaviest_unit_is_handed_out_first():
    """The xdist scheduler of tests/fixtures_tiers.py on a made-up queue: the measured heaviest file goes to the
    first free worker before a file with many more (unmeasured, so 2 s each) tests."""
    import pytest

    pytest.importorskip("xdist")
    from collections import OrderedDict

    from tests.fixtures_tiers import FILE_SECONDS, pytest_xdist_make_scheduler

    heavy = max(FILE_SECONDS, key=FILE_SECONDS.__getitem__)
    quick = {f"tests/test_many_quick.py::t{i}": False for i in range(int(FILE_SECONDS[heavy]) // 4)}

    class Node:
        def send_runtest_some(self, indexes: list[int]) -> None:
            sent.append(indexes)

    sent: list[list[int]] = []
    sched = pytest_xdist_make_scheduler(_LoadfileConfig(), None)
    sched.workqueue = OrderedDict([("tests/test_many_quick.py", quick), (f"tests/{heavy}", {f"tests/{heavy}::t": False})])
    node = Node()
    sched.registered_collections[node] = [*quick, f"tests/{heavy}::t"]
    sched._assign_work_unit(node)
    assert list(sched.assigned_work[node]) == [f"tests/{heavy}"] and sent == [[len(quick)]]


def test_an_unmeasured_slow_file_weighs_more_than_a_quick_one(monkeypatch):
    from tests.fixtures_tiers import FILE_SECONDS, unit_seconds

    monkeypatch.delitem(FILE_SECONDS, "test_arm64_board.py", raising=False)
    assert unit_seconds(["tests/test_arm64_board.py::a", "tests/test_arm64_board.py::b"]) == 60.0
    assert unit_seconds(["tests/test_unmeasured.py::a", "tests/test_unmeasured.py::b"]) == 4.0


def test_the_builder_files_are_one_unit():
    """The files that build the same tiny variants through the session builder share one worker's builder."""
    from tests.fixtures_tiers import unit_of

    files = ("test_accuracy_kept.py", "test_compression_steps.py", "test_converters_passes.py", "test_channels.py")
    assert {unit_of(f"tests/{f}::t") for f in files} == {"group:converters"}
    # the fp32 and int8 tests of the tiny detection proxy share its build (tests/fixtures_converters.tiny_proxy)
    assert unit_of("tests/test_detection_int8.py::t") == unit_of("tests/test_detection_proxy.py::t") == "group:proxy"


def test_the_run_lock_holds_off_another_process_until_released(tmp_path):
    """Of two workers that need the same untrained model, the second waits for the first (tests/fixtures_converters)."""
    import subprocess
    import sys

    from tests.fixtures_converters import lock_file, run_lock

    probe = ("import fcntl, sys\nf = open(sys.argv[1], 'a')\ntry:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
             "except BlockingIOError:\n    sys.exit(3)\n")
    path = str(lock_file(tmp_path, "source:srcnn@size=24"))
    with run_lock(tmp_path, "source:srcnn@size=24"):
        assert subprocess.run([sys.executable, "-c", probe, path], timeout=60).returncode == 3
    assert subprocess.run([sys.executable, "-c", probe, path], timeout=60).returncode == 0


def test_a_worker_that_replaces_a_crashed_one_gets_no_work_before_its_collection():
    """xdist's loadscope handed work to a replacement worker before its collection arrived and the run died on a
    KeyError (INTERNALERROR after the OOM killer took two workers at load ~30, 2026-12-07): it now waits for its
    collection and is shut down only when nothing is left."""
    import pytest

    pytest.importorskip("xdist")
    from collections import OrderedDict

    from tests.fixtures_tiers import pytest_xdist_make_scheduler

    class Node:
        shutting_down = False

        def send_runtest_some(self, indexes: list[int]) -> None:
            sent.append(indexes)

        def shutdown(self) -> None:
            self.shutting_down = True

    sent: list[list[int]] = []
    sched = pytest_xdist_make_scheduler(_LoadfileConfig(), None)
    sched.workqueue = OrderedDict([("tests/test_a.py", {"tests/test_a.py::t": False})])
    late = Node()
    sched.assigned_work[late] = {}
    sched._reschedule(late)  # not collected yet: no KeyError, no work, not shut down
    assert sent == [] and not late.shutting_down and "tests/test_a.py" in sched.workqueue
    sched.registered_collections[late] = ["tests/test_a.py::t"]
    sched._reschedule(late)
    assert sent == [[0]] and not sched.workqueue
    other = Node()
    sched.assigned_work[other] = {}
    sched._reschedule(other)  # nothing left: shut down without a collection
    assert other.shutting_down and sent == [[0]]


def test_the_timeline_records_each_test_s_worker_wall_and_cpu(tmp_path):
    """`HARNESS_TEST_TIMELINE=FILE`: one JSON line per test, and the summary names the file, its CPU and its worker."""
    import json
    import os
    import subprocess
    import sys

    (tmp_path / "test_busy.py").write_text("def test_spin():\n    sum(i * i for i in range(3_000_000))\n\n"
                                           "def test_idle():\n    pass\n")
    line_file = tmp_path / "timeline.jsonl"
    env = {**os.environ, "HARNESS_TEST_TIMELINE": str(line_file)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
                           "-p", "tests.fixtures_tiers", "--rootdir", str(tmp_path), str(tmp_path / "test_busy.py")],
                          cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [json.loads(x) for x in line_file.read_text().splitlines()]
    assert [x["test"].split("::")[1] for x in lines] == ["test_spin", "test_idle"]
    assert lines[0]["cpu_s"] > lines[1]["cpu_s"] and all(x["end"] >= x["start"] and x["worker"] == "main" for x in lines)
    from tests.fixtures_tiers import timeline_summary

    text = timeline_summary(lines)
    assert "2 tests" in text and "main: ends at" in text and "test_busy.py:" in text
