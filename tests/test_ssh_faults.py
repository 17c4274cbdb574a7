"""Faults on real sshd boards: each job becomes a row with its error in time, the other device finishes,
no measured row is lost, and the failing device is retried or marked offline.

Loopback boards: sshd killed mid-run, a board rebooting, a runner crash, a full disk (tmpfs,
needs root). Namespace board (needs root): the link cut mid-run and mid-push.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from collections.abc import Callable

import pytest

from devices.ssh import SshTransport
from devices.transport import TransportError
from harness.orchestration import orchestrate
from harness.planning.config import parse_devices
from harness.store.db import ResultsDB
from harness.planning.plan import make_plan

FAST = {"warmup_s": 0.0, "warmup_runs": 1, "min_runs": 10, "min_s": 0.3, "cooldown_s": 0.0}
LONG = {"min_s": 30.0, "max_s": 40.0}  # a job still running when the fault strikes


def _models(tmp_path: Path, tiny: Path, n: int) -> list[str]:
    out = []
    for i in range(n):
        p = tmp_path / f"tiny{i}.tflite"
        shutil.copy(tiny, p)
        out.append(str(p))
    return out


def _runner_pids(root: Path) -> list[int]:
    """Runner processes working for a board (their command line names its workdir)."""
    needle = f"{root}/work".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if needle in cmd and b"--job" in cmd and b"timeout" not in cmd.split(b"\0")[0]:
                pids.append(int(entry.name))
    return pids


def kill_runners(root: Path) -> None:
    for pid in _runner_pids(root):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


class FaultWhenRunning:
    """Calls `action` once the first job of `device` has its runner running on the board."""

    def __init__(self, device: str, root: Path, action: Callable[[], None], after_s: float = 0.3) -> None:
        self.device, self.root, self.action, self.after_s = device, root, action, after_s
        self.at: float | None = None
        self._started = False

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "job_started" and payload.get("device") == self.device and not self._started:
            self._started = True
            threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        deadline = time.monotonic() + 30
        while not _runner_pids(self.root) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(self.after_s)
        self.at = time.time()
        self.action()


def run_plan(tmp_path: Path, devices: list[dict[str, Any]], models: list[str], events=None):
    # No peak probe: each fault is timed to hit a measured job, not the probe that would run first.
    plan = make_plan(parse_devices({"defaults": FAST, "devices": devices}), models=models, variants=["fp32"],
                     peak_probe=False)
    db_path = tmp_path / "results.db"
    summary = orchestrate.run(plan, db_path, events=events, cache_dir=tmp_path / "cache")
    db = ResultsDB(db_path)
    try:
        rows = db.measurements(summary.run_id)
    finally:
        db.close()
    by_device: dict[str, list[Any]] = {}
    for m in rows:
        by_device.setdefault(m.device, []).append(m)
    for ms in by_device.values():
        ms.sort(key=lambda m: m.model)
    return summary, by_device


def assert_steady(rows: list[Any], n: int) -> None:
    assert len(rows) == n and all(m.status == "ok" and len(m.latencies_us) >= 10 for m in rows), \
        [(m.status, m.error) for m in rows]


def test_sshd_killed_mid_run(new_board, sshd_board, tiny_tflite, tmp_path):
    victim = new_board("victim")
    fault = FaultWhenRunning("victim", victim.root, victim.kill)
    devices = [victim.device("victim", bench=LONG), sshd_board.device("steady", workdir=str(tmp_path / "steady"))]
    summary, rows = run_plan(tmp_path, devices, _models(tmp_path, tiny_tflite, 3), fault)
    assert_steady(rows["steady"], 3)
    first, second, third = rows["victim"]
    assert first.status == "error" and "link lost during `timeout`" in first.error
    assert first.finished_at - fault.at < 5, "the lost link was noticed late"
    assert second.status == "error" and "cannot reach" in second.error and "after 2 attempts" in second.error
    assert third.status == "error" and third.error.startswith("device offline after:")
    assert (summary.measured, summary.errors) == (3, 3)


def test_board_rebooting_is_retried_with_back_off(new_board, sshd_board, tiny_tflite, tmp_path):
    board = new_board("reboots")

    def reboot() -> None:
        board.kill()
        kill_runners(board.root)
        threading.Timer(2.5, board.start).start()

    fault = FaultWhenRunning("reboots", board.root, reboot)
    devices = [board.device("reboots", bench={"min_s": 5.0, "max_s": 10.0}, reconnect_attempts=5,
                            reconnect_backoff_s=1.0),
               sshd_board.device("steady", workdir=str(tmp_path / "steady"))]
    summary, rows = run_plan(tmp_path, devices, _models(tmp_path, tiny_tflite, 2), fault)
    assert_steady(rows["steady"], 2)
    first, second = rows["reboots"]
    assert first.status == "error" and "link lost" in first.error and first.finished_at - fault.at < 5
    # The board was down for 2.5 s: the next job reconnected after a few back-off rounds and measured.
    assert second.status == "ok", second.error
    assert len(second.latencies_us) >= 10 and second.started_at - fault.at < 20


def test_runner_crash_is_an_error_row_and_the_device_stays(sshd_board, tiny_tflite, tmp_path):
    real = sshd_board.device("x")["python"]
    wrapper = tmp_path / "crashing-python"
    # Like the OOM killer: the runner dies by SIGKILL one second into the job, printing nothing.
    wrapper.write_text(
        "#!/bin/sh\n"
        "case \" $* \" in *' --job '*)\n"
        f"  exec 3<&0; '{real}' \"$@\" <&3 & pid=$!; sleep 1; kill -KILL $pid; wait $pid; exit $?;;\n"
        "esac\n"
        f"exec '{real}' \"$@\"\n")
    wrapper.chmod(0o755)
    devices = [sshd_board.device("crashy", python=str(wrapper), workdir=str(tmp_path / "crashy"), bench=LONG),
               sshd_board.device("steady", workdir=str(tmp_path / "steady"))]
    t0 = time.time()
    summary, rows = run_plan(tmp_path, devices, _models(tmp_path, tiny_tflite, 2), None)
    assert_steady(rows["steady"], 2)
    for m in rows["crashy"]:
        assert m.status == "error" and m.error.startswith("runner: runner exited 137 without a result")
        assert m.finished_at - m.started_at < 10
    assert time.time() - t0 < 90
    assert not any("offline" in m.error for m in rows["crashy"]), "a crashing runner is not a dead board"


@pytest.fixture
def full_disk_dir(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs as the board's full disk")
    mnt = tmp_path / "tiny-disk"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {res.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(directory: Path) -> None:
    with open(directory / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass


def test_disk_full_on_the_board(sshd_board, tiny_tflite, tmp_path, full_disk_dir):
    workdir = full_disk_dir / "harness"

    def fill_on_first_job(kind: str, payload: dict[str, Any]) -> None:
        if kind == "job_started" and payload.get("device") == "full" and not (full_disk_dir / "filler").exists():
            _fill(full_disk_dir)  # after prepare() pushed the runner, before the model is pushed

    devices = [sshd_board.device("full", workdir=str(workdir)),
               sshd_board.device("steady", workdir=str(tmp_path / "steady"))]
    summary, rows = run_plan(tmp_path, devices, _models(tmp_path, tiny_tflite, 3), fill_on_first_job)
    assert_steady(rows["steady"], 3)
    first, second, third = rows["full"]
    assert first.status == "error" and first.error.endswith("failed (exit 1): cat: write error: No space left on device")
    assert "push " in first.error and "/models/" in first.error
    assert second.status == "error" and "No space left on device" in second.error
    assert third.error.startswith("device offline after:")
    assert (workdir / "runner.py").is_file()
    assert not list(workdir.rglob("*.part.*")), "a failed push left a partial file behind"


# ---- a board behind a link that goes down (network namespace) --------------------------------

def test_link_down_mid_run(netns_board, sshd_board, tiny_tflite, tmp_path):
    fault = FaultWhenRunning("far", netns_board.root, netns_board.link_down)
    devices = [netns_board.device("far", bench=LONG, dead_link_s=4, connect_timeout_s=2),
               sshd_board.device("steady", workdir=str(tmp_path / "steady"))]
    try:
        summary, rows = run_plan(tmp_path, devices, _models(tmp_path, tiny_tflite, 3), fault)
    finally:
        netns_board.link_up()
        kill_runners(netns_board.root)
    assert_steady(rows["steady"], 3)
    first, second, third = rows["far"]
    assert first.status == "error" and "link lost during `timeout`" in first.error
    noticed = first.finished_at - fault.at
    assert 2 < noticed < 4 + 3, f"a dead link with dead_link_s=4 was noticed after {noticed:.1f} s"
    print(f"link down mid-run noticed after {noticed:.1f} s (dead_link_s=4)")
    assert second.status == "error" and "cannot reach" in second.error
    assert third.error.startswith("device offline after:")


def test_link_down_mid_push_is_noticed_within_about_10_s(netns_board, tmp_path):
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        for i in range(64):
            fh.write(hashlib.sha256(str(i).encode()).digest() * 32768)  # 64 MiB
    remote = str(netns_board.root / "work" / "push" / "big.bin")
    cfg = netns_board.config_for("far-push")  # default dead_link_s: 10
    t = SshTransport.from_config(cfg)
    part_dir = Path(remote).parent
    outcome: dict[str, Any] = {}

    def push() -> None:
        try:
            t.push(big, remote)
            outcome["ok"] = True
        except TransportError as exc:
            outcome["error"], outcome["at"] = str(exc), time.time()

    try:
        worker = threading.Thread(target=push)
        worker.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            parts = list(part_dir.glob("*.part.*")) if part_dir.is_dir() else []
            if parts and parts[0].stat().st_size > 4 << 20:
                break
            time.sleep(0.01)
        else:
            pytest.fail("the push never started")
        cut = time.time()
        netns_board.link_down()
        worker.join(40)
        assert not worker.is_alive(), "push still hanging 40 s after the link went down"
        assert "error" in outcome, "the push cannot have finished through a dead link"
        assert "link lost during `sh`" in outcome["error"]
        noticed = outcome["at"] - cut
        assert noticed < 14, f"noticed after {noticed:.1f} s"
        assert not Path(remote).exists()
    finally:
        netns_board.link_up()
    # Back up: the transport reconnects and the push goes through, verified by sha256 on the board.
    t.push(big, remote)
    assert hashlib.sha256(Path(remote).read_bytes()).hexdigest() == hashlib.sha256(big.read_bytes()).hexdigest()
    t.close()
    deadline = time.monotonic() + 20  # the board's sshd drops the dead session (ClientAlive) and cleans up
    while list(part_dir.glob("*.part.*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not list(part_dir.glob("*.part.*"))
    print(f"link down mid-push noticed after {noticed:.1f} s")
