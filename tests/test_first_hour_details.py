"""The small things a new user meets in the first hour: hints that name today's flags, a typo'd model name
answered with a suggestion, `history --model` taking the path as typed."""
from __future__ import annotations

import os
import time

import pytest

from errors import UserError
from harness.cli import main
from harness.store.db import ResultsDB
from harness.store.results import Measurement, RunInfo


def test_a_typod_zoo_name_gets_a_suggestion(capsys, tmp_path):
    assert main(["run", "--models", "srcnnn", "--db", str(tmp_path / "r.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did you mean 'srcnn'?" in err


def test_an_unknown_run_id_points_at_list_runs(tmp_path):
    db = ResultsDB(tmp_path / "r.db")
    with pytest.raises(UserError) as err:
        db.get_run("20990101-000000-abcdef")
    assert "results --list-runs" in str(err.value)


def test_history_takes_the_model_path_in_any_spelling(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db_path = tmp_path / "r.db"
    db = ResultsDB(db_path)
    for i in range(2):
        run_id = f"2026010{i + 1}-000000-00000{i}"
        db.add_run(RunInfo(run_id, time.time() + i, "host", "abc", {}, {}, status="finished"))
        db.add(Measurement(run_id=run_id, device="local", model="models/m.keras", variant="fp32", status="ok",
                           p50_us=1000.0 + i))
    db.close()
    for given in ("models/m.keras", "./models/m.keras", os.path.join(str(tmp_path), "models", "m.keras"),
                  "m.keras"):
        assert main(["history", "--db", str(db_path), "--device", "local", "--model", given]) == 0, given
        capsys.readouterr()
    assert main(["history", "--db", str(db_path), "--device", "local", "--model", "other/x.keras"]) == 2


def test_the_runtime_cell_stays_on_one_line_in_a_pipe(capsys):
    from harness.reporting.tables import print_devices

    print_devices([{"device": "local", "kind": "local", "status": "ok", "cores": 2, "runtime": "ai-edge-litert",
                    "runtime_version": "2.3.0"}])
    assert "ai-edge-litert 2.3.0" in capsys.readouterr().out


def test_converts_fidelity_column_says_it_is_the_output_against_fp32s():
    """`46.7 dB` alone read as an accuracy: the header and the cell say it is this variant's output against fp32's."""
    from harness.commands.convert import table_rows

    rows = [{"model": "m", "variant": "int8", "metrics": {"size_bytes": 1000, "psnr_vs_fp32_db": 46.7,
                                                          "accuracy_note": "no task named"}},
            {"model": "c", "variant": "int8", "metrics": {"size_bytes": 1000, "top1_agreement_fp32": 0.95}}]
    headers, cells = table_rows(rows)
    col = headers.index("output vs fp32")
    assert cells[0][col] == "PSNR 46.7 dB to fp32's" and cells[1][col] == "95.0% same top-1"
    assert cells[0][headers.index("accuracy")] == "not measured"
