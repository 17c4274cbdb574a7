"""The test tiers: `pytest -m "not slow"` is the quick inner loop, `pytest` (every test) stays what CI runs.

A test is slow when it trains a model, converts through many passes, builds an app (Swift, JVM), starts a
Ray cluster or runs a whole `harness run` through the CLI: those files are listed here once, instead of a marker in each file, so the
list is read and kept in one place. Figures behind it: README "Tests: the quick tier".
"""
from __future__ import annotations

from pathlib import Path

import pytest

SLOW_FILES = frozenset({
    # trains zoo models or runs the compression passes end to end
    "test_accuracy_kept.py", "test_channels.py", "test_converters_build.py", "test_converters_coreml.py",
    "test_converters_passes.py", "test_fsrcnn_init.py", "test_pass_params.py", "test_user_models.py",
    "test_detection.py", "test_user_detection.py", "test_svd.py", "test_ladder.py", "test_progress_and_names.py",
    "test_compression_steps.py",
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)
