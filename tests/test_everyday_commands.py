"""The everyday reading commands as a new user meets them: results (all runs, a run in progress, --out,
--list-runs), tables that never cut a number, and --format wherever a table is."""
from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.store.db import ResultsDB
from harness.store.results import Measurement, RunInfo


def _row(run_id: str, variant: str, p50_us: float, **metrics) -> Measurement:
    return Measurement(run_id=run_id, device="local", model="/models/tiny.tflite", variant=variant, status="ok",
                       model_size_bytes=123456, p50_us=p50_us, p90_us=p50_us * 1.1, p99_us=p50_us * 1.3,
                       cv=0.0123, robust_spread=0.0123, peak_rss_delta_mb=1.5, metrics=dict(metrics))


@pytest.fixture
def db_path(tmp_path) -> Path:
    """Two finished runs (one nightly-labelled) and one still running with a row stored so far."""
    path = tmp_path / "r.db"
    db = ResultsDB(path)
    t = time.time()
    for i, (rid, status, label) in enumerate((("20260101-000000-aaaaaa", "finished", None),
                                              ("20260102-000000-bbbbbb", "finished", "nightly:ok"),
                                              ("20260103-000000-cccccc", "running", None))):
        db.add_run(RunInfo(run_id=rid, created_at=t + i, host="h", git_revision="abc", packages={}, plan={},
                           status=status, label=label))
    db.add(_row("20260101-000000-aaaaaa", "fp32", 1234.567))
    db.add(_row("20260102-000000-bbbbbb", "fp32", 1234.568))
    db.add(_row("20260102-000000-bbbbbb", "deep_compression", 2345.678, compressed_bytes=23456))
    db.add(_row("20260103-000000-cccccc", "prune@sparsity=0.5", 987.654))
    db.close()
    return path


@pytest.mark.parametrize("fmt", ["table", "md", "csv", "json"])
def test_results_all_works_in_every_format(db_path, capsys, fmt):
    assert main(["results", "--db", str(db_path), "--all", "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        assert len(json.loads(out)) == 4
    elif fmt == "csv":
        assert len(list(csv.reader(io.StringIO(out)))) == 5
    else:
        assert out.count("1.235") >= 2 and "prune@sparsity=0.5" in out


def test_results_on_a_run_in_progress_prints_what_is_stored(db_path, capsys):
    assert main(["results", "--db", str(db_path)]) == 0
    cap = capsys.readouterr()
    assert "0.988" in cap.out and "prune@sparsity=0.5" in cap.out
    assert "running" in cap.err and "1 measurements stored so far" in cap.err


def test_results_out_is_honoured_for_tables(db_path, tmp_path, capsys):
    out = tmp_path / "table.md"
    assert main(["results", "--db", str(db_path), "--run", "20260102-000000-bbbbbb", "--format", "md",
                 "--out", str(out)]) == 0
    assert capsys.readouterr().out == ""
    text = out.read_text()
    assert "| file size |" in text.replace("| compressed size ", "") or "file size" in text
    # deep_compression shows both sizes, named
    assert "compressed size" in text and "23.5 kB" in text and "123.5 kB" in text


def test_list_runs_shows_labels_and_the_old_spelling_still_works(db_path, capsys):
    assert main(["results", "--db", str(db_path), "--list-runs", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["label"] for r in rows] == ["", "nightly:ok", ""] and rows[2]["status"] == "running"
    assert main(["results", "--db", str(db_path), "--runs"]) == 0
    cap = capsys.readouterr()
    assert "nightly:ok" in cap.out and "--list-runs" in cap.err


@pytest.mark.parametrize("width", [60, 100])
def test_narrow_terminals_get_every_digit(width):
    from harness.reporting.tables import measurements_text

    text = measurements_text([_row("r", "fp32_with_a_long_name", 1234.5678)], "table", width=width)
    assert "…" not in text and "1.235" in text and "1.358" in text and "1.605" in text and "1.2%" in text
    assert max(len(line) for line in text.splitlines()) <= width


def test_pipes_get_the_full_table(capsys):
    from harness.reporting.render import render

    headers = [f"column {i}" for i in range(12)]
    text = render("table", headers, [[f"{i * 1.23456:.5f}" for i in range(12)]])  # stdout is not a tty here
    assert "…" not in text and "13.58016" in text and len(text.splitlines()[1]) > 80


def test_compare_devices_history_convert_take_format(db_path, capsys):
    from harness.cli import build_parser

    parser = build_parser()
    for argv in (["compare", "a", "b"], ["devices"], ["history", "--device", "d", "--model", "m"], ["convert"],
                 ["results"]):
        for fmt in ("md", "csv", "json"):
            assert parser.parse_args(argv + ["--format", fmt]).format == fmt
    assert main(["compare", "20260101-000000-aaaaaa", "20260102-000000-bbbbbb", "--db", str(db_path),
                 "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and rows[0]["variant"] == "fp32"
