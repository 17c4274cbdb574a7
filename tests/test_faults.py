"""Faults a busy lab meets (issue 31): a database another process holds, a full disk, a native crash while a
model loads, a harness killed while its runner works, a warm-up that would never end. Each with the real
thing: a second SQLite connection holding the lock, SQLite's own "database or disk is full", a real segfault
in a child process, a real SIGKILL. What was measured is stored or kept for `--resume`; nothing is left
running; a run with failed rows exits 1."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from harness.orchestration.measure import error_measurement
from harness.store.db import ResultsDB
from harness.store.pending import pending_path
from harness.store.results import RunInfo

RUN = "20260101-000000-cccccc"


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


def _db_with_run(path: Path) -> ResultsDB:
    from harness.planning.config import local_only
    from harness.planning.plan import Plan

    db = ResultsDB(path)
    db.add_run(RunInfo(RUN, 1.0, "host", None, {}, Plan(("srcnn",), ("fp32",), local_only()).to_dict()))
    return db


def test_a_lock_that_outlasts_the_wait_keeps_the_row_and_says_locked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_DB_BUSY_S", "1")
    db = _db_with_run(tmp_path / "r.db")
    other = sqlite3.connect(tmp_path / "r.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # a DB browser, a backup, a notebook
    m = error_measurement(RUN, "local", "srcnn", "fp32", "device unreachable: test")
    t0 = time.monotonic()
    said = db.keep(m)
    waited = time.monotonic() - t0
    err = capsys.readouterr().err
    assert "locked by another process" in said and "kept in" in said and "damaged" not in said
    assert "waiting for" in err and "locked by another process" in err  # the wait is visible
    assert 0.9 <= waited < 15
    kept = [json.loads(line) for line in pending_path(tmp_path / "r.db").read_text().splitlines()]
    assert [(k["run_id"], k["model"], k["variant"]) for k in kept] == [(RUN, "srcnn", "fp32")]
    other.execute("ROLLBACK")
    other.close()
    assert db.store_pending() == 1 and not pending_path(tmp_path / "r.db").exists()
    assert [x.error for x in db.measurements(RUN)] == ["device unreachable: test"]
    db.close()


def test_a_full_disk_is_named_and_the_row_kept(tmp_path):
    db = _db_with_run(tmp_path / "r.db")
    pages = db._conn.execute("PRAGMA page_count").fetchone()[0]
    db._conn.execute(f"PRAGMA max_page_count={pages}")  # SQLite's own SQLITE_FULL, as on a full disk
    m = error_measurement(RUN, "local", "srcnn", "fp32", "x" * 200_000)
    said = db.keep(m)
    assert "disk full" in said and "kept in" in said and "damaged" not in said
    db._conn.execute("PRAGMA max_page_count=1073741823")
    assert db.store_pending() == 1
    assert db.measurements(RUN)[0].error == "x" * 200_000
    db.close()


def test_locked_database_on_a_write_command_is_not_called_damaged(tmp_path, device_outputs):
    db = tmp_path / "r.db"
    _db_with_run(db).close()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("PRAGMA journal_mode=DELETE")  # a tool that switched it back: readers wait too
    other.execute("BEGIN EXCLUSIVE")
    try:
        env = {**os.environ, "HARNESS_DB_BUSY_S": "1"}
        res = _cli("import", "benchmark_model", str(device_outputs / "benchmark_model.android_gpu.txt"),
                   "--store", "--db", str(db), env=env, timeout=120)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert res.returncode == 2, res.stderr
    assert "locked by another process" in res.stderr and "damaged" not in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_run_under_a_held_lock_keeps_measurements_and_resume_stores_them_unmeasured(tmp_path, tiny_tflite,
                                                                                    isolated_cache):
    """The catalog's 40 s `BEGIN EXCLUSIVE` while `harness run` commits: nothing measured is thrown away."""
    models = []
    for i in range(2):
        p = tmp_path / f"m{i}.tflite"
        shutil.copy(tiny_tflite, p)
        models.append(str(p))
    folder = tmp_path / "my results"  # a path the printed hint must quote
    folder.mkdir()
    db = folder / "r.db"
    devices = tmp_path / "devices.yaml"
    devices.write_text("devices:\n  - {name: local, kind: local}\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(isolated_cache), "HARNESS_DB_BUSY_S": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--devices", str(devices), "--db", str(db),
                             "--models", ",".join(models), "--variants", "fp32", "--runs", "5", "--min-seconds",
                             "0.05", "--warmup-seconds", "0", "--cooldown", "0", "--no-peak-probe", "--no-progress"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    other = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            con = sqlite3.connect(db, isolation_level=None, timeout=0.1)
            if con.execute("SELECT count(*) FROM runs").fetchone()[0]:
                con.execute("BEGIN EXCLUSIVE")  # held from the run's start until it has ended
                other = con
                break
            con.close()
        except sqlite3.OperationalError:
            pass
        time.sleep(0.02)
    out, err = proc.communicate(timeout=300)
    assert other is not None, err[-2000:]
    other.execute("ROLLBACK")
    other.close()
    assert proc.returncode == 1, out[-1500:] + err[-2000:]
    assert "locked by another process" in err and "damaged" not in err + out
    kept = [json.loads(line) for line in pending_path(db).read_text().splitlines()]
    assert sorted(k["model"] for k in kept) == ["m0.tflite", "m1.tflite"] and all(k["status"] == "ok" for k in kept)
    run_id = kept[0]["run_id"]
    assert f"--db '{db}'" in out  # the hint quotes the path
    res = _cli("run", "--resume", run_id, "--db", str(db), "--no-progress", env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "0 measured" in res.stdout and "2 already done" in res.stdout, res.stdout[-800:]
    con = sqlite3.connect(db)
    stored = {r[0]: json.loads(r[1]) for r in con.execute("SELECT model, data FROM measurements")}
    con.close()
    assert {k["model"]: k["latencies_us"] for k in kept} == {m: d["latencies_us"] for m, d in stored.items()}
    assert not pending_path(db).exists()


def test_a_native_crash_while_loading_stays_in_the_child():
    from converters import isolate

    with pytest.raises(isolate.NativeCrash, match=r"net.tflite: .*crashed loading it \(SIGSEGV"):
        isolate.call("ctypes", "string_at", 0, what="net.tflite")  # a real segfault, in native code
    assert isolate.call("os.path", "basename", "/a/b.tflite") == "b.tflite"  # and this process goes on


def test_model_loads_on_the_host_run_in_a_child(tiny_tflite, monkeypatch):
    """Validation, the XNNPACK analysis and a user .tflite's shapes are read in child processes: this
    process never loads the user's model into LiteRT."""
    from converters import analysis, isolate

    calls: list[tuple[str, str]] = []
    real = isolate.call

    def spy(module: str, function: str, *args, **kw):
        calls.append((module, function))
        return real(module, function, *args, **kw)

    monkeypatch.setattr(isolate, "call", spy)
    from converters.build import _validate_tflite

    _validate_tflite(tiny_tflite, "tiny.tflite")
    cov = analysis.xnnpack_coverage(tiny_tflite)
    assert cov["ops_total"] >= 1
    assert ("converters.analysis", "tflite_io") in calls and ("converters.analysis", "xnnpack_coverage_here") in calls


@pytest.mark.parametrize("python_wrapper", [False, True], ids=["setpriv", "python-wrapper"])
def test_runner_dies_with_a_killed_harness(tmp_path, python_wrapper):
    """SIGKILL of the process that started the runner: the runner goes too (PR_SET_PDEATHSIG), set by util-linux's
    setpriv where it has --pdeathsig, else by the Python exec wrapper."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    pidfile = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import threading, time
        import devices.local
        from devices.local import LocalTransport
        if {python_wrapper}:
            devices.local._setpriv = lambda: None
        t = threading.Thread(target=LocalTransport().run, args=(["sh", "-c", "echo $$ > {pidfile}; exec sleep 60"],),
                             kwargs={{"timeout_s": 120}})
        t.start()
        t.join()
    """)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (pidfile.exists() and pidfile.read_text().strip()):
        time.sleep(0.05)
    child = int(pidfile.read_text())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{child}/stat") as f:  # a zombie waiting for init is gone too
            if f.read().split(") ")[1].startswith("Z"):
                break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the runner outlived the harness that started it")


@pytest.mark.parametrize("python_wrapper", [False, True], ids=["setpriv", "python-wrapper"])
def test_a_command_whose_harness_died_before_it_started_does_not_run(tmp_path, python_wrapper):
    """Between fork and the death signal being set, the harness may die: then the command's parent is no longer the
    harness, and it exits 1 without running. Otherwise it runs with its arguments as given."""
    from devices.local import tied_to

    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    flag = tmp_path / "ran"
    res = subprocess.run(tied_to(["touch", str(flag)], 1, python_wrapper), capture_output=True, text=True)
    assert res.returncode == 1 and not flag.exists(), res.stderr
    res = subprocess.run(tied_to(["touch", str(flag)], os.getpid(), python_wrapper), capture_output=True, text=True)
    assert res.returncode == 0 and flag.exists(), res.stderr
    res = subprocess.run(tied_to(["printf", "%s|", "a b", "$HOME", "*", "", "-x;true"], os.getpid(), python_wrapper),
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.stdout == "a b|$HOME|*||-x;true|", res.stdout
    res = subprocess.run(tied_to(["no-such-program-here"], os.getpid(), python_wrapper), capture_output=True,
                         text=True)
    assert res.returncode == 127 and "no-such-program-here" in res.stderr, res.stderr


def test_local_commands_are_tied_through_setpriv_on_linux():
    """util-linux is essential on Debian and Ubuntu: its setpriv (3.3 ms of CPU a command) is used, not the Python
    wrapper (26.3 ms; benchmarks/local_commands.py)."""
    from devices.local import tied_to_this_process

    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    setpriv = shutil.which("setpriv")
    assert setpriv, "no setpriv on this Linux host: install util-linux (2.33 or later)"
    argv = tied_to_this_process(["true"])
    assert argv[:4] == [setpriv, "--pdeathsig", "KILL", "--"] and argv[4] == shutil.which("sh"), argv
    assert argv[-1] == "true", argv
    assert subprocess.run(argv).returncode == 0


def test_warmup_is_capped_by_max_seconds():
    from rpi.runner import timed_loop

    cfg = {"warmup_runs": 10**9, "warmup_s": 1e9, "min_runs": 3, "min_s": 0.0, "max_s": 0.3, "max_runs": 0,
           "sample_interval_s": 0.5}
    out: dict = {}
    worker = threading.Thread(target=lambda: out.update(timed_loop(lambda: time.sleep(0.001), cfg)), daemon=True)
    t0 = time.monotonic()
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "--warmup-runs 1e9 ignored --max-seconds"
    assert time.monotonic() - t0 < 5 and 0 < out["warmup_runs_done"] < 10**9 and len(out["latencies_us"]) >= 3


def test_a_run_with_failed_rows_exits_1(tmp_path, tiny_tflite, isolated_cache):
    devices = tmp_path / "devices.yaml"
    devices.write_text("devices:\n  - {name: local, kind: local}\n"
                       "  - {name: ghost, kind: local, python: /nonexistent/python, separate_machine: true}\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(isolated_cache)}
    res = _cli("run", "--devices", str(devices), "--db", str(tmp_path / "r.db"), "--models", str(tiny_tflite),
               "--variants", "fp32", "--runs", "5", "--min-seconds", "0.05", "--warmup-seconds", "0", "--cooldown",
               "0", "--no-peak-probe", "--no-progress", env=env)
    assert "1 measured, 1 errors" in res.stdout, res.stdout[-1000:] + res.stderr[-1500:]
    assert res.returncode == 1  # README: 1 when some rows failed


def test_local_devices_of_one_host_are_measured_in_turn(tmp_path, tiny_tflite, isolated_cache):
    from harness.orchestration import orchestrate
    from harness.planning.config import parse_devices
    from harness.planning.plan import make_plan

    devices = parse_devices({"devices": [{"name": "a", "kind": "local"}, {"name": "b", "kind": "local"}]})
    plan = make_plan(devices, models=[str(tiny_tflite)], variants=["fp32"], peak_probe=False,
                     overrides={"min_runs": 5, "min_s": 0.5, "warmup_s": 0.0, "cooldown_s": 0.0})
    summary = orchestrate.run(plan, tmp_path / "r.db")
    assert summary.measured == 2, [m.error for m in summary.results]
    a, b = sorted(summary.results, key=lambda m: m.started_at or 0)
    assert a.finished_at is not None and b.started_at is not None
    assert b.started_at >= a.finished_at  # one after the other: neither perturbs the other's timing


def test_import_store_into_a_locked_wal_database_is_one_line(tmp_path, device_outputs):
    db = tmp_path / "r.db"
    _db_with_run(db).close()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # WAL: readers go on, the write waits and then gives up
    try:
        res = _cli("import", "benchmark_model", str(device_outputs / "benchmark_model.android_gpu.txt"),
                   "--store", "--db", str(db), env={**os.environ, "HARNESS_DB_BUSY_S": "1"}, timeout=120)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-1500:]
    assert "locked by another process" in res.stderr and "waiting for" in res.stderr


def test_what_sqlite_says_is_named_not_called_damaged(tmp_path):
    """The words for SQLite's real errors: read-only and locked are healthy files; only a file that is not an
    SQLite database is "damaged"."""
    from harness.store.pending import explain

    path = tmp_path / "r.db"
    _db_with_run(path).close()
    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as readonly:
        ro.execute("DELETE FROM runs")
    ro.close()
    said = explain(path, readonly.value)
    assert "read-only" in said and "damaged" not in said
    garbage = tmp_path / "g.db"
    garbage.write_bytes(b"not sqlite at all\n" * 100)
    with pytest.raises(sqlite3.DatabaseError) as notdb:
        sqlite3.connect(garbage).execute("SELECT * FROM sqlite_master").fetchall()
    assert "damaged or not a results database" in explain(garbage, notdb.value)
    truncated = tmp_path / "t.db"
    truncated.write_bytes(path.read_bytes()[:100] + b"\0" * 50)
    with pytest.raises(sqlite3.DatabaseError) as cut:
        sqlite3.connect(truncated).execute("SELECT count(*) FROM runs").fetchall()
    assert "damaged" not in explain(truncated, cut.value) and "SQLite database" in explain(truncated, cut.value)


def _descendants(pid: int) -> set[int]:
    """Every process whose parent chain reaches `pid`, or whose session is `pid`'s child's (ray start's own)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # ppid
            child = int(entry.name)
            found |= {child} | _descendants(child)
    return found


def _session_members(sid: int) -> set[int]:
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                members.add(int(entry.name))
    return members


def test_farm_up_stopped_during_its_start_up_wait_leaves_no_ray_behind(tmp_path):
    """SIGTERM while `farm up` waits for `ray start --head`: ray start and gcs_server go too."""
    import socket

    pytest.importorskip("ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen([sys.executable, "-m", "harness", "farm", "up", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    ray_start = None
    left: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and ray_start is None:
            for child in _descendants(head.pid):
                try:
                    if b"start" in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0"):
                        ray_start = child
                except OSError:
                    continue
            time.sleep(0.1)
        assert ray_start is not None, "ray start never began"
        time.sleep(1.0)  # inside the start-up wait: ray start is bringing up gcs_server
        head.send_signal(signal.SIGTERM)
        head.communicate(timeout=90)
        deadline = time.monotonic() + 30
        left = _session_members(ray_start)
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = _session_members(ray_start)
        assert not left, "ray processes left running after farm up was stopped"
    finally:  # whatever happened above, this test leaves nothing of its own behind
        if head.poll() is None:
            head.kill()
            head.wait()
        for pid in _session_members(ray_start) if ray_start else ():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_sigkill_of_harness_run_ends_its_runner_at_once(tmp_path, tiny_tflite, isolated_cache):
    """The catalog's case: `kill -9` of `harness run` mid-measurement used to leave the runner timing for up to
    max_s, so a `--resume` started at once was measured beside it."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    devices = tmp_path / "devices.yaml"
    devices.write_text("devices:\n  - {name: local, kind: local}\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(isolated_cache)}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--devices", str(devices), "--db",
                             str(tmp_path / "r.db"), "--models", str(tiny_tflite), "--variants", "fp32", "--runs",
                             "5", "--min-seconds", "60", "--warmup-seconds", "0", "--cooldown", "0",
                             "--no-peak-probe", "--no-progress"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    runner = None
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and runner is None and proc.poll() is None:
            for pid in _descendants(proc.pid):
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if any(a.endswith(b"runner.py") for a in argv):
                    runner = pid
            time.sleep(0.1)
        assert runner is not None, "the runner never started"
        time.sleep(1.0)  # measuring now
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        alive = True
        while alive and time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{runner}/stat").read_text().rsplit(")", 1)[1].split()[0]
                alive = state != "Z"
            except OSError:
                alive = False
            time.sleep(0.05)
        assert not alive, "the runner outlived the killed harness"
    finally:
        if proc.poll() is None:
            proc.kill()
        if runner is not None:
            try:
                os.kill(runner, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_dynamic_input_runs_at_the_shape_the_user_gives(tmp_path, isolated_cache):
    import tensorflow as tf

    from converters.analysis import tflite_io

    net = tf.keras.Sequential([tf.keras.Input((None, None, 3)), tf.keras.layers.Conv2D(2, 3, padding="same")])
    model = tmp_path / "dyn.tflite"
    model.write_bytes(tf.lite.TFLiteConverter.from_keras_model(net).convert())
    name = tflite_io(str(model))["inputs"][0]["name"]
    devices = tmp_path / "devices.yaml"
    devices.write_text("devices:\n  - {name: local, kind: local}\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(isolated_cache)}
    common = ["run", "--devices", str(devices), "--db", str(tmp_path / "r.db"), "--models", str(model), "--variants",
              "fp32", "--runs", "5", "--min-seconds", "0.05", "--warmup-seconds", "0", "--cooldown", "0",
              "--no-peak-probe", "--no-progress"]
    bad = _cli(*common, "--input-shape", f"{name}=1x16x16", env=env)
    assert bad.returncode == 2 and "does not fit" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    res = _cli(*common, "--input-shape", f"{name}=1x16x24x3", env=env)
    assert res.returncode == 0, res.stdout[-800:] + res.stderr[-1500:]
    con = sqlite3.connect(tmp_path / "r.db")
    (data,) = con.execute("SELECT data FROM measurements").fetchone()
    con.close()
    row = json.loads(data)
    assert row["status"] == "ok" and row["extra"]["inputs"][0]["shape"] == [1, 16, 24, 3], row["extra"]["inputs"]
