"""The SQLite store: rows committed at once, never doubled, raw samples round-trip."""
from __future__ import annotations

import sqlite3
import time

import pytest

from harness.store.db import ResultsDB
from errors import UserError
from harness.store.results import Measurement, RunInfo, TempSample, Validity


def _run(db: ResultsDB, run_id: str = "r1") -> None:
    db.add_run(RunInfo(run_id, time.time(), "host", "abc", {"numpy": "2"}, {"models": ["m"]}))


def _ok(run_id="r1", variant="fp32", p50=100.0) -> Measurement:
    return Measurement(
        run_id=run_id, device="local", model="m", variant=variant, status="ok", latencies_us=(p50, p50 + 1),
        p50_us=p50, validity=Validity(True, True, True, True, True),
        temperatures=(TempSample(0.0, "before", {"cpu": 40.5}),), metrics={"accuracy": 0.9},
    )


def test_roundtrip_keeps_raw_samples(tmp_path):
    path = tmp_path / "r.db"
    db = ResultsDB(path)
    _run(db)
    m = _ok()
    assert db.add(m)
    db.close()
    # A second connection (another process would do the same) sees the committed row.
    again = ResultsDB(path).measurements("r1")
    assert again == [m]
    assert again[0].temperatures[0].zones_c == {"cpu": 40.5}


def test_ok_row_is_never_doubled_or_overwritten(tmp_path):
    db = ResultsDB(tmp_path / "r.db")
    _run(db)
    assert db.add(_ok(p50=100.0))
    assert not db.add(_ok(p50=999.0))
    rows = db.measurements("r1")
    assert len(rows) == 1 and rows[0].p50_us == 100.0


def test_error_row_is_replaced_by_a_later_success(tmp_path):
    db = ResultsDB(tmp_path / "r.db")
    _run(db)
    db.add(Measurement(run_id="r1", device="local", model="m", variant="fp32", status="error", error="boom"))
    assert db.done_keys("r1", include_errors=False) == set()
    assert db.add(_ok())
    rows = db.measurements("r1")
    assert len(rows) == 1 and rows[0].status == "ok"


def test_unknown_run_and_not_a_database(tmp_path):
    db = ResultsDB(tmp_path / "r.db")
    with pytest.raises(UserError, match="no run with id 'nope'"):
        db.get_run("nope")
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match="not a results database"):
        ResultsDB(bad)


def test_schema_version_recorded(tmp_path):
    path = tmp_path / "r.db"
    ResultsDB(path).close()
    con = sqlite3.connect(path)
    from harness.store.results import SCHEMA_VERSION

    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
