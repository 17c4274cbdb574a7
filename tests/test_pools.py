"""Device pools (`pool:` in devices.yaml, `run --pool`): each job once, on whichever device of the pool is free.

The farm's side (a pool member's host SIGKILLed mid-job, its job moving to the other member) is in
tests/test_farm.py against a real Ray cluster; here: the queue's rules with real threads, and a pool of two
real local devices (each its own runner process) through the orchestrator and the CLI.
"""
from __future__ import annotations

import shutil
import threading

import pytest

from errors import UserError
from harness.orchestration import orchestrate
from harness.orchestration.pools import PoolQueue
from harness.planning.config import parse_devices
from harness.planning.plan import Plan, make_plan
from harness.store.db import ResultsDB

FAST = {"min_runs": 5, "min_s": 0.3, "warmup_s": 0.0, "cooldown_s": 0.0, "threads": 1}


def test_queue_each_job_once_a_lost_members_job_goes_to_another_and_the_last_one_gets_the_rest():
    stop = threading.Event()
    q = PoolQueue("px", [("m", "v", i) for i in range(6)], ["a", "b"], stop)
    ran: dict[str, list] = {"a": [], "b": []}
    a = q.jobs("a")
    first_a = next(a)
    b_jobs = q.jobs("b")
    first_b = next(b_jobs)
    assert {first_a, first_b} == {("m", "v", 0), ("m", "v", 1)}
    # b's host dies during its job: the job goes back, nothing is left over while a is live.
    assert q.leave("b", give_back=True, why="agent lab8 lost") == []
    assert q.moved == {first_b: ["b: agent lab8 lost"]}
    ran["a"].append(first_a)
    ran["a"] += list(a)  # a takes the rest, the moved job first
    assert sorted(ran["a"]) == [("m", "v", i) for i in range(6)] and ran["a"][1] == first_b
    # The last member going offline: every queued job comes back to be stored as an error row.
    q = PoolQueue("px", [("m", "v", i) for i in range(3)], ["a"], stop)
    held = next(q.jobs("a"))
    assert q.leave("a", give_back=True) == [held, ("m", "v", 1), ("m", "v", 2)]
    assert q.moved == {}


def test_queue_a_free_member_waits_while_another_holds_a_job_that_may_come_back():
    stop = threading.Event()
    q = PoolQueue("px", [("m", "v", 0)], ["a", "b"], stop)
    a = q.jobs("a")
    held = next(a)
    got: list = []
    waiter = threading.Thread(target=lambda: got.extend(q.jobs("b")))
    waiter.start()
    waiter.join(1.0)
    assert waiter.is_alive() and got == []  # b waits: a's job may still come back
    q.leave("a", give_back=True, why="lost")
    waiter.join(5.0)
    assert not waiter.is_alive() and got == [held]


def test_plan_names_a_pool_one_job_per_pool_and_a_typo_is_one_line():
    devices = parse_devices({"devices": [
        {"name": "p7-a", "kind": "local", "pool": "pixel7"}, {"name": "p7-b", "kind": "local", "pool": "pixel7"},
        {"name": "pi", "kind": "local"}]}, "test")
    plan = make_plan(devices, models=["srcnn"], variants=["fp32"], pools=("pixel7",), peak_probe=False)
    assert [d.name for d in plan.devices.devices] == ["p7-a", "p7-b"]
    assert plan.repeated_jobs() == [("pixel7", "srcnn", "fp32", 0)]
    assert Plan.from_dict(plan.to_dict()).pools == ("pixel7",)
    with pytest.raises(UserError) as err:
        make_plan(devices, models=["srcnn"], variants=["fp32"], pools=("pixel8",))
    assert str(err.value) == "--pool pixel8: no enabled device of that pool (pools: 'pixel7')"
    with pytest.raises(UserError, match=r"devices\[0\] \(a\)\.pool: control characters"):
        parse_devices({"devices": [{"name": "a", "kind": "local", "pool": "x\x1b[2J"}]}, "devices.yaml")


def _two_member_pool_plan(tiny_tflite, tmp_path, n_models: int):
    """A plan of `n_models` copies of the tiny model, fp32, on a pool `cpu` of two local devices."""
    models = []
    for i in range(n_models):
        p = tmp_path / f"m{i}.tflite"
        shutil.copyfile(tiny_tflite, p)
        models.append(str(p))
    devices = parse_devices({"devices": [
        {"name": "cpu-a", "kind": "local", "pool": "cpu", "separate_machine": True},
        {"name": "cpu-b", "kind": "local", "pool": "cpu", "separate_machine": True}]}, "test")
    return make_plan(devices, models=models, variants=["fp32"], overrides=FAST, peak_probe=False, pools=("cpu",))


def test_a_pool_of_two_local_devices_spreads_its_jobs_and_resume_counts_them_by_pool(tiny_tflite, tmp_path):
    plan = _two_member_pool_plan(tiny_tflite, tmp_path, 4)
    db_path = tmp_path / "pool.db"
    summary = orchestrate.run(plan, db_path, cache_dir=tmp_path / "cache")
    rows = ResultsDB(db_path).measurements(summary.run_id)
    assert len(rows) == 4 and len({m.model for m in rows}) == 4  # each job once, not once per member
    assert all(m.status == "ok" and m.extra["pool"] == "cpu" for m in rows), [m.error for m in rows]
    assert {m.device for m in rows} == {"cpu-a", "cpu-b"}  # both members took jobs (at the same time)
    again = orchestrate.run(plan, db_path, resume=summary.run_id, cache_dir=tmp_path / "cache")
    assert (again.skipped, again.measured, again.errors) == (4, 0, 0)


def test_cli_run_pool_with_devices_file(harness_cli, tiny_tflite, tmp_path):
    yaml = tmp_path / "devices.yaml"
    yaml.write_text("devices:\n  - {name: cpu-a, kind: local, pool: cpu}\n  - {name: other, kind: local}\n")
    res = harness_cli("run", "--devices", str(yaml), "--pool", "gpu", "--models", str(tiny_tflite),
                      "--variants", "fp32", "--db", str(tmp_path / "r.db"), text=True)
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        "harness: error: --pool gpu: no enabled device of that pool (pools: 'cpu')"], res.stderr
    res = harness_cli("run", "--devices", str(yaml), "--pool", "cpu", "--models", str(tiny_tflite),
                      "--variants", "fp32", "--runs", "5", "--min-seconds", "0.2", "--warmup-seconds", "0",
                      "--cooldown", "0", "--no-peak-probe", "--no-progress", "--db", str(tmp_path / "r.db"),
                      "--cache-dir", str(tmp_path / "cache"), text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    (row,) = ResultsDB(tmp_path / "r.db").measurements()
    assert (row.device, row.extra["pool"], row.status) == ("cpu-a", "cpu", "ok")
    res = harness_cli("run", "--resume", row.run_id, "--pool", "cpu", "--db", str(tmp_path / "r.db"), text=True)
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        "harness: error: --resume: cannot be combined with --pool (a resumed run keeps its stored plan; start a new "
        "run to change it)"], res.stderr


def test_a_lost_members_job_row_says_pool_and_moved_from_built_with_the_row(tiny_tflite, tmp_path):
    """The merge of k27's pools with k24r's row built once: `extra.pool` and `extra.moved_from` ride in the
    row's origin (RowOrigin), not patched onto the stored row. cpu-a loses its device on its first job (a
    DeviceError, as a farm's lost agent); cpu-b, held back until then, runs both jobs."""
    from errors import DeviceError

    lost = threading.Event()

    class Targets(orchestrate.LocalTargets):
        def build(self, device):
            real = super().build(device)
            name = device.name

            class Wrapped:
                def prepare(self) -> None:
                    if name == "cpu-b":
                        lost.wait(120)
                    real.prepare()

                def benchmark(self, job):
                    if name == "cpu-a":
                        lost.set()
                        raise DeviceError(name, "usb link gone")
                    return real.benchmark(job)

                def cool_down(self, bench, stop=None):
                    return real.cool_down(bench, stop)

                def close(self) -> None:
                    real.close()

            return Wrapped()

    plan = _two_member_pool_plan(tiny_tflite, tmp_path, 2)
    seen: list = []
    summary = orchestrate.run(plan, tmp_path / "pool.db", cache_dir=tmp_path / "cache", targets=Targets(),
                              events=lambda kind, payload: seen.append((kind, payload)))
    rows = ResultsDB(tmp_path / "pool.db").measurements(summary.run_id)
    assert len(rows) == 2 and all(m.status == "ok" and m.device == "cpu-b" for m in rows), [m.error for m in rows]
    assert all(m.extra["pool"] == "cpu" and m.host for m in rows)
    moved = [m.extra.get("moved_from") for m in rows]
    # The device it moved from, named once (a DeviceError's own text starts with the device's name).
    assert sorted(map(str, moved)) == sorted(map(str, [None, ["cpu-a: usb link gone"]])), moved
    # One "job_moved" where the job starts again (the member that took it), not a second "job_started":
    # cpu-a's start, cpu-b's own job and the moved one: three starts for two jobs, one of them a move.
    starts = [(kind, p["device"]) for kind, p in seen if kind in ("job_started", "job_moved")]
    assert sorted(starts) == [("job_moved", "cpu-b"), ("job_started", "cpu-a"), ("job_started", "cpu-b")], starts
    (move,) = [p for kind, p in seen if kind == "job_moved"]
    assert move["pool"] == "cpu" and move["moved_from"] == ["cpu-a: usb link gone"], move


def test_the_live_pages_total_counts_a_pools_job_once_and_every_repeat(tiny_tflite, tmp_path):
    """The live page's "n / total" for a stored run is the run's own job count: a pool's job once (not once per
    member), each repeat counted; as the run's "run_started" total says."""
    from dataclasses import replace

    from harness.live.briefs import plan_total

    plan = _two_member_pool_plan(tiny_tflite, tmp_path, 3)
    for p in (plan, replace(plan, repeat=2), replace(plan, pools=())):
        assert plan_total(p.to_dict()) == len(p.repeated_jobs()), p.to_dict().get("pools")
    assert plan_total(replace(plan, repeat=2).to_dict()) == 6  # 3 models, one pool, twice


def test_cli_nightly_takes_pool_as_run_does(harness_cli, tiny_tflite, tmp_path):
    yaml = tmp_path / "devices.yaml"
    yaml.write_text("devices:\n  - {name: cpu-a, kind: local, pool: cpu}\n  - {name: other, kind: local}\n")
    common = ("--devices", str(yaml), "--models", str(tiny_tflite), "--variants", "fp32", "--quick",
              "--repeat", "1", "--db", str(tmp_path / "n.db"), "--out-dir", str(tmp_path / "reports"),
              "--cache-dir", str(tmp_path / "cache"), "--no-peak-probe")
    res = harness_cli("nightly", *common, "--pool", "gpu", text=True)
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        "harness: error: --pool gpu: no enabled device of that pool (pools: 'cpu')"], res.stderr
    res = harness_cli("nightly", *common, "--pool", "cpu", text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    (row,) = ResultsDB(tmp_path / "n.db").measurements()  # the pool's one job; `other` is not in the pool
    assert (row.device, row.extra["pool"], row.status) == ("cpu-a", "cpu", "ok")
