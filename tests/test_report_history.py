"""`harness history`: a series of past runs from a real SQLite file, with its steps marked."""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.cli import main
from harness.store.db import ResultsDB
from harness.store.results import RunInfo
from tests.fixtures_web import make_measurement

DAY = 86_400.0
T0 = 1_700_000_000.0
STEP_AT = 9  # the night the int8 kernel got slower


@pytest.fixture
def nights(tmp_path):
    """14 nights of one board: int8 slows by 15 % from night 9 on, fp32 stays put, accuracy drops once."""
    path = tmp_path / "results.db"
    db = ResultsDB(path)
    rng = np.random.default_rng(42)
    for night in range(14):
        run_id = f"night-{night:02d}"
        db.add_run(RunInfo(run_id, T0 + night * DAY, "farm", f"rev{night:02d}", {}, {}, status="finished"))
        noise = 1 + 0.015 * rng.standard_normal(2)
        db.add(make_measurement(run_id, "rpi5", "models/srcnn.keras", "fp32", median_us=9000 * noise[0], n=60,
                                seed=night, accuracy=0.91))
        slow = 1.15 if night >= STEP_AT else 1.0
        db.add(make_measurement(run_id, "rpi5", "models/srcnn.keras", "int8", median_us=5000 * slow * noise[1], n=60,
                                seed=100 + night, accuracy=0.90 if night < 5 else 0.86))
    db.close()
    return path


def test_history_marks_the_step_on_the_night_it_starts(nights, capsys):
    assert main(["history", "--db", str(nights), "--device", "rpi5", "--model", "srcnn.keras"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[2]: line for line in out.splitlines() if line.strip().startswith("2023")}
    assert "▲ regression +1" in lines[f"night-{STEP_AT:02d}"]
    marked = [run for run, line in lines.items() if "regression" in line or "improvement" in line]
    assert marked == [f"night-{STEP_AT:02d}"]
    assert "rpi5 · srcnn.keras · fp32 · p50 ms · 14 runs" in out and "no step found" in out


def test_history_json_and_accuracy_metric(nights, capsys):
    assert main(["history", "--db", str(nights), "--device", "rpi5", "--model", "models/srcnn.keras",
                 "--variant", "int8", "--metric", "accuracy", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (variant,) = data["variants"]
    assert [s["run_id"] for s in variant["steps"]] == ["night-05"]
    assert variant["steps"][0]["kind"] == "regression"  # accuracy went down: worse
    assert len(variant["points"]) == 14


def test_history_bad_input(nights, capsys):
    base = ["history", "--db", str(nights), "--device", "rpi5", "--model", "srcnn.keras"]
    assert main(base + ["--metric", "speed"]) == 2
    assert "unknown metric 'speed'" in capsys.readouterr().err
    assert main(base + ["--variant", "fp16"]) == 2
    assert "has no variant 'fp16' (variants: fp32, int8)" in capsys.readouterr().err


def _printed_only(run_id: str, p50: float, p95: float):
    """A benchmark_model row: p5/median/p95 printed, no raw samples, no p99."""
    from harness.store.results import Measurement, Validity

    return Measurement(run_id=run_id, device="phone", model="m.tflite", variant="int8", status="ok",
                       runtime="tflite-benchmark_model", p50_us=p50, p95_us=p95, mean_us=p50, std_us=10.0,
                       validity=Validity(True, True, True, True, True))


def test_history_and_compare_say_not_measured_instead_of_following_p95(tmp_path, capsys):
    path = tmp_path / "r.db"
    db = ResultsDB(path)
    for i in range(4):
        db.add_run(RunInfo(f"run-{i}", T0 + i * DAY, "farm", None, {}, {}, status="finished"))
        db.add(_printed_only(f"run-{i}", 1000.0, 1200.0 * (1.3 if i >= 2 else 1.0)))
    db.close()
    assert main(["history", "--db", str(path), "--device", "phone", "--model", "m.tflite", "--metric", "p99"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "run-" in line]
    assert len(rows) == 4 and all("not measured" in line for line in rows), out
    assert "regression" not in out  # the p95 step is not reported as a p99 step
    assert main(["history", "--db", str(path), "--device", "phone", "--model", "m.tflite", "--metric", "p95",
                 "--json"]) == 0
    assert [p["value"] for p in json.loads(capsys.readouterr().out)["variants"][0]["points"]] == [1.2, 1.2, 1.56, 1.56]
    assert main(["compare", "run-0", "run-3", "--db", str(path), "--json"]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert item["p99_a_us"] is None and item["p99_b_us"] is None
    from harness.statistics.compare import compare_runs, comparison_rows

    db = ResultsDB(path)
    (cells,) = comparison_rows(compare_runs(db.measurements("run-0"), db.measurements("run-3")))
    db.close()
    assert "not measured" in cells
