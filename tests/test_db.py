"""The SQLite store: rows committed at once, never doubled, raw samples round-trip."""
from __future__ import annotations

import dataclasses
import sqlite3
import time

import pytest

from harness.store.db import ResultsDB
from errors import UserError
from harness.store.results import SCHEMA_VERSION, Measurement, RunInfo, TempSample, Validity


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


# ---- schema 3: repeat_index in the key; summary-only rows lose the percentiles never measured ------------

V2_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, created_at REAL NOT NULL, host TEXT NOT NULL, git_revision TEXT,
    packages TEXT NOT NULL, plan TEXT NOT NULL, status TEXT NOT NULL, schema_version INTEGER NOT NULL, label TEXT);
CREATE TABLE measurements (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(run_id),
    device TEXT NOT NULL, model TEXT NOT NULL, variant TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
    p50_us REAL, finished_at REAL, schema_version INTEGER NOT NULL, data TEXT NOT NULL,
    UNIQUE (run_id, device, model, variant));
CREATE INDEX measurements_dmv ON measurements (device, model, variant);
CREATE INDEX runs_label ON runs (label, created_at);
INSERT INTO meta VALUES ('schema_version', '2');
INSERT INTO runs VALUES ('old', 1600000000.0, 'h', NULL, '{}', '{}', 'finished', 2, 'nightly:ok');
"""


def _v2_row(con, variant: str, data: dict) -> None:
    con.execute("INSERT INTO measurements (run_id, device, model, variant, status, error, p50_us, finished_at,"
                " schema_version, data) VALUES ('old', 'phone', 'm', ?, ?, NULL, ?, 1.0, 2, ?)",
                (variant, data["status"], data.get("p50_us"), __import__("json").dumps(data, sort_keys=True)))


def test_a_version_2_database_is_upgraded_in_place_keeping_every_row(tmp_path):
    import json

    path = tmp_path / "v2.db"
    con = sqlite3.connect(path)
    con.executescript(V2_DDL)
    sampled = json.loads(_ok(run_id="old", variant="fp32").to_json())
    # What harness wrote for benchmark_model before schema 3: p90/p99 copied from p95, min/max from the mean.
    printed = {"run_id": "old", "device": "phone", "model": "m", "variant": "int8", "status": "ok",
               "schema_version": 2, "latencies_us": [], "mean_us": 2000.0, "std_us": 50.0, "p50_us": 1990.0,
               "p90_us": 2100.0, "p99_us": 2100.0, "min_us": 2000.0, "max_us": 2000.0}
    error = {"run_id": "old", "device": "phone", "model": "m", "variant": "fp16", "status": "error", "error": "x"}
    for variant, data in (("fp32", sampled), ("int8", printed), ("fp16", error)):
        _v2_row(con, variant, data)
    con.commit()
    before = con.execute("SELECT id, variant FROM measurements ORDER BY id").fetchall()
    sampled_text = con.execute("SELECT data FROM measurements WHERE variant='fp32'").fetchone()[0]
    con.close()

    db = ResultsDB(path)
    assert db.upgraded_from == 2 and db.schema_version == SCHEMA_VERSION
    rows = {m.variant: m for m in db.measurements("old")}
    assert set(rows) == {"fp32", "int8", "fp16"}
    fixed = rows["int8"]
    assert fixed.p95_us == 2100.0 and fixed.p90_us is None and fixed.p99_us is None
    assert fixed.min_us is None and fixed.max_us is None and fixed.p50_us == 1990.0
    assert rows["fp32"].p99_us == sampled["p99_us"] and rows["fp16"].error == "x"
    assert db.latest_run_with_label("nightly:ok") == "old"
    # The key now includes repeat_index: a second repeat of a stored key is a new row, a same repeat is not.
    second = dataclasses.replace(_ok(run_id="old", variant="fp32"), repeat_index=1)
    assert db.add(second) and not db.add(second)
    assert db.done_repeats("old", include_errors=False) == {("phone", "m", "fp32", 0), ("phone", "m", "int8", 0),
                                                            ("local", "m", "fp32", 1)}
    db.close()
    con = sqlite3.connect(path)
    assert con.execute("SELECT id, variant FROM measurements WHERE id <= 3 ORDER BY id").fetchall() == before
    assert con.execute("SELECT data FROM measurements WHERE variant='fp32' AND id=1").fetchone()[0] == sampled_text
    con.close()
    again = ResultsDB(path)
    assert again.upgraded_from is None and len(again.measurements("old")) == 4
    again.close()


def test_schema_3_file_gains_the_host_noise_columns(tmp_path):
    """Schema 4 (issue 22): the host's noise during each job in nullable columns with units in their
    names; a schema-3 file is upgraded in place, its rows kept with the new columns empty."""
    path = tmp_path / "v3.db"
    db = ResultsDB(path)
    db.add_run(RunInfo("r", time.time(), "h", None, {}, {}))
    db.add(Measurement(run_id="r", device="d", model="m", variant="fp32", status="ok", p50_us=10.0))
    db.close()
    con = sqlite3.connect(path)  # make it a schema-3 file: the columns did not exist yet
    for col in ("host_others_cpu_pct", "host_steal_pct", "host_run_queue"):
        con.execute(f"ALTER TABLE measurements DROP COLUMN {col}")
    con.execute("UPDATE meta SET value='3' WHERE key='schema_version'")
    con.commit()
    con.close()
    db = ResultsDB(path)
    try:
        assert db.upgraded_from == 3 and db.schema_version == SCHEMA_VERSION == 4
        (old,) = db.measurements("r")
        assert old.p50_us == 10.0 and old.host_others_cpu_pct is None
        db.add(Measurement(run_id="r", device="d", model="m", variant="int8", status="ok", p50_us=9.0,
                           host_others_cpu_pct=61.5, host_steal_pct=0.0, host_run_queue=7))
    finally:
        db.close()
    con = sqlite3.connect(path)
    rows = con.execute("SELECT variant, host_others_cpu_pct, host_steal_pct, host_run_queue FROM measurements"
                       " ORDER BY id").fetchall()
    con.close()
    assert rows == [("fp32", None, None, None), ("int8", 61.5, 0.0, 7)]
