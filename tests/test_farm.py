"""The device farm on a real multi-node Ray cluster on this machine.

One cluster (a head and three agent nodes, each node its own raylet and object store) serves the
module; agents own local-kind devices that run the real runner on a tiny .tflite. Faults are real:
a node's processes SIGKILLed, a coordinator process SIGKILLed, a device interpreter that hangs.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="pip install 'ray==2.60.0' (the `farm` extra)")
from ray.cluster_utils import Cluster  # noqa: E402

from errors import UserError  # noqa: E402
from harness.farm.agent import announce, node_resources  # noqa: E402
from harness.farm.cluster import AGENT_MARK, Registry, device_resource, registry  # noqa: E402
from harness.farm.coordinator import Farm  # noqa: E402
from harness.orchestration import orchestrate  # noqa: E402
from harness.planning.config import parse_devices  # noqa: E402
from harness.planning.plan import make_plan  # noqa: E402
from harness.store.db import ResultsDB  # noqa: E402

AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
FAST = {"min_runs": 5, "min_s": 0.3, "warmup_s": 0.0, "cooldown_s": 0.0, "threads": 1}
MB = 1024 * 1024
# Short health checks, so a SIGKILLed node is declared dead in about a second, not half a minute.
# No log monitor, as `farm up` and `harness agent` start their nodes (harness.farm.node.NO_LOG_MONITOR).
HEAD = {"num_cpus": 0, "object_store_memory": 80 * MB, "include_dashboard": False, "include_log_monitor": False,
        "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 2,
                           "health_check_initial_delay_ms": 0}}


def _devices(*items: dict) -> object:
    return parse_devices({"devices": list(items)}, "test")


def _hang_interpreter(path: Path, seconds: str) -> str:
    """A device whose interpreter never answers: the runner's place is taken by a long sleep."""
    path.write_text(f"#!/bin/sh\nexec sleep {seconds}\n")
    path.chmod(0o755)
    return str(path)


def _pids_running(argv: list[str]) -> list[tuple[int, int]]:
    """(pid, parent pid) of this machine's processes with exactly this command line."""
    out = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().split(b"\0")[:-1] == [a.encode() for a in argv]:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                out.append((int(proc.name), ppid))
        except (OSError, ValueError, IndexError):
            continue
    return out


class Lab:
    """The module's cluster, its agents (name -> node) and what each one owns."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cluster = Cluster(initialize_head=True, head_node_args=HEAD)
        self.address = self.cluster.address
        self.nodes: dict[str, object] = {}
        self.files: dict[str, object] = {}
        ray.init(address=self.address, namespace="harness", log_to_driver=False, logging_level="ERROR")

    def join(self, name: str, devices_file: object, *, facts: bool = False, version: str | None = None) -> dict:
        """What `harness agent` does once its node is up: a node with the device resources, then announce."""
        node = self.cluster.add_node(num_cpus=1, object_store_memory=80 * MB, node_name=name, include_log_monitor=False,
                                     resources={**node_resources(devices_file), f"{AGENT_MARK}{name}": 1.0})
        self.nodes[name] = node
        self.files[name] = devices_file
        return announce(devices_file, name, node.node_id, facts=facts, version=version)

    def kill(self, name: str) -> None:
        """SIGKILL every process of the agent's node (raylet, object store, its workers)."""
        self.cluster.remove_node(self.nodes.pop(name), allow_graceful=False)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("farm")
    old = {k: os.environ.get(k) for k in ("XDG_CACHE_HOME", "RAY_USAGE_STATS_ENABLED", "HARNESS_FARM_FACTS_MAX_AGE_S",
                                          *AUTH_VARS)}
    os.environ["XDG_CACHE_HOME"] = str(root / "cache")  # agents' workdirs and artifact caches, private
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["HARNESS_FARM_FACTS_MAX_AGE_S"] = "0"  # the agents' device workers read facts before every job
    # Every farm runs with token authentication; so does the module's cluster (its nodes inherit this).
    os.environ.pop("RAY_AUTH_TOKEN", None)
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(root / "auth_token")
    (root / "auth_token").write_text("lab-token-" + "7" * 40)
    os.environ["RAY_AUTH_MODE"] = "token"
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()
    lab = Lab(root)
    try:
        lab.join("lab1", _devices({"name": "d1", "kind": "local"}), facts=True)
        lab.join("lab2", _devices({"name": "d2", "kind": "local"},
                                  {"name": "ghost", "kind": "local", "python": "/nonexistent/python"}))
        lab.join("lab3", _devices({"name": "d3", "kind": "local"}))
        yield lab
    finally:
        ray.shutdown()
        lab.cluster.shutdown()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()


@pytest.fixture
def models(lab, tiny_tflite, tmp_path) -> list[str]:
    """Three model files with the same bytes under different names: one artifact by content hash."""
    out = []
    for i in range(3):
        p = tmp_path / f"m{i}.tflite"
        shutil.copyfile(tiny_tflite, p)
        out.append(str(p))
    return out


def _plan(farm: Farm, names: list[str], models: list[str], **bench) -> object:
    devices = farm.devices_file()
    chosen = devices.model_copy(update={"devices": [d for d in devices.devices if d.name in names]})
    return make_plan(chosen, models=models, variants=["fp32"], overrides={**FAST, **bench}, peak_probe=False)


def _idle(farm: Farm, *names: str) -> bool:
    """No job runs on these devices now (their workers say so, or have stopped)."""
    return not any(farm.busy(n) for n in names)


def _free(*names: str, within_s: float = 15.0) -> bool:
    """Every named device's unit is back (a killed worker returns it asynchronously, within seconds)."""
    deadline = time.monotonic() + within_s
    while True:
        avail = ray.available_resources()
        if all(avail.get(device_resource(n), 0) >= 1 for n in names):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def test_plan_runs_across_three_agents_with_host_on_every_row(lab, models, tmp_path):
    farm = Farm(lab.address)
    plan = _plan(farm, ["d1", "d2", "ghost", "d3"], models[:2])
    db_path = tmp_path / "farm.db"
    try:
        summary = orchestrate.run(plan, db_path, targets=farm)
        first_sent = farm.bytes_sent
    finally:
        farm.close()
    rows = ResultsDB(db_path).measurements(summary.run_id)
    by = {(m.device, Path(m.model).name): m for m in rows}
    assert len(rows) == 8
    hosts = {"d1": "lab1", "d2": "lab2", "ghost": "lab2", "d3": "lab3"}
    for (dev, _), m in by.items():
        assert m.host == hosts[dev], (dev, m.host)
    for dev in ("d1", "d2", "d3"):
        for name in ("m0.tflite", "m1.tflite"):
            m = by[(dev, name)]
            assert m.status == "ok", m.error
            assert len(m.latencies_us) >= 5 and m.p50_us > 0
    # A device missing on its host: error rows for that device only, as in single-host mode.
    assert all(by[("ghost", n)].status == "error" for n in ("m0.tflite", "m1.tflite"))
    assert "/nonexistent/python" in by[("ghost", "m0.tflite")].error or "exited" in by[("ghost", "m0.tflite")].error
    # The agent's facts travel with its rows (lab1 announced them at join).
    facts = by[("d1", "m0.tflite")].extra["device_facts"]
    assert facts["status"] == "ok" and facts["cores"] >= 1
    # Facts are read again on the agent before a job once they are old (this module's agents: before every
    # job): each row carries the facts as of its job, not as of lab1's join.
    for name in ("m0.tflite", "m1.tflite"):
        m = by[("d1", name)]
        fresh = m.extra["device_facts"]
        assert fresh["status"] == "ok" and fresh["cores"] >= 1
        assert m.started_at - 5 <= fresh["checked_at_unix_s"] <= m.finished_at, (m.started_at, fresh)
    # Two files, one content hash: the bytes went into the object store once for all three agents.
    assert first_sent == Path(models[0]).stat().st_size
    # One device runs one job at a time; different hosts run at the same time.
    for dev in ("d1", "d2", "d3"):
        a, b = sorted((by[(dev, n)] for n in ("m0.tflite", "m1.tflite")), key=lambda m: m.started_at)
        assert a.finished_at <= b.started_at
    spans = [(by[(d, "m0.tflite")].started_at, by[(d, "m1.tflite")].finished_at) for d in ("d1", "d2", "d3")]
    assert max(s for s, _ in spans) < min(e for _, e in spans), spans
    assert _idle(farm, "d1", "d2", "ghost", "d3")
    # The next night: the agents keep the artifact by content hash, nothing is sent again.
    farm = Farm(lab.address)
    try:
        again = orchestrate.run(_plan(farm, ["d1", "d3"], models[:1]), db_path, targets=farm)
        assert farm.bytes_sent == 0 and again.measured == 2
    finally:
        farm.close()


def _wait_rows(db_path: Path, sql: str, count: int, timeout_s: float = 120.0) -> list[tuple]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if db_path.exists():
            try:
                con = sqlite3.connect(db_path)
                rows = con.execute(sql).fetchall()
                con.close()
                if len(rows) >= count:
                    return rows
            except sqlite3.OperationalError:
                pass
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} rows for {sql} within {timeout_s} s")


def test_agent_sigkilled_mid_run_errors_name_the_host_and_rejoin_serves_next_run(lab, models, tmp_path):
    lab.join("lab4", _devices({"name": "d4", "kind": "local"}))
    farm = Farm(lab.address)
    plan = _plan(farm, ["d1", "d4"], models, min_s=1.0)
    db_path = tmp_path / "kill.db"
    out: dict = {}
    worker = threading.Thread(target=lambda: out.setdefault("s", orchestrate.run(plan, db_path, targets=farm)))
    worker.start()
    try:
        kept = _wait_rows(db_path, "SELECT model, finished_at FROM measurements WHERE device='d4' AND status='ok'", 1)
        lab.kill("lab4")
        worker.join(timeout=180)
        assert not worker.is_alive()
    finally:
        farm.close()
    summary = out["s"]
    rows = ResultsDB(db_path).measurements(summary.run_id)
    assert len(rows) == 6
    d4 = [m for m in rows if m.device == "d4"]
    # What was stored before the kill is still there, unchanged.
    stored = {(m.model, m.finished_at) for m in d4 if m.status == "ok"}
    assert set(kept) <= stored
    errors = [m for m in d4 if m.status == "error"]
    assert errors and len(errors) + len(stored) == 3
    assert all("lab4" in m.error and m.host == "lab4" for m in errors), [m.error for m in errors]
    # The other host finished all of its jobs.
    assert all(m.status == "ok" and m.host == "lab1" for m in rows if m.device == "d1")
    # The agent rejoins; resuming the run measures only what is missing, on the rejoined node.
    lab.join("lab4", _devices({"name": "d4", "kind": "local"}))
    farm = Farm(lab.address)
    try:
        again = orchestrate.run(plan, db_path, resume=summary.run_id, targets=farm)
    finally:
        farm.close()
    assert again.skipped == 3 + len(stored) and again.measured == len(errors) and again.errors == 0
    final = ResultsDB(db_path).measurements(summary.run_id)
    assert len(final) == 6 and all(m.status == "ok" for m in final)
    assert {(m.model, m.finished_at) for m in final if m.device == "d4"} >= stored


def _node_processes(node: object) -> list:
    """Every process of a cluster_utils node: its daemons and their children (workers, runners)."""
    import psutil

    procs = []
    for infos in node.all_processes.values():  # type: ignore[attr-defined]
        for info in infos:
            try:
                p = psutil.Process(info.process.pid)
            except psutil.NoSuchProcess:
                continue
            procs += [p, *p.children(recursive=True)]
    return procs


def test_frozen_host_mid_run_its_jobs_become_error_rows_naming_it(lab, models, tmp_path):
    """The whole host frozen (every process of its node SIGSTOPped: a kernel hang, a host paused) while a job
    runs there: once Ray declares the node lost, the running job and the ones queued behind it on that host are
    error rows naming it, each once; the other host finishes; nothing waits for the jobs' own timeouts."""
    lab.join("lab6", _devices({"name": "d6", "kind": "local", "bench": {"timeout_s": 600}}))
    farm = Farm(lab.address)
    plan = _plan(farm, ["d1", "d6"], models, min_s=1.0)
    db_path = tmp_path / "frozen.db"
    out: dict = {}
    worker = threading.Thread(target=lambda: out.setdefault("s", orchestrate.run(plan, db_path, targets=farm)))
    worker.start()
    frozen: list = []
    try:
        _wait_rows(db_path, "SELECT 1 FROM measurements WHERE device='d6' AND status='ok'", 1)
        node = lab.nodes.pop("lab6")
        frozen = _node_processes(node)
        t0 = time.monotonic()
        for p in frozen:
            try:
                p.suspend()
            except Exception:
                pass
        worker.join(timeout=240)
        took = time.monotonic() - t0
        assert not worker.is_alive()
    finally:
        farm.close()
        for p in frozen:  # the frozen host's processes go (also when an assertion above failed)
            try:
                p.kill()
            except Exception:
                pass
        if frozen:
            lab.cluster.remove_node(node, allow_graceful=False)
    rows = ResultsDB(db_path).measurements(out["s"].run_id)
    print(f"frozen host: the run ended {took:.1f} s after the freeze (load {os.getloadavg()[0]:.1f})")
    assert len(rows) == 6 and len({(m.device, m.model) for m in rows}) == 6  # every job once
    d6 = [m for m in rows if m.device == "d6"]
    errors = [m for m in d6 if m.status == "error"]
    assert errors and all(m.status in ("ok", "error") for m in d6)
    assert all("lab6" in m.error and m.host == "lab6" for m in errors), [m.error for m in errors]
    assert all(m.status == "ok" and m.host == "lab1" for m in rows if m.device == "d1")
    # Bounded by Ray's health checks (this cluster's: 0.5 s period, 2 misses, 10 s timeout), not by the
    # jobs' own 600 s timeout.
    assert took < 90, took


def test_pool_spreads_jobs_and_a_lost_hosts_job_moves_to_another_device_of_the_pool(lab, models, tmp_path):
    """`run --pool px` over two agents' devices: each job once, on whichever device is free; a host SIGKILLed
    mid-job: its job runs again on the other device of the pool (the row says where it was tried); then the
    pool's last host killed mid-job: error rows naming it, as without a pool."""
    lab.join("lab7", _devices({"name": "px-a", "kind": "local", "pool": "px"}))
    lab.join("lab8", _devices({"name": "px-b", "kind": "local", "pool": "px"}))
    farm = Farm(lab.address)
    plan = make_plan(farm.devices_file(), models=models, variants=["fp32"], overrides={**FAST, "min_s": 1.0},
                     peak_probe=False, repeat=3, pools=("px",))
    assert [d.name for d in plan.devices.devices] == ["px-a", "px-b"] and len(plan.repeated_jobs()) == 9
    assert {r["device"]: r.get("pool") for r in farm.describe() if r["device"].startswith("px-")} == \
        {"px-a": "px", "px-b": "px"}  # `devices --farm` says which pool each device is in
    db_path = tmp_path / "pool.db"
    out: dict = {}
    worker = threading.Thread(target=lambda: out.setdefault("s", orchestrate.run(plan, db_path, targets=farm)))
    worker.start()
    try:
        _wait_rows(db_path, "SELECT 1 FROM measurements WHERE device='px-b' AND status='ok'", 1)
        lab.kill("lab8")  # px-b has taken its next job by now
        t0 = time.monotonic()
        worker.join(timeout=180)
        assert not worker.is_alive()
        print(f"pool: a member's host killed mid-job; the run ended {time.monotonic() - t0:.1f} s later "
              f"(load {os.getloadavg()[0]:.1f})")
    finally:
        farm.close()
    rows = ResultsDB(db_path).measurements(out["s"].run_id)
    assert len(rows) == 9 and len({(m.model, m.repeat_index) for m in rows}) == 9  # every job once
    assert all(m.status == "ok" and m.extra["pool"] == "px" for m in rows), [m.error for m in rows]
    assert {m.device: m.host for m in rows} == {"px-a": "lab7", "px-b": "lab8"}  # the device that ran it
    moved = [m for m in rows if m.extra.get("moved_from")]
    assert len(moved) == 1 and moved[0].device == "px-a", [m.extra.get("moved_from") for m in rows]
    (why,) = moved[0].extra["moved_from"]
    assert why.startswith("px-b: ") and why.count("px-b") == 1 and "agent lab8 lost during the job" in why, why
    # The pool's last device: its host killed mid-job, its jobs become error rows naming it.
    farm = Farm(lab.address)
    plan = make_plan(farm.devices_file(), models=models, variants=["fp32"], overrides={**FAST, "min_s": 1.0},
                     peak_probe=False, repeat=2, pools=("px",))
    db_path = tmp_path / "pool-last.db"
    out.clear()
    worker = threading.Thread(target=lambda: out.setdefault("s", orchestrate.run(plan, db_path, targets=farm)))
    worker.start()
    try:
        _wait_rows(db_path, "SELECT 1 FROM measurements WHERE device='px-a' AND status='ok'", 1)
        lab.kill("lab7")
        worker.join(timeout=180)
        assert not worker.is_alive()
    finally:
        farm.close()
    rows = ResultsDB(db_path).measurements(out["s"].run_id)
    assert len(rows) == 6 and len({(m.model, m.repeat_index) for m in rows}) == 6
    errors = [m for m in rows if m.status == "error"]
    assert errors and all(m.device == "px-a" and m.host == "lab7" and "lab7" in m.error for m in errors), \
        [m.error for m in errors]


def test_hanging_jobs_are_bounded_and_free_their_device(lab, models, tmp_path):
    hang = _hang_interpreter(tmp_path / "hang", "27.3")
    wedge = _hang_interpreter(tmp_path / "wedge", "29.7")
    lab.join("lab5", _devices({"name": "hang", "kind": "local", "python": hang, "bench": {"timeout_s": 3}},
                              {"name": "wedge", "kind": "local", "python": wedge, "bench": {"timeout_s": 3}}))
    farm = Farm(lab.address, grace_s=2.0)
    plan = _plan(farm, ["hang", "wedge", "d3"], models[:1])
    stopped: list[int] = []

    def freeze_wedge_worker() -> None:
        """The agent itself hangs (its worker frozen by SIGSTOP) while the wedge job runs."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stopped:
            for _, worker in _pids_running(["sleep", "29.7"]):
                os.kill(worker, signal.SIGSTOP)
                stopped.append(worker)
            time.sleep(0.1)

    freezer = threading.Thread(target=freeze_wedge_worker)
    freezer.start()
    t0 = time.monotonic()
    try:
        summary = orchestrate.run(plan, tmp_path / "hang.db", targets=farm)
        took = time.monotonic() - t0
        free = _free("wedge")  # the stopped worker's unit is back with the agent
        idle = {d: not farm.busy(d) for d in ("hang", "wedge", "d3")}
    finally:
        freezer.join()
        farm.close()
        lab.kill("lab5")  # its devices leave the farm: later plans do not include them
        for pid, _ in _pids_running(["sleep", "29.7"]) + _pids_running(["sleep", "27.3"]):
            os.kill(pid, signal.SIGKILL)  # the sleeps this test started
    by = {m.device: m for m in summary.results}
    # The agent's own bound: the transport kills the interpreter after bench.timeout_s (3 s).
    assert by["hang"].status == "error" and "timed out after 3 s" in by["hang"].error, by["hang"].error
    # An agent that cannot enforce it (its worker frozen): the coordinator's bound (timeout_s + grace)
    # kills the device's worker and frees the device.
    assert stopped, "the wedge job never started"
    assert by["wedge"].status == "error" and "agent lab5: benchmark gave no answer within 5 s" in by["wedge"].error, \
        by["wedge"].error
    assert by["d3"].status == "ok" and by["d3"].host == "lab3"
    assert took < 60, took
    assert free and all(idle.values()), idle


def _short_farm_run(address: str, models: list[str], db_path: Path) -> list[str]:
    """`harness run --farm` of fp32 variants with short windows: a run a test can stop part-way."""
    return [sys.executable, "-m", "harness", "run", "--farm", address, "--models", ",".join(models),
            "--variants", "fp32", "--runs", "5", "--min-seconds", "1", "--warmup-seconds", "0", "--cooldown", "0",
            "--threads", "1", "--no-peak-probe", "--no-progress", "--db", str(db_path)]


def test_coordinator_sigkilled_then_resume_measures_only_what_is_missing(lab, models, tmp_path):
    db_path = tmp_path / "coord.db"
    argv = _short_farm_run(lab.address, models, db_path)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_rows(db_path, "SELECT 1 FROM measurements WHERE status='ok'", 1, timeout_s=180)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    con = sqlite3.connect(db_path)
    run_id, plan = con.execute("SELECT run_id, plan FROM runs").fetchone()
    n_devices = len(json.loads(plan)["devices"]["devices"])  # every live agent's devices at the start
    before = dict(((d, m, v), f) for d, m, v, f in con.execute(
        "SELECT device, model, variant, finished_at FROM measurements WHERE status='ok'"))
    con.close()
    assert 0 < len(before) < 3 * n_devices
    res = subprocess.run(argv[:4] + ["--farm", lab.address, "--resume", run_id, "--no-progress", "--db", str(db_path)],
                         capture_output=True, text=True, timeout=300)
    assert f"{len(before)} already done" in res.stdout, (res.stdout[-2000:], res.stderr[-2000:])
    con = sqlite3.connect(db_path)
    after = con.execute("SELECT device, model, variant, status, finished_at, data FROM measurements "
                        "WHERE run_id=?", (run_id,)).fetchall()
    con.close()
    assert len(after) == 3 * n_devices  # every job once, none twice
    for d, m, v, _status, finished, _ in after:
        if (d, m, v) in before:
            assert finished == before[(d, m, v)]  # kept, not measured again
    ok = [json.loads(r[5]) for r in after if r[3] == "ok"]
    assert {r["device"] for r in ok} >= {"d1", "d2", "d3"} and all(r["host"] for r in ok)
    # Resuming a farm run without --farm would measure its devices here: refused, one line.
    res = _cli("run", "--resume", run_id, "--db", str(db_path))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "measured on a device farm" in res.stderr and "--farm HEAD:PORT" in res.stderr


def test_join_refuses_a_device_served_by_another_host_and_a_version_mismatch(lab):
    # lab1 serves d1: another agent (on another live node) listing d1 is refused at join.
    with pytest.raises(UserError, match=r"device 'd1' is already served by agent 'lab1'"):
        announce(_devices({"name": "d1", "kind": "local"}), "labX", lab.nodes["lab2"].node_id, facts=False)
    # An agent of another harness version: the coordinator refuses to run, in one line.
    lab.join("old", _devices({"name": "odd", "kind": "local"}), version="0.0.0-other")
    try:
        with pytest.raises(UserError, match=r"version mismatch: agent old runs harness 0.0.0-other") as err:
            Farm(lab.address)
        assert "\n" not in str(err.value)
    finally:
        lab.kill("old")
        ray.get(registry().leave.remote("old"))
    # A registry that lost every entry (a new one, nothing stored) still refuses both: Ray's node table says which
    # agent node serves what (its name and `device:` resources).
    blank = Registry()
    assert blank.entries == {}
    other = lab.nodes["lab2"].node_id
    why = blank.register({"name": "lab1", "node_id": other, "devices": {}})
    assert why and why.startswith("an agent named 'lab1' is already joined"), why
    why = blank.register({"name": "labY", "node_id": other, "devices": {"d1": {}}})
    assert why == "device 'd1' is already served by agent 'lab1'; a device belongs to one host", why
    # ... and it still lists every live agent and its devices, rebuilt from the node table (no specs: not planned on).
    rebuilt = {e["name"]: e for e in Registry().agents()}
    assert {"lab1", "lab2", "lab3"} <= set(rebuilt), sorted(rebuilt)
    assert sorted(rebuilt["lab2"]["devices"]) == ["d2", "ghost"] and rebuilt["lab2"]["alive"], rebuilt["lab2"]
    assert rebuilt["lab2"]["rebuilt"].startswith("rebuilt from Ray's node table"), rebuilt["lab2"]
    # A head started by `harness farm up` knows its version: a mismatched agent is refused at join.
    reg = Registry("9.9.9")
    why = reg.register({"name": "a", "node_id": "n", "devices": {}, "harness_version": "0.1.0", "protocol": 1})
    assert why and "version mismatch" in why


def test_a_folder_artifact_travels_as_a_tar_and_is_kept_by_hash(lab, tmp_path):
    """Companions such as a SavedModel are folders: packed on the coordinator, checked and unpacked on
    the agent, and found again by hash the next time."""
    from harness.farm.agent import DeviceWorker
    from harness.farm.coordinator import _tar

    src = tmp_path / "saved_model"
    (src / "variables").mkdir(parents=True)
    (src / "saved_model.pb").write_bytes(b"graph" * 100)
    (src / "variables" / "variables.index").write_bytes(b"index")
    farm = Farm(lab.address)
    sha = farm.sha(src)
    assert sha == farm.sha(src) and _tar(src) == _tar(src)
    worker = DeviceWorker({"name": "unit", "kind": "local"}, cache_dir=str(tmp_path / "agent-cache"))
    assert not worker.has(sha)
    got = worker._artifact({"sha": sha, "name": "saved_model", "dir": True, "blob": [farm.blob(sha, src)]})
    assert (got / "saved_model.pb").read_bytes() == b"graph" * 100
    assert (got / "variables" / "variables.index").read_bytes() == b"index"
    assert worker.has(sha)
    assert worker._artifact({"sha": sha, "name": "saved_model", "dir": True, "blob": []}) == got
    with pytest.raises(RuntimeError, match="arrived corrupted"):
        worker._artifact({"sha": "0" * 64, "name": "x", "dir": False, "blob": [ray.put(b"other bytes")]})


def test_single_host_mode_imports_no_ray(tiny_tflite, tmp_path):
    code = ("import sys\nfrom harness.cli import main\n"
            f"rc = main(['run', '--models', {str(tiny_tflite)!r}, '--variants', 'fp32', '--runs', '3',"
            " '--min-seconds', '0.05', '--warmup-seconds', '0', '--cooldown', '0', '--no-peak-probe',"
            f" '--no-progress', '--db', {str(tmp_path / 'r.db')!r}])\n"
            "print('RAY' if 'ray' in sys.modules else 'NO-RAY', rc)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert res.stdout.strip().splitlines()[-1] == "NO-RAY 0", (res.stdout[-1000:], res.stderr[-1000:])


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=timeout)


def test_unreachable_address_is_one_line_exit_2(tmp_path):
    for argv in (["run", "--farm", "127.0.0.1:1"], ["devices", "--farm", "127.0.0.1:1"],
                 ["nightly", "--farm", "127.0.0.1:1"], ["run", "--farm", "no-port-here"]):
        res = _cli(*argv)
        assert res.returncode == 2, (argv, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("harness: error: --farm"), res.stderr
    yaml = tmp_path / "lab.yaml"
    yaml.write_text("devices:\n  - {name: x, kind: local}\n")
    res = _cli("agent", "--devices", str(yaml), "--address", "127.0.0.1:1")
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        res.stderr.strip()] and "--address 127.0.0.1:1: cannot reach" in res.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_until(proc: subprocess.Popen, needle: str, timeout_s: float) -> str:
    """Lines of a child's stdout until one contains `needle` (the child is left running)."""
    seen: list[str] = []
    box: dict = {}

    def reader() -> None:
        for line in proc.stdout:
            seen.append(line)
            if needle in line:
                box["hit"] = True
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(timeout_s)
    assert box.get("hit"), f"no {needle!r} within {timeout_s} s: {''.join(seen)[-1500:]}"
    return "".join(seen)


def _sid(pid: int) -> int:
    try:
        return os.getsid(pid)
    except OSError:
        return -1


def _nodes(address: str, env: dict) -> list[dict]:
    """Ray's node table, read by a separate driver (this test process is not a node of that cluster)."""
    code = (f"import json, ray\nfrom harness.farm.cluster import connect\nconnect({address!r})\n"
            "print(json.dumps([{'name': n['NodeName'], 'alive': n['Alive'], 'labels': n.get('Labels') or {}}"
            " for n in ray.nodes()]))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def _waiting_on(pid: int, lock: Path, timeout_s: float) -> bool:
    """Whether the process has the file open (an agent waiting for the host's node-start lock) within the time."""
    import psutil

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if any(f.path == str(lock) for f in psutil.Process(pid).open_files()):
                return True
        except psutil.Error:
            return False
        time.sleep(0.2)
    return False


def test_cli_farm_up_agent_join_devices_listing_and_duplicate_refused(tmp_path):
    """The commands a lab runs: `farm up` on the head, `agent` on a lab host, `devices --farm` to look."""
    port = _free_port()
    address = f"127.0.0.1:{port}"
    token_path = tmp_path / "ray" / "auth_token"  # none yet: `farm up` makes one
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    start_lock = tmp_path / "node-start.lock"  # this cluster's agents only, not every test's on this host
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_TOKEN_PATH=str(token_path),
               HARNESS_FARM_START_LOCK=str(start_lock))
    lab_yaml = tmp_path / "lab1.yaml"
    lab_yaml.write_text("devices:\n  - {name: bench1, kind: local}\n")
    cmd = [sys.executable, "-m", "harness"]
    head = subprocess.Popen(cmd + ["farm", "up", "--port", str(port)], stdout=subprocess.PIPE, text=True, env=env)
    agent = None
    frozen: list = []
    others: list = []
    try:
        banner = _read_until(head, "farm head at", 150)
        # Secure by default: a fresh random token in a file only its owner reads, never printed, never on a
        # command line of the head's processes.
        token = token_path.read_text().strip()
        assert len(token) == 64 and (token_path.stat().st_mode & 0o777) == 0o600
        assert token not in banner and str(token_path) in banner
        agent = subprocess.Popen(cmd + ["agent", "--devices", str(lab_yaml), "--address", address, "--name", "cli1"],
                                 stdout=subprocess.PIPE, text=True, env=env)
        assert "cli1 joined" in _read_until(agent, "joined", 150)
        listing = subprocess.run(cmd + ["devices", "--farm", address, "--json"], capture_output=True, text=True,
                                 env=env, timeout=120)
        assert listing.returncode == 0 and listing.stderr == "", listing.stderr  # no Ray line reaches the user
        import psutil

        for p in psutil.process_iter(["cmdline"]):
            assert token not in " ".join(p.info["cmdline"] or []), p.info["cmdline"]
        # Neither node runs Ray's log monitor: every harness driver connects with log_to_driver=False, so it
        # would only be load on the hosts that measure.
        farm = {_sid(c.pid) for p in (head, agent) for c in psutil.Process(p.pid).children()} - {-1, os.getsid(0)}
        assert len(farm) == 2, farm  # the head's `ray start` session and the agent's
        ours = [" ".join(q.info["cmdline"] or []) for q in psutil.process_iter(["cmdline"]) if _sid(q.pid) in farm]
        assert any("raylet" in c for c in ours) and not [c for c in ours if "log_monitor" in c], ours
        # Without the token, or with another one, the farm refuses: one line, exit 2.
        other = tmp_path / "other_token"
        other.write_text("f" * 64)
        # A wrong token is told by one authenticated call to the head, before Ray's own connect (which retried it
        # for 30-75 s): a `devices --farm` and an agent are refused at once.
        probe = "import sys\nfrom harness.farm.cluster import secure_env, token_refused\nsecure_env()\nprint(token_refused(sys.argv[1]))"
        said = [subprocess.run([sys.executable, "-c", probe, address], capture_output=True, text=True, timeout=60,
                               env={**env, "RAY_AUTH_TOKEN_PATH": str(p)}).stdout.split()[-1:] for p in (token_path, other)]
        assert said == [["False"], ["True"]], said
        import fcntl

        held = tmp_path / "held-start.lock"
        for path, why in ((tmp_path / "missing", "no farm token on this host"),
                          (other, "the head refused this host's farm token")):
            res = subprocess.run(cmd + ["devices", "--farm", address], capture_output=True, text=True,
                                 env={**env, "RAY_AUTH_TOKEN_PATH": str(path)}, timeout=120)
            assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
            assert why in res.stderr, res.stderr
            # Refused before it starts a node: this host's node-start lock is held here, so an agent that went on
            # to `ray start` would wait for it (START_LOCK_WAIT_S) and pass the time given.
            with open(held, "a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                res = subprocess.run(cmd + ["agent", "--devices", str(lab_yaml), "--address", address, "--name",
                                            "tokenless"], capture_output=True, text=True, timeout=60,
                                     env={**env, "RAY_AUTH_TOKEN_PATH": str(path), "HARNESS_FARM_START_LOCK": str(held)})
            assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
            assert why in res.stderr, res.stderr
        (row,) = json.loads(listing.stdout)
        assert (row["host"], row["device"], row["status"]) == ("cli1", "bench1", "free") and row["cores"] >= 1
        # A second agent under the same name (the default is the host name) is refused, one line, exit 2;
        # the first one keeps serving.
        other_yaml = tmp_path / "lab2.yaml"
        other_yaml.write_text("devices:\n  - {name: bench2, kind: local}\n")
        same = subprocess.run(cmd + ["agent", "--devices", str(other_yaml), "--address", address, "--name", "cli1"],
                              capture_output=True, text=True, env=env, timeout=200)
        assert same.returncode == 2 and len(same.stderr.strip().splitlines()) == 1, same.stderr
        assert same.stderr.startswith("harness: error: agent cli1: an agent named 'cli1' is already joined"), same.stderr
        assert agent.poll() is None
        # A second host listing the same device is refused at join, in one line, exit 2.
        dup = subprocess.run(cmd + ["agent", "--devices", str(lab_yaml), "--address", address, "--name", "cli2"],
                             capture_output=True, text=True, env=env, timeout=150)
        assert dup.returncode == 2
        assert dup.stderr.strip().splitlines() == [
            "harness: error: agent cli2: device 'bench1' is already served by agent 'cli1'; a device belongs to one host"]
        # The agent killed outright (SIGKILL, no clean-up) and started again at once under its name, as a
        # service manager does: its old node left with it (no orphan serving on), the new one joins.
        agent.kill()
        agent.wait()
        agent = subprocess.Popen(cmd + ["agent", "--devices", str(lab_yaml), "--address", address, "--name", "cli1"],
                                 stdout=subprocess.PIPE, text=True, env=env)
        assert "cli1 joined" in _read_until(agent, "joined", 150)
        listing = subprocess.run(cmd + ["devices", "--farm", address, "--json"], capture_output=True, text=True,
                                 env=env, timeout=120)
        (row,) = json.loads(listing.stdout)
        assert (row["host"], row["device"], row["status"]) == ("cli1", "bench1", "free"), row
        cli1 = [n for n in _nodes(address, env) if n["name"] == "cli1"]
        assert [n["alive"] for n in cli1].count(True) == 1, cli1  # the killed agent's node is gone
        # Its node says who it is in Ray's own node table: name, device count and a digest of the devices' specs.
        (labels,) = [n["labels"] for n in cli1 if n["alive"]]
        assert labels["harness-agent"] == "cli1" and labels["harness-devices"] == "1", labels
        assert len(labels["harness-digest"]) == 16, labels
        # The registry loses the agent's stored entry and restarts: the agent registers again by itself.
        lose = (f"import ray\nfrom harness.farm.cluster import KV_PREFIX, NAMESPACE, REGISTRY_NAME, connect\n"
                f"connect({address!r})\nfrom ray.experimental.internal_kv import _internal_kv_del\n"
                "_internal_kv_del(KV_PREFIX + b'cli1')\n"
                "ray.kill(ray.get_actor(REGISTRY_NAME, namespace=NAMESPACE), no_restart=False)\n")
        res = subprocess.run([sys.executable, "-c", lose], capture_output=True, text=True, env=env, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
        t_lost = time.monotonic()
        while True:
            listing = subprocess.run(cmd + ["devices", "--farm", address, "--json"], capture_output=True, text=True,
                                     env=env, timeout=120)
            rows = json.loads(listing.stdout) if listing.stdout.strip() else []
            if len(rows) == 1 and "registry" not in rows[0] and rows[0]["kind"] == "local":
                row = rows[0]
                break
            assert time.monotonic() - t_lost < 90, (rows, listing.stderr)
            time.sleep(1)
        assert (row["host"], row["device"], row["status"]) == ("cli1", "bench1", "free"), row
        # Stopped as a service manager stops it (SIGTERM: exit 0) and started again at once.
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=90) == 0
        # Stopped on purpose: listed as stopped, not as a host that went down, and not a fault (exit 0).
        listing = subprocess.run(cmd + ["devices", "--farm", address, "--json"], capture_output=True, text=True,
                                 env=env, timeout=120)
        assert listing.returncode == 0, listing.stderr
        assert [(r["host"], r["status"]) for r in json.loads(listing.stdout)] == [("cli1", "stopped")], listing.stdout
        agent = subprocess.Popen(cmd + ["agent", "--devices", str(lab_yaml), "--address", address, "--name", "cli1"],
                                 stdout=subprocess.PIPE, text=True, env=env)
        assert "cli1 joined" in _read_until(agent, "joined", 150)
        # Two more agents started at the same moment (a lab's hosts back after a power cut): both join. Two Ray
        # nodes starting at once on one host took the same object-store socket name and one died (`bind: Address
        # already in use`; 1 of 3 full runs): a node waits while another one of this host starts. Held here, no
        # agent starts its node; let go, both join.
        import fcntl

        for n in (3, 4):
            (tmp_path / f"lab{n}.yaml").write_text(f"devices:\n  - {{name: bench{n}, kind: local}}\n")
        with open(start_lock, "a+") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            others += [subprocess.Popen(cmd + ["agent", "--devices", str(tmp_path / f"lab{n}.yaml"), "--address",
                                               address, "--name", f"cli{n}"], stdout=subprocess.PIPE, text=True, env=env)
                       for n in (3, 4)]
            for p in others:
                assert _waiting_on(p.pid, start_lock, 120), "the agent did not wait for the host's node-start lock"
            import psutil

            assert [c.cmdline() for p in others for c in psutil.Process(p.pid).children()] == []  # no `ray start`
        for n, p in zip((3, 4), others):
            assert f"cli{n} joined" in _read_until(p, "joined", 200)
        listing = subprocess.run(cmd + ["devices", "--farm", address, "--json"], capture_output=True, text=True,
                                 env=env, timeout=120)
        assert sorted((r["host"], r["device"], r["status"]) for r in json.loads(listing.stdout)) == [
            ("cli1", "bench1", "free"), ("cli3", "bench3", "free"), ("cli4", "bench4", "free")], listing.stdout
        for p in others:
            p.send_signal(signal.SIGTERM)
        assert [p.wait(timeout=90) for p in others] == [0, 0]
        # The whole host frozen (the agent and every process of its node SIGSTOPped): declared lost within
        # `farm up --lost-after` (default 30 s; the goal is <= 60 s), where Ray's defaults take longer.
        import psutil

        frozen += [psutil.Process(agent.pid)]
        sessions = {os.getsid(c.pid) for c in frozen[0].children()}
        frozen += [q for q in psutil.process_iter() if _sid(q.pid) in sessions]
        t0 = time.monotonic()
        for q in frozen:
            q.suspend()
        while True:
            listing = subprocess.run(cmd + ["devices", "--farm", address, "--json"], capture_output=True, text=True,
                                     env=env, timeout=120)
            row = next(r for r in json.loads(listing.stdout) if r["host"] == "cli1")
            if row["status"] == "host down":
                break
            assert time.monotonic() - t0 < 90, row
            time.sleep(1)
        lost_s = time.monotonic() - t0
        print(f"frozen host declared lost after {lost_s:.1f} s (load {os.getloadavg()[0]:.1f})")
        assert lost_s <= 60, lost_s
    finally:
        for q in frozen:  # the frozen host's processes, also when an assertion above failed
            try:
                q.kill()
            except Exception:
                pass
        for p in (*others, agent, head):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=60)
    assert head.returncode == 0
    # The head's own processes went with it: its port no longer answers.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        res = _cli("devices", "--farm", address)
        if "cannot reach" in res.stderr:
            break
        time.sleep(1)
    assert res.returncode == 2 and "cannot reach the Ray head" in res.stderr


def test_ctrl_c_prints_a_farm_resume_command_that_works_as_printed_and_failed_rows_exit_1(lab, models, tmp_path):
    """The command printed after Ctrl-C names the farm (quoted) and finishes the run as printed; a farm run
    with error rows (lab2's `ghost` device has no interpreter) exits 1, not 0."""
    import shlex

    db_path = tmp_path / "ctrl c.db"  # a space: the printed command must quote it
    argv = _short_farm_run(lab.address, models[:2], db_path)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_rows(db_path, "SELECT 1 FROM measurements WHERE status='ok'", 1, timeout_s=180)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, (out[-1500:], err[-1500:])
    line = next(ln for ln in out.splitlines() if ln.startswith("interrupted: resume with"))
    printed = line.split("`")[1]
    assert f" --farm {shlex.quote(lab.address)} " in printed, printed
    words = shlex.split(printed)
    assert words[0] == "harness"
    res = subprocess.run([sys.executable, "-m", "harness", *words[1:], "--no-progress"], capture_output=True,
                         text=True, timeout=300)
    assert "already done" in res.stdout, (res.stdout[-2000:], res.stderr[-2000:])
    con = sqlite3.connect(db_path)
    rows = con.execute("SELECT device, status FROM measurements").fetchall()
    plan = json.loads(con.execute("SELECT plan FROM runs").fetchone()[0])
    con.close()
    assert len(rows) == 2 * len(plan["devices"]["devices"])  # every job once
    assert ("ghost", "error") in rows and res.returncode == 1, (res.returncode, res.stderr[-1000:])


def test_a_port_that_is_not_a_ray_head_fails_fast_in_one_line(tmp_path):
    """Something listens there (it accepts and never answers, like a stuck service): refused in <= 15 s."""
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    held: list = []
    threading.Thread(target=lambda: [held.append(srv.accept()) for _ in range(16)], daemon=True).start()
    yaml = tmp_path / "lab.yaml"
    yaml.write_text("devices:\n  - {name: x, kind: local}\n")
    try:
        for argv, flag in ((["run", "--farm", f"127.0.0.1:{port}"], "--farm"),
                           (["agent", "--devices", str(yaml), "--address", f"127.0.0.1:{port}"], "--address")):
            t0 = time.monotonic()
            res = _cli(*argv, timeout=60)
            took = time.monotonic() - t0
            assert res.returncode == 2, (argv, res.stderr)
            assert res.stderr.strip().splitlines() == [
                f"harness: error: {flag} 127.0.0.1:{port}: something listens there but it is not a Ray head "
                "(no gRPC answer within 8 s); check the port `harness farm up` printed"], res.stderr
            assert took <= 15, took
    finally:
        srv.close()


def test_registry_killed_comes_back_with_every_agent(lab):
    """The memory monitor (or anyone) kills the registry: it restarts itself, or the next caller makes a
    new one, and either way every joined agent and device is still there."""
    from harness.farm.cluster import NAMESPACE, REGISTRY_NAME

    before = sorted(e["name"] for e in Farm(lab.address).entries if e["alive"])
    assert {"lab1", "lab2", "lab3"} <= set(before)
    for no_restart in (False, True):  # a crash Ray restarts; an actor gone for good
        ray.kill(ray.get_actor(REGISTRY_NAME, namespace=NAMESPACE), no_restart=no_restart)
        deadline = time.monotonic() + 60
        while True:
            try:
                after = sorted(e["name"] for e in Farm(lab.address).entries if e["alive"])
                break
            except ray.exceptions.RayActorError:  # the restart is still under way
                assert time.monotonic() < deadline
                time.sleep(0.5)
        assert after == before, (no_restart, after)
        assert {d.name for d in Farm(lab.address).devices_file().devices} >= {"d1", "d2", "ghost", "d3"}


def test_no_ray_line_reaches_stderr_on_a_host_without_a_default_route(tmp_path):
    """An air-gapped lab host: a network namespace with only loopback (no default route), where Ray's C++
    core warns `Failed to determine local IP via external connectivity` as it connects. Neither the head
    nor a `--farm` command lets such a line reach the user's terminal."""
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        pytest.skip("this host cannot make a network namespace (unshare -rn): the no-route case is not checked")
    script = tmp_path / "noroute.py"
    script.write_text(
        "import os, socket, subprocess, sys\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()\n"
        "cmd = [sys.executable, '-m', 'harness']\n"
        "head = subprocess.Popen(cmd + ['farm', 'up', '--port', str(port)], stdout=subprocess.PIPE,"
        " stderr=subprocess.PIPE, text=True)\n"
        "print('HEAD', head.stdout.readline().strip(), flush=True)\n"
        "r = subprocess.run(cmd + ['devices', '--farm', f'127.0.0.1:{port}'], capture_output=True, text=True,"
        " timeout=180)\n"
        "print('DEVICES-STDERR', repr(r.stderr), flush=True)\n"
        "head.terminate()\n"
        "print('HEAD-STDERR', repr(head.communicate(timeout=90)[1]), head.returncode, flush=True)\n")
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), RAY_AUTH_TOKEN_PATH=str(tmp_path / "token"))
    res = subprocess.run(["unshare", "-rn", "sh", "-c", f"ip link set lo up && exec {sys.executable} {script}"],
                         capture_output=True, text=True, env=env, timeout=400)
    out = res.stdout.splitlines()
    assert any(ln.startswith("HEAD farm head at 127.0.0.1:") for ln in out), (res.stdout, res.stderr[-2000:])
    assert "DEVICES-STDERR ''" in out, res.stdout
    assert "HEAD-STDERR '' 0" in out, res.stdout


def test_farm_up_lost_after_out_of_range_is_one_line_exit_2():
    res = _cli("farm", "up", "--lost-after", "2", timeout=60)
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        "harness: error: --lost-after 2: expected 6 to 600 seconds"], res.stderr
