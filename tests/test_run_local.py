"""`harness run` on this host end to end: convert, run, measure, store, resume after SIGKILL."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from converters import training
from errors import UserError
from harness.orchestration import orchestrate
from harness.planning.config import parse_devices
from harness.store.db import ResultsDB
from harness.planning.plan import make_plan

FAST = {"min_runs": 5, "min_s": 0.05, "warmup_s": 0.0, "cooldown_s": 0.0}


def devices_file(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "devices.yaml"
    p.write_text("devices:\n  - {name: local, kind: local}\n" + extra)
    return p


def test_library_run_stores_rows_and_keeps_going_past_failures(tmp_path, tiny_tflite, isolated_cache):
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"TFL3" + b"\x01" * 100)
    devices = parse_devices({"devices": [{"name": "local", "kind": "local"},
                                         {"name": "ghost", "kind": "local", "python": "/nonexistent/python"}]})
    # `make_plan` refuses a broken model file at once (one line, exit 2 on the CLI)...
    with pytest.raises(UserError, match="corrupt.tflite: not a TFLite model"):
        make_plan(devices, models=[str(corrupt), str(tiny_tflite)], variants=["fp32", "fp16"], overrides=FAST)
    # ...and a file that breaks after planning still becomes error rows, while the others are measured.
    good_plan = make_plan(devices, models=[str(tiny_tflite)], variants=["fp32", "fp16"], overrides=FAST)
    plan = dataclasses.replace(good_plan, models=(str(corrupt), str(tiny_tflite)))
    events: list[str] = []
    summary = orchestrate.run(plan, tmp_path / "r.db", events=lambda k, p: events.append(k))
    rows = ResultsDB(tmp_path / "r.db").measurements(summary.run_id)
    by_key = {(m.device, Path(m.model).name, m.variant): m for m in rows}
    assert len(rows) == 8  # 2 devices x 2 models x 2 variants, every job has a row
    good = by_key[("local", "tiny.tflite", "fp32")]
    assert good.status == "ok" and len(good.latencies_us) >= 5 and good.p50_us > 0
    assert good.validity is not None and good.model_size_bytes == tiny_tflite.stat().st_size
    # A .tflite can only run as is; the fp16 pass on it is a clear per-variant error.
    assert "can only run as is" in by_key[("local", "tiny.tflite", "fp16")].error
    assert "not a valid .tflite model" in by_key[("local", "corrupt.tflite", "fp32")].error
    # The broken device yields error rows and does not stop the healthy one.
    assert all(by_key[("ghost", n, v)].status == "error" for n in ("tiny.tflite", "corrupt.tflite")
               for v in ("fp32", "fp16"))
    assert events[0] == "run_started" and events[-1] == "run_finished" and events.count("job_finished") == 8
    assert summary.measured == 1 and summary.errors == 7


def test_zoo_models_convert_and_second_run_converts_nothing(tmp_path, isolated_cache, monkeypatch):
    monkeypatch.setenv("HARNESS_RECIPE", "quick")  # FSRCNN's default recipe is minutes long; not the point here
    monkeypatch.setattr(training, "SR_MODEL_STEPS", {})  # nor FSRCNN-s's own longer one (issue 23): as before
    devices = parse_devices({"devices": [{"name": "local", "kind": "local"}]})
    plan = make_plan(devices, models=["fsrcnn_s"], variants=["fp32", "int8"], overrides=FAST)
    first = orchestrate.run(plan, tmp_path / "r.db")
    assert first.converted == 2 and first.measured == 2, [m.error for m in first.results]
    second = orchestrate.run(plan, tmp_path / "r.db")
    assert second.converted == 0 and second.measured == 2
    int8 = next(m for m in second.results if m.variant == "int8")
    fp32 = next(m for m in second.results if m.variant == "fp32")
    assert int8.extra["inputs"][0]["dtype"] == "int8" and fp32.extra["inputs"][0]["dtype"] == "float32"
    assert int8.model_size_bytes < fp32.model_size_bytes
    # The matmul probe ran once on the device: each result carries the peak and its share of it.
    for m in (int8, fp32):
        assert m.metrics["device_peak_gflops"] > 0
    # int8 kernels are set against the int8 matmul probe, float ones against the fp32 probe.
    assert (fp32.metrics["peak_kind"], int8.metrics["peak_kind"]) == ("fp32", "int8")
    assert int8.metrics["device_peak_gflops"] > fp32.metrics["device_peak_gflops"]
    assert len(fp32.metrics["device_peak_rounds_gflops"]) == 2
    if fp32.metrics["device_peak_swing"] > 0.25:  # a shared host can be that unsteady: then no fraction
        assert "fraction_of_peak" not in fp32.metrics and "swung" in fp32.metrics["fraction_of_peak_note"]
    elif "fraction_of_peak" not in fp32.metrics:  # the probe ran below the model's own rate (a busy host)
        assert "ran below" in fp32.metrics["fraction_of_peak_note"]
    else:
        assert 0 < fp32.metrics["fraction_of_peak"] <= 1.0
        assert fp32.metrics["fraction_of_peak"] == pytest.approx(
            fp32.metrics["achieved_gflops"] / fp32.metrics["device_peak_gflops"], rel=0.01)


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, **kw)


def test_sigkill_mid_run_then_resume_loses_and_doubles_nothing(tmp_path, tiny_tflite, isolated_cache):
    models = []
    for i in range(5):
        p = tmp_path / f"m{i}.tflite"
        shutil.copy(tiny_tflite, p)
        models.append(str(p))
    db = tmp_path / "r.db"
    env = {**os.environ, "XDG_CACHE_HOME": str(isolated_cache)}
    args = ["run", "--devices", str(devices_file(tmp_path)), "--db", str(db), "--models", ",".join(models),
            "--variants", "fp32", "--runs", "5", "--min-seconds", "0.6", "--warmup-seconds", "0",
            "--cooldown", "0", "--no-progress", "--no-peak-probe"]
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    count = 0
    while time.monotonic() < deadline:
        if db.exists():
            try:
                count = sqlite3.connect(db).execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
            except sqlite3.OperationalError:
                count = 0
            if count >= 2:
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 2 <= count < 5, "the run finished before it could be killed"
    con = sqlite3.connect(db)
    run_id, status = con.execute("SELECT run_id, status FROM runs").fetchone()
    assert status == "running"  # killed: it never got to say otherwise
    before = {r[0]: r[1] for r in con.execute("SELECT model, data FROM measurements")}
    con.close()

    res = _cli("run", "--resume", run_id, "--db", str(db), "--no-progress", env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    con = sqlite3.connect(db)
    rows = con.execute("SELECT model, data FROM measurements WHERE run_id=?", (run_id,)).fetchall()
    assert sorted(r[0] for r in rows) == sorted(Path(m).name for m in models)  # every job once, none doubled
    after = dict(rows)
    for model, data in before.items():
        assert after[model] == data  # rows measured before the kill are untouched
    assert con.execute("SELECT status FROM runs WHERE run_id=?", (run_id,)).fetchone()[0] == "finished"
    assert f"{len(before)} already done" in res.stdout


def test_cli_run_then_results_in_every_format(tmp_path, tiny_tflite, isolated_cache):
    db = tmp_path / "r.db"
    env = {**os.environ, "XDG_CACHE_HOME": str(isolated_cache)}
    res = _cli("run", "--devices", str(devices_file(tmp_path)), "--db", str(db), "--models", str(tiny_tflite),
               "--variants", "fp32", "--runs", "5", "--min-seconds", "0.05", "--cooldown", "0", "--no-progress",
               env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "p50 ms" in res.stdout and "1 measured, 0 errors" in res.stdout
    rows = json.loads(_cli("results", "--db", str(db), "--format", "json", timeout=120).stdout)
    assert len(rows) == 1 and rows[0]["schema_version"] >= 1 and len(rows[0]["latencies_us"]) >= 5
    csv_text = _cli("results", "--db", str(db), "--format", "csv", timeout=120).stdout
    assert csv_text.splitlines()[0].startswith("schema_version,run_id,device") and len(csv_text.splitlines()) == 2
    out = tmp_path / "r.parquet"
    assert _cli("results", "--db", str(db), "--format", "parquet", "--out", str(out), timeout=120).returncode == 0
    import pandas as pd

    frame = pd.read_parquet(out)
    assert frame.loc[0, "p50_us"] == pytest.approx(rows[0]["p50_us"])
    table = _cli("results", "--db", str(db), timeout=120)
    assert "tiny.tflite" in table.stdout or "tiny" in table.stdout
    bad = _cli("results", "--db", str(db), "--run", "nope", timeout=120)
    assert bad.returncode == 2 and "no run with id 'nope'" in bad.stderr


def test_cli_devices_lists_local_facts(tmp_path, isolated_cache):
    env = {**os.environ, "XDG_CACHE_HOME": str(isolated_cache)}
    res = _cli("devices", "--devices", str(devices_file(tmp_path)), "--json", env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    facts = json.loads(res.stdout)
    assert facts[0]["status"] == "ok" and facts[0]["cores"] == os.cpu_count()
    assert facts[0]["runtime"] == "ai-edge-litert"


def test_ctrl_c_marks_run_interrupted_and_resume_completes(tmp_path, tiny_tflite, isolated_cache):
    models = []
    for i in range(4):
        p = tmp_path / f"c{i}.tflite"
        shutil.copy(tiny_tflite, p)
        models.append(str(p))
    db = tmp_path / "r.db"
    env = {**os.environ, "XDG_CACHE_HOME": str(isolated_cache)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--devices", str(devices_file(tmp_path)), "--db", str(db),
         "--models", ",".join(models), "--variants", "fp32", "--runs", "5", "--min-seconds", "0.8",
         "--warmup-seconds", "0", "--cooldown", "0", "--no-progress", "--no-peak-probe"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if sqlite3.connect(db).execute("SELECT COUNT(*) FROM measurements").fetchone()[0] >= 1:
                break
        except sqlite3.OperationalError:
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "resume with" in out
    con = sqlite3.connect(db)
    run_id, status = con.execute("SELECT run_id, status FROM runs").fetchone()
    assert status == "interrupted"
    kept = con.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
    assert 1 <= kept < 4
    res = _cli("run", "--resume", run_id, "--db", str(db), "--no-progress", env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    names = [r[0] for r in con.execute("SELECT model FROM measurements")]
    assert sorted(names) == sorted(Path(m).name for m in models)


def test_an_unreachable_iphone_is_error_rows_not_a_crash(tmp_path, tiny_tflite, isolated_cache, monkeypatch):
    monkeypatch.setenv("USBMUXD_SOCKET_ADDRESS", str(tmp_path / "no-usbmuxd.sock"))  # nothing listens there
    devices = parse_devices({"devices": [{"name": "local", "kind": "local"},
                                         {"name": "phone", "kind": "ios", "udid": "00008030-001A2B3C0E12002E"}]})
    plan = make_plan(devices, models=[str(tiny_tflite)], variants=["fp32"], overrides=FAST, peak_probe=False)
    summary = orchestrate.run(plan, tmp_path / "r.db")
    rows = {m.device: m for m in summary.results}
    assert rows["local"].status == "ok"
    assert rows["phone"].status == "error" and "usbmuxd" in rows["phone"].error


def test_unknown_pass_among_known_ones_is_an_error_row_and_the_rest_runs(tmp_path, tiny_tflite, isolated_cache):
    devices = parse_devices({"devices": [{"name": "local", "kind": "local"}]})
    plan = make_plan(devices, models=[str(tiny_tflite)], variants=["fp32", "no_such_pass"], overrides=FAST,
                     peak_probe=False)
    summary = orchestrate.run(plan, tmp_path / "r.db")
    rows = {m.variant: m for m in summary.results}
    assert rows["fp32"].status == "ok"
    assert rows["no_such_pass"].status == "error" and "unknown pass 'no_such_pass'" in rows["no_such_pass"].error


def test_repeat_measures_each_job_n_times_interleaved(tmp_path, tiny_tflite, isolated_cache):
    """--repeat 3 over two models: A B A B A B, one row per repeat, the spread of the medians printed."""
    twin = tmp_path / "twin.tflite"
    shutil.copy(tiny_tflite, twin)
    devices = devices_file(tmp_path)
    res = subprocess.run([sys.executable, "-m", "harness", "run", "--devices", str(devices), "--models",
                          f"{tiny_tflite},{twin}", "--variants", "fp32", "--repeat", "3", "--runs", "5",
                          "--min-seconds", "0.05", "--warmup-seconds", "0", "--cooldown", "0", "--no-peak-probe",
                          "--no-progress", "--db", str(tmp_path / "r.db")], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    rows = sorted(ResultsDB(tmp_path / "r.db").measurements(), key=lambda m: m.started_at)
    assert [(Path(m.model).name, m.repeat_index) for m in rows] == [
        ("tiny.tflite", 0), ("twin.tflite", 0), ("tiny.tflite", 1), ("twin.tflite", 1),
        ("tiny.tflite", 2), ("twin.tflite", 2)]
    assert all(m.status == "ok" and m.p50_us > 0 for m in rows)
    spread_lines = [line for line in res.stdout.splitlines() if line.startswith("repeat spread")]
    assert len(spread_lines) == 2 and all("3 medians" in line for line in spread_lines), res.stdout
