"""The Swift side: `swift build` and `swift test` in ios_app/ (HarnessCore against the golden contracts).

Runs where a Swift toolchain is on PATH or at /opt/swift; skips with the reason elsewhere. The build
folder is ios_app/.build (git-ignored), so a second run only relinks.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "ios_app"
SKIP = "install the Swift 6 toolchain (swift.org) to build and test ios_app/"


def swift() -> str | None:
    found = shutil.which("swift")
    if found:
        return found
    fallback = Path("/opt/swift/usr/bin/swift")
    return str(fallback) if fallback.is_file() else None


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    exe = swift()
    if exe is None:
        pytest.skip(SKIP)
    env = {**os.environ, "PATH": f"{Path(exe).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([exe, *args, "--package-path", str(APP), "--scratch-path", str(APP / ".build")],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_swift_build():
    res = _run(["build"], timeout=1800)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]


def test_swift_test_passes_on_the_golden_contracts():
    res = _run(["test"], timeout=1800)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    executed = [int(n) for n in re.findall(r"Executed (\d+) tests?, with 0 failures", out)]
    assert executed and max(executed) >= 50, out[-3000:]  # the suites actually ran
    for suite in ("TimedLoopTests", "SSEParserTests", "ResultContractTests", "JobContractTests", "LiveStateTests",
                  "ReconnectTests", "IosBlockContractTests", "AndroidBlockContractTests", "ComputePlanTests",
                  "EvalPassTests", "HeadlessJobTests", "DelegateNamingTests"):
        assert f"Test Suite '{suite}' passed" in out, suite
    assert "skipped" not in out.lower() or "0 skipped" in out.lower(), "a contract file is missing"
