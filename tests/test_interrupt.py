"""Ctrl-C stops `harness run` within 2 s wherever it is: in a cool-down, or while the runner measures.

Real processes: `python -m harness run` on the local target, SIGINT sent to the harness process
only (as `kill -INT`; a terminal's Ctrl-C would also reach the runner child, which is easier).
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from tests.test_run_local import devices_file


def _start(tmp_path, tiny_tflite, isolated_cache, *extra: str) -> tuple[subprocess.Popen, list[str]]:
    env = {**os.environ, "XDG_CACHE_HOME": str(isolated_cache)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--devices", str(devices_file(tmp_path)), "--db",
         str(tmp_path / "r.db"), "--models", str(tiny_tflite), "--variants", "fp32", "--no-progress",
         "--no-peak-probe", "--warmup-seconds", "0", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def _wait_for(lines: list[str], text: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(text in line for line in lines):
            return
        time.sleep(0.05)
    raise AssertionError(f"never saw {text!r}: {''.join(lines)[-2000:]}")


def _interrupt_and_time(proc: subprocess.Popen) -> float:
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("harness run did not stop within 90 s of SIGINT")
    return time.monotonic() - t0


def _status(tmp_path) -> str:
    return sqlite3.connect(tmp_path / "r.db").execute("SELECT status FROM runs").fetchone()[0]


def test_sigint_during_a_cool_down_stops_within_2_s(tmp_path, tiny_tflite, isolated_cache):
    proc, lines = _start(tmp_path, tiny_tflite, isolated_cache, "--cooldown", "60", "--min-seconds", "0.2")
    _wait_for(lines, "tiny.tflite/fp32: ")  # converted (or cached): the worker now rests 60 s
    time.sleep(2.0)
    took = _interrupt_and_time(proc)
    print(f"stopped {took:.2f} s after SIGINT in a 60 s cool-down")
    assert proc.returncode == 130 and took < 2.0
    assert _status(tmp_path) == "interrupted"


def test_sigint_during_a_long_measurement_stops_within_2_s(tmp_path, tiny_tflite, isolated_cache):
    proc, lines = _start(tmp_path, tiny_tflite, isolated_cache, "--cooldown", "0", "--runs", "1",
                         "--min-seconds", "60", "--max-seconds", "120")
    _wait_for(lines, "tiny.tflite/fp32: ")
    time.sleep(4.0)  # the runner is measuring its 60 s window now
    took = _interrupt_and_time(proc)
    print(f"stopped {took:.2f} s after SIGINT in a 60 s measurement")
    assert proc.returncode == 130 and took < 2.0
    assert _status(tmp_path) == "interrupted"
    count = sqlite3.connect(tmp_path / "r.db").execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
    assert count == 0  # a job cut short is not a result; resume measures it
