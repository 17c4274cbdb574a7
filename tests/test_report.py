"""`harness report`: a self-contained HTML page checked in real headless Chromium, and Markdown.

Set HARNESS_SCREENSHOTS=DIR to keep the screenshots for a look.
"""
from __future__ import annotations

import base64
import os
import re
import shutil
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cli import main
from tests.fixtures_web import DESKTOP, PHONE, CdpPage, png_size, store_run, synthetic_rows

FAST_BENCH = {"min_runs": 20, "min_s": 0.2, "warmup_s": 0.0, "cooldown_s": 0.0}


def keep(png: Path) -> Path:
    target = os.environ.get("HARNESS_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(target) / png.name)
    return png


@pytest.fixture(scope="module")
def real_run(tiny_tflite, tmp_path_factory):
    """One real run of the tiny model on this host through the whole pipeline: (db path, run id)."""
    from harness.orchestration import orchestrate
    from harness.planning.config import local_only
    from harness.planning.plan import make_plan

    tmp = tmp_path_factory.mktemp("real-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp / "cache"))
        plan = make_plan(local_only(), models=[str(tiny_tflite)], variants=["fp32"], overrides=FAST_BENCH,
                         peak_probe=False)
        summary = orchestrate.run(plan, tmp / "results.db", cache_dir=tmp / "artifacts")
    assert summary.measured == 1, summary.results
    return tmp / "results.db", summary.run_id


@pytest.fixture
def synthetic_db(tmp_path):
    db = tmp_path / "results.db"
    store_run(db, "night-1", synthetic_rows("night-1", seed=1, n=100), created_at=1_700_000_000)
    store_run(db, "night-2", synthetic_rows("night-2", seed=2, n=100, slow={("rpi5", "srcnn", "int8"): 1.8}),
              created_at=1_700_086_400)
    return db


def _svgs(page: str) -> list[str]:
    return [base64.b64decode(m).decode() for m in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)]


def test_report_of_a_real_run_is_self_contained(real_run, tmp_path, capsys):
    db, run_id = real_run
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    page = out.read_text()
    assert f"run <code>{run_id}</code>" in page
    assert "tiny.tflite" in page
    # Nothing to fetch: no external script, style, image or font.
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<link" not in page and "@import" not in page
    svgs = _svgs(page)
    assert len(svgs) == 1  # latency only: one variant has no baseline, no accuracy, no power
    ET.fromstring(svgs[0])  # well-formed SVG
    assert "No fp32 baseline" in page and "No power readings" in page
    assert f"wrote {out}" in capsys.readouterr().out


def test_full_report_in_chromium_at_phone_and_desktop_width(synthetic_db, chromium, tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(synthetic_db), "--run", "night-2", "--against", "night-1",
                 "--out", str(out)]) == 0
    page = out.read_text()
    assert len(_svgs(page)) == 5  # latency, ratios, accuracy/Pareto, energy, temperature
    for size, name in ((PHONE, "report-phone.png"), (DESKTOP, "report-desktop.png")):
        browser = CdpPage(chromium, tmp_path / f"profile-{size[0]}", size)
        try:
            browser.navigate(out.as_uri())
            # Every figure decoded and drawn by the browser itself.
            assert browser.wait_for("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
            assert browser.evaluate("document.images.length") == 5
            # The page never scrolls sideways as a whole; wide tables and figures scroll in their box.
            assert browser.evaluate("document.documentElement.scrollWidth") <= size[0]
            # Tables sit under their figures.
            order = browser.evaluate(
                "[...document.querySelectorAll('section')].map(s => [...s.children].map(c => c.tagName)"
                ".filter(t => t === 'FIGURE' || t === 'DIV').join(','))")
            assert "FIGURE,DIV" in order
            slower = browser.evaluate("[...document.querySelectorAll('tr.slower')].map(r => r.textContent)")
            assert len(slower) == 1 and "srcnn" in slower[0] and "int8" in slower[0]
            png = keep(browser.screenshot(tmp_path / name))
        finally:
            browser.close()
        assert png_size(png) == size


def test_markdown_summary_for_a_pull_request(synthetic_db, capsys):
    assert main(["report", "--db", str(synthetic_db), "--format", "md", "--against", "night-1"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("### harness · run `night-2` (finished)")
    assert "| device | model | variant | p50 ms |" in md
    summary = next(line for line in md.splitlines() if line.startswith("**Against run `night-1`:**"))
    # one run a side (issue 22): only a change beyond the host's run-to-run noise is called
    assert "1 slower" in summary and "11 inconclusive" in summary and "inconclusive: one run per side" in md
    row = next(line for line in md.splitlines() if line.startswith("| rpi5 | srcnn | int8 | slower"))
    assert "+80" in row or "+79" in row or "+81" in row
    assert "data:image" not in md


@pytest.mark.parametrize("argv,message", [
    (["report", "--run", "nope"], "no run with id 'nope'"),
    (["report", "--against", "nope"], "no run with id 'nope'"),
    (["history", "--device", "nope", "--model", "srcnn"], "no results for device 'nope'"),
    (["history", "--device", "rpi5", "--model", "nope"], "has no results for model 'nope'"),
])
def test_unknown_ids_are_one_clear_line(synthetic_db, capsys, argv, message):
    assert main(argv + ["--db", str(synthetic_db)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_and_empty_databases(tmp_path, capsys):
    missing = tmp_path / "nothing.db"
    assert main(["report", "--db", str(missing)]) == 2
    assert "no results database" in capsys.readouterr().err
    assert not missing.exists()  # reading never creates a file
    from harness.store.db import ResultsDB

    ResultsDB(tmp_path / "empty.db").close()
    for argv in (["report"], ["history", "--device", "d", "--model", "m"], ["compare", "a", "b"]):
        assert main(argv + ["--db", str(tmp_path / "empty.db")]) == 2
        err = capsys.readouterr().err
        assert ("no runs yet" in err or "empty" in err or "no run with id" in err), err


V1_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, created_at REAL NOT NULL, host TEXT NOT NULL, git_revision TEXT,
    packages TEXT NOT NULL, plan TEXT NOT NULL, status TEXT NOT NULL, schema_version INTEGER NOT NULL);
CREATE TABLE measurements (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(run_id),
    device TEXT NOT NULL, model TEXT NOT NULL, variant TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
    p50_us REAL, finished_at REAL, schema_version INTEGER NOT NULL, data TEXT NOT NULL,
    UNIQUE (run_id, device, model, variant));
CREATE INDEX measurements_dmv ON measurements (device, model, variant);
INSERT INTO meta VALUES ('schema_version', '1');
"""


def test_a_version_1_database_is_upgraded_with_every_row_kept(tmp_path, capsys):
    from harness.store.results import SCHEMA_VERSION

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript(V1_DDL)
    rows = synthetic_rows("old-run", n=50)
    con.execute("INSERT INTO runs VALUES ('old-run', 1600000000.0, 'pi', 'deadbeef', '{}', '{}', 'finished', 1)")
    for m in rows:
        data = m.to_json().replace(f'"schema_version": {SCHEMA_VERSION}', '"schema_version": 1')
        con.execute("INSERT INTO measurements (run_id, device, model, variant, status, error, p50_us, finished_at,"
                    " schema_version, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                    (m.run_id, m.device, m.model, m.variant, m.status, m.error, m.p50_us, m.finished_at, data))
    con.commit()
    before = con.execute("SELECT id, data FROM measurements ORDER BY id").fetchall()
    con.close()

    out = tmp_path / "old.html"
    assert main(["report", "--db", str(path), "--out", str(out)]) == 0
    assert "upgraded" in capsys.readouterr().err and out.exists()

    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    assert con.execute("SELECT id, data FROM measurements ORDER BY id").fetchall() == before  # v1 -> v2 -> v3
    assert {r[0] for r in con.execute("SELECT repeat_index FROM measurements")} == {0}
    assert con.execute("SELECT run_id, label, schema_version FROM runs").fetchall() == [("old-run", None, 1)]
    indexes = {r[1] for r in con.execute("PRAGMA index_list(runs)")}
    assert "runs_label" in indexes
    con.close()
    # A second open is a no-op, and the new column works.
    from harness.store.db import ResultsDB

    db = ResultsDB(path)
    assert db.upgraded_from is None
    db.set_run_label("old-run", "nightly:ok")
    assert db.latest_run_with_label("nightly:ok") == "old-run"
    assert [m.p50_us for m in db.measurements("old-run")] == [m.p50_us for m in rows]
    db.close()


def test_a_database_newer_than_this_harness_is_refused_untouched(tmp_path, capsys):
    path = tmp_path / "new.db"
    from harness.store.db import ResultsDB

    ResultsDB(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    assert main(["report", "--db", str(path)]) == 2
    assert "schema_version 99 is newer" in capsys.readouterr().err
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("99",)
    con.close()


def test_pareto_front_and_ratios_are_computed_not_copied():
    from harness.reporting.plots import pareto_front, ratios
    from tests.fixtures_web import make_measurement

    # (latency, accuracy): 2 is dominated by 1 (slower and less accurate); 3 ties 0 on latency but is worse.
    points = [(5.0, 0.90), (3.0, 0.91), (4.0, 0.88), (5.0, 0.85), (9.0, 0.95)]
    assert pareto_front(points) == {1, 4}
    rows = [make_measurement("r", "pi", "m", "fp32", median_us=1000, size_bytes=4000, seed=1),
            make_measurement("r", "pi", "m", "int8", median_us=400, size_bytes=1000, seed=2),
            make_measurement("r", "pc", "m", "int8", median_us=100, size_bytes=1000, seed=3)]  # no pc baseline
    (r,) = ratios(rows)
    assert (r.device, r.variant) == ("pi", "int8")
    assert r.speedup == pytest.approx(rows[0].p50_us / rows[1].p50_us) and r.size_ratio == 0.25
