"""Issue 22: what else used this host's CPUs while a job ran, from /proc/stat (real files recorded here)."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from harness.cli import main
from harness.orchestration.hostload import CpuTimes, HostNoise, cpu_times, host_noise, parse_proc_stat

HOST = Path(__file__).parent / "fixtures" / "host"


def test_parse_a_real_proc_stat_one_second_apart():
    """Two readings of this shared 2-core host 1 s apart (load 15.9, tests/fixtures/host/uptime.txt)."""
    a = parse_proc_stat((HOST / "proc_stat_a.txt").read_text())
    b = parse_proc_stat((HOST / "proc_stat_b.txt").read_text())
    assert a.cpus == 2 and a.procs_running is not None and a.procs_running >= 1
    assert 1.5 <= b.total_s - a.total_s <= 2.5  # two CPUs for about one second
    noise = host_noise(a, b, own_s=0.0)  # this reading's process used ~no CPU: the rest was others'
    assert noise.others_cpu_pct is not None and noise.others_cpu_pct > 25 and noise.busy()
    assert 0.0 <= (noise.steal_pct or 0.0) <= 100.0
    # the same interval with our own CPU time taking almost all of it is not busy
    mine = host_noise(a, b, own_s=(b.total_s - a.total_s) - (b.idle_s - a.idle_s) - (b.steal_s - a.steal_s))
    assert mine.others_cpu_pct == 0.0 and not mine.busy()


def test_a_vm_with_steal_and_no_proc_stat():
    text = "cpu  100 0 50 800 0 0 0 50 0 0\ncpu0 100 0 50 800 0 0 0 50 0 0\nprocs_running 3\n"
    later = "cpu  150 0 60 880 0 0 0 110 0 0\ncpu0 150 0 60 880 0 0 0 110 0 0\nprocs_running 5\n"
    n = host_noise(parse_proc_stat(text), parse_proc_stat(later), own_s=0.6)
    assert (n.others_cpu_pct, n.steal_pct, n.run_queue) == (0.0, 30.0, 5) and n.busy()
    assert host_noise(None, None) == HostNoise(None, None, None)
    assert isinstance(cpu_times(), CpuTimes)  # Linux here


def test_devices_shows_the_hosts_current_load(tmp_path, capsys):
    devices = tmp_path / "devices.yaml"
    devices.write_text(yaml.safe_dump({"devices": [{"name": "local", "kind": "local"}]}))
    main(["devices", "--devices", str(devices)])
    out = capsys.readouterr().out
    assert "this host: load" in out and "CPUs" in out
    main(["devices", "--devices", str(devices), "--json"])
    (row,) = json.loads(capsys.readouterr().out)
    assert set(row["host_load"]) >= {"load1", "others_cpu_pct", "run_queue", "busy"}


def test_the_runner_reads_proc_stat_as_the_host_does():
    """rpi/runner.py imports nothing of the project, so it parses /proc/stat itself: on the same real
    readings (and the same own CPU time) it must give the host's figures exactly."""
    from rpi.runner import cpu_counters, host_cpu_during

    ta, tb = (HOST / "proc_stat_a.txt").read_text(), (HOST / "proc_stat_b.txt").read_text()
    for own in (0.0, 0.4):
        runner = host_cpu_during(cpu_counters(ta, own_s=0.0, tick=100), cpu_counters(tb, own_s=own, tick=100))
        host = host_noise(parse_proc_stat(ta), parse_proc_stat(tb), own_s=own)
        assert runner == {"host_others_cpu_pct": host.others_cpu_pct, "host_steal_pct": host.steal_pct,
                          "host_run_queue": host.run_queue}
    assert host_cpu_during(None, None) == {}


def test_the_runner_sees_a_busy_machine_during_its_timed_window(tiny_tflite):
    """A real run of the runner while two other processes spin on this host's CPUs: the result says that
    others took a large share of the CPUs during the timed window; the row built from it is `host busy`."""
    import subprocess
    import sys

    from devices.runner_result import RunnerResult
    from harness.orchestration.hostload import runner_noise
    from rpi.runner import run_job

    spin = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        res = run_job({"model_path": str(tiny_tflite), "threads": 1, "min_runs": 20, "min_s": 1.0,
                       "warmup_runs": 1, "warmup_s": 0.0})
    finally:
        for p in spin:
            p.kill()
            p.wait()
    assert res["error"] is None
    assert res["host_others_cpu_pct"] > 25.0 and res["host_run_queue"] >= 1
    noise = runner_noise(RunnerResult.from_json(res))
    assert noise is not None and noise.busy()


def test_a_window_that_changed_speed_halfway_is_unstable():
    """A real window of this VM (tests/fixtures/host/level_shift_windows.json): its first half ran at 1.9x,
    its second at 1x, with nothing else on the CPUs. Its robust spread stayed under 10 % (more than half of
    the samples sat in one level), so before the level-shift check it was a valid row, 84 % slower than the
    next repeat, and made an A/A pair a false `slower`. The steady repeat beside it stays valid."""
    from harness.statistics.latency import judge, level_shift, summarize

    data = json.loads((HOST / "level_shift_windows.json").read_text())

    def verdict(samples: list[float]):
        s = summarize(samples)
        args = dict(runs=s.count, duration_s=1.0, cv=s.cv, min_runs=50, min_s=0.5, cv_threshold=1e6,
                    throttled=False, ops_total=None, ops_delegated=None, delegate=None,
                    robust_spread=s.robust_spread, spread_threshold=0.10)
        return s, judge(**args), judge(**args, shift=level_shift(samples))

    s, before, after = verdict(data["shifted"]["latencies_us"])
    assert s.robust_spread is not None and s.robust_spread <= 0.10 and before.valid  # what the old rule saw
    assert not after.valid and "level shift" in " ".join(after.notes)
    _, _, steady = verdict(data["steady"]["latencies_us"])
    assert steady.valid
    assert level_shift([1.0] * 19) is None
