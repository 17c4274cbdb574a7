"""The live page stays true: opened in the middle of a run it says what the run is doing (never "idle" while a
job runs), and `harness serve` watching a run another process writes keeps the run picker, the progress line
and the cards in agreement. Real server, real SQLite, real headless Chromium at phone and desktop sizes."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness.live.server import LiveServer
from harness.store.db import ResultsDB
from harness.store.results import RunInfo
from tests.fixtures_web import DESKTOP, PHONE, CdpPage, make_measurement

RUN = "20261206-120000-abcdef"
JOBS = [("local", m, v) for m in ("srcnn", "fsrcnn") for v in ("fp32", "dr_int8", "int8")]  # 6 jobs
PLAN = {"models": ["srcnn", "fsrcnn"], "variants": ["fp32", "dr_int8", "int8"],
        "devices": {"devices": [{"name": "local", "kind": "local", "enabled": True}]}}


def _running_run(db_path: Path, done: int) -> None:
    db = ResultsDB(db_path)
    try:
        db.add_run(RunInfo(RUN, time.time(), "bench-host", "abc123", {}, PLAN, status="running"))
        db.add_many([make_measurement(RUN, d, m, v, median_us=2000.0 + 100 * i, seed=i)
                     for i, (d, m, v) in enumerate(JOBS[:done])])
    finally:
        db.close()


def _page_state(page: CdpPage) -> dict:
    return page.evaluate("""({
      cards: document.querySelectorAll('.result').length,
      progress: document.getElementById('progress-text').textContent,
      current: document.getElementById('current').textContent,
      status: document.getElementById('run-status').textContent,
      option: document.getElementById('runs').selectedOptions[0].textContent,
      overflow: document.documentElement.scrollWidth > window.innerWidth,
    })""")


@pytest.fixture(params=[PHONE, DESKTOP], ids=["phone", "desktop"])
def page(request, chromium, tmp_path):
    p = CdpPage(chromium, tmp_path / "chromium-profile", size=request.param)
    try:
        yield p
    finally:
        p.close()


def _shot(page: CdpPage, tmp_path: Path, name: str) -> None:
    keep = os.environ.get("HARNESS_SCREENSHOTS")
    png = page.screenshot((Path(keep) if keep else tmp_path) / f"{name}.png")
    assert png.stat().st_size > 1000


def test_opened_mid_run_the_page_says_which_job_runs(page, tmp_path):
    """`harness run --live`: the page opened after two of six jobs, while the third is measured."""
    db = tmp_path / "r.db"
    _running_run(db, done=2)
    with LiveServer(db, port=0, watch_db=False) as server:
        server.publish("run_started", {"run_id": RUN, "total": 6, "todo": 6, "skipped": 0})
        server.publish("job_started", {"device": "local", "model": "/data/fsrcnn", "variant": "fp32", "repeat": 0})
        assert server.flush()
        page.navigate(f"http://127.0.0.1:{server.port}/")
        page.wait_for("document.querySelectorAll('.result').length === 2")
        s = _page_state(page)
        assert s["progress"] == "2 / 6 done" and s["status"] == "running"
        assert s["current"] == "measuring local · fsrcnn · fp32", s  # not "idle" while a job runs
        assert s["option"].endswith("running · 2 results") and not s["overflow"], s
        _shot(page, tmp_path, "live-mid-run")


def test_serve_watching_a_run_started_elsewhere_stays_consistent(page, tmp_path):
    """`harness serve` beside a separate `harness run`: only the database tells it anything."""
    db = tmp_path / "r.db"
    _running_run(db, done=1)
    with LiveServer(db, port=0, watch_db=True, poll_s=0.1) as server:
        page.navigate(f"http://127.0.0.1:{server.port}/")
        page.wait_for("document.getElementById('conn').className === 'on'")
        page.wait_for("document.querySelectorAll('.result').length === 1")
        s = _page_state(page)
        assert s["current"] == "in progress" and s["status"] == "running", s  # never "idle" while running
        other = ResultsDB(db)  # the other process writes its results
        try:
            for i, (d, m, v) in enumerate(JOBS[1:4], start=1):
                other.add(make_measurement(RUN, d, m, v, median_us=2000.0 + 100 * i, seed=i))
            page.wait_for("document.querySelectorAll('.result').length === 4", 30)
            page.wait_for("document.getElementById('runs').selectedOptions[0].textContent.includes('4 results')", 10)
            s = _page_state(page)
            assert s["progress"] == "4 / 6 done" and s["option"].endswith("running · 4 results"), s
            assert s["current"] == "in progress" and not s["overflow"], s
            _shot(page, tmp_path, "serve-running")
            other.set_run_status(RUN, "finished")
        finally:
            other.close()
        page.wait_for("document.getElementById('run-status').textContent === 'finished'", 30)
        page.wait_for("document.getElementById('runs').selectedOptions[0].textContent.includes('finished')", 10)
        s = _page_state(page)
        assert s["current"] == "idle" and s["option"].endswith("finished · 4 results") and s["cards"] == 4, s
