"""The live server: JSON API, server-sent events from a real run, tokens, and the page in Chromium.

Set HARNESS_SCREENSHOTS=DIR to keep the screenshot of the live page.
"""
from __future__ import annotations

import json
import re
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness.live.server import EventHub, LiveServer, choose_token, is_loopback, parse_bind, start_live
from tests.fixtures_web import PHONE, png_size, store_run, synthetic_rows

FAST_BENCH = {"min_runs": 20, "min_s": 0.3, "warmup_s": 0.0, "cooldown_s": 0.0}


@pytest.fixture
def tiny_plan(tiny_tflite):
    from harness.planning.config import local_only
    from harness.planning.plan import make_plan

    return make_plan(local_only(), models=[str(tiny_tflite)], variants=["fp32"], overrides=FAST_BENCH, peak_probe=False)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, object]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


class SseReader(threading.Thread):
    """Reads one event stream over plain HTTP, the way an EventSource would."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.resp = urllib.request.urlopen(url, timeout=30)
        self.events: list[tuple[str, dict]] = []
        self.start()

    def run(self) -> None:
        kind = None
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind:
                    self.events.append((kind, json.loads(line[6:])))
        except Exception:
            pass

    def wait_for(self, kind: str, timeout_s: float = 60) -> dict:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            for k, payload in self.events:
                if k == kind:
                    return payload
            time.sleep(0.05)
        raise AssertionError(f"no {kind} event; got {[k for k, _ in self.events]}")


def test_api_and_event_stream_follow_a_real_run(tiny_plan, tmp_path, isolated_cache):
    from harness.orchestration import orchestrate

    db = tmp_path / "results.db"
    with LiveServer(db, port=0, watch_db=False) as server:
        base = f"http://127.0.0.1:{server.port}"
        assert _get(base + "/api/runs") == (200, [])
        assert _get(base + "/api/runs/latest") == (404, {"error": "the database has no runs yet"})
        stream = SseReader(base + "/api/events")
        summary = orchestrate.run(tiny_plan, db, events=server.publish, cache_dir=tmp_path / "art")
        started = stream.wait_for("run_started")
        result = stream.wait_for("job_finished")["measurement"]
        finished = stream.wait_for("run_finished")
        assert started["run_id"] == summary.run_id == finished["run_id"] and started["total"] == 1
        assert result["model_label"] == "tiny.tflite" and result["status"] == "ok" and result["p50_us"] > 0
        assert result["runs"] >= 20  # the full stored row, not only the orchestrator's brief
        kinds = [k for k, _ in stream.events]
        assert kinds.index("job_started") < kinds.index("job_finished") < kinds.index("run_finished")

        status, runs = _get(base + "/api/runs")
        assert status == 200 and runs[0]["run_id"] == summary.run_id and runs[0]["measured"] == 1
        status, one = _get(f"{base}/api/runs/{summary.run_id}")
        assert one["run"]["status"] == "finished" and one["results"][0]["p50_us"] == result["p50_us"]
        status, full = _get(f"{base}/api/runs/{summary.run_id}?full=1")
        assert len(full["results"][0]["latencies_us"]) == result["runs"]
        assert _get(base + "/api/runs/nope") == (404, {"error": "no run with id 'nope'"})
        assert _get(base + "/nowhere")[0] == 404


def test_the_watcher_reports_rows_another_process_writes(tmp_path):
    db = tmp_path / "results.db"
    store_run(db, "old", synthetic_rows("old", n=20)[:2])
    with LiveServer(db, port=0, watch_db=True, poll_s=0.05) as server:
        q = server.hub.subscribe()
        time.sleep(0.3)  # the first scan marks existing rows as history
        from harness.store.db import ResultsDB
        from harness.store.results import RunInfo

        writer = ResultsDB(db)  # a second connection, as `harness run` in another terminal would be
        writer.add_run(RunInfo("new", time.time(), "host", None, {}, {}, status="running"))
        writer.add(synthetic_rows("new", n=20)[0])
        writer.set_run_status("new", "finished")
        writer.close()
        seen = []
        deadline = time.time() + 10
        while time.time() < deadline and "run_finished" not in [k for k, _ in seen]:
            try:
                _, kind, data = q.get(timeout=0.5)
                seen.append((kind, json.loads(data)))
            except Exception:
                continue
    kinds = [k for k, _ in seen]
    assert kinds[0] == "run_started" and "job_finished" in kinds and kinds[-1] == "run_finished"
    assert all(p.get("run_id", p.get("measurement", {}).get("run_id")) == "new" for _, p in seen)


def test_token_guards_every_path(tmp_path):
    with LiveServer(tmp_path / "r.db", port=0, token="s3cret-token") as server:
        base = f"http://127.0.0.1:{server.port}"
        assert _get(base + "/api/runs")[0] == 401
        assert _get(base + "/api/events")[0] == 401
        assert _get(base + "/api/runs?token=wrong")[0] == 401
        assert _get(base + "/api/runs?token=s3cret-token")[0] == 401  # not in a query (see test_live_security)
        assert _get(base + "/api/runs", {"Authorization": "Bearer s3cret-token"})[0] == 200
        assert server.url.endswith("/?token=s3cret-token")


def test_binding_rules():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert choose_token("127.0.0.1", None) is None
    generated = choose_token("0.0.0.0", None)
    assert generated and len(generated) >= 20 and choose_token("0.0.0.0", None) != generated
    assert choose_token("0.0.0.0", "mine") == "mine"
    assert parse_bind("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_bind(":0") == ("127.0.0.1", 0)
    assert parse_bind("[::1]:8000") == ("::1", 8000)
    from errors import UserError

    with pytest.raises(UserError, match="port must be a number"):
        parse_bind("host:http")


def test_event_history_replays_after_a_reconnect():
    hub = EventHub()
    for i in range(5):
        hub.publish("job_finished", {"i": i})
    q = hub.subscribe(last_id=3)
    assert [q.get_nowait()[0] for _ in range(2)] == [4, 5]


def test_live_page_shows_a_result_without_a_reload(tiny_plan, tmp_path, isolated_cache, cdp_page):
    """A real run on this host while headless Chromium watches the page at phone width."""
    from harness.orchestration import orchestrate

    db = tmp_path / "results.db"
    store_run(db, "yesterday", synthetic_rows("yesterday", n=20)[:2], created_at=time.time() - 86400)
    with LiveServer(db, port=0, watch_db=False) as server:
        cdp_page.navigate(f"http://127.0.0.1:{server.port}/")
        cdp_page.wait_for("document.getElementById('conn').className === 'on'")
        assert cdp_page.evaluate("document.querySelectorAll('.result').length") == 2  # yesterday's, from the API
        cdp_page.evaluate("window.__sameDocument = 'yes'")
        navigations = cdp_page.navigations()

        done = threading.Event()
        worker = threading.Thread(target=lambda: (orchestrate.run(tiny_plan, db, events=server.publish,
                                                                  cache_dir=tmp_path / "art"), done.set()))
        worker.start()
        # The page switches to the new run and the result lands on it.
        cdp_page.wait_for("document.querySelector('[data-key*=\"tiny.tflite\"]') !== null", 60)
        cdp_page.wait_for("document.getElementById('run-status').textContent === 'finished'", 60)
        worker.join(60)
        assert done.is_set()
        card = cdp_page.evaluate("document.querySelector('[data-key*=\"tiny.tflite\"]').innerText")
        assert "tiny.tflite · fp32" in card and "s p50" in card and "local" in card
        assert cdp_page.evaluate("document.getElementById('progress-text').textContent").startswith("1 / 1 done")
        assert cdp_page.evaluate("document.querySelectorAll('.result').length") == 1
        # Same document all along: the marker survived and no navigation happened.
        assert cdp_page.evaluate("window.__sameDocument") == "yes"
        assert cdp_page.navigations() == navigations
        assert cdp_page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
        time.sleep(1.7)  # let the arrival highlight fade before the picture
        png = cdp_page.screenshot(tmp_path / "live-phone.png")
    assert png_size(png) == PHONE
    target = os.environ.get("HARNESS_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(target) / png.name)


def test_serve_command_starts_and_stops(tmp_path):
    db = tmp_path / "results.db"
    store_run(db, "r1", synthetic_rows("r1", n=20)[:1])
    proc = subprocess.Popen([sys.executable, "-m", "harness", "serve", "--db", str(db), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("harness serve: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[2]
        status, runs = _get(url + "api/runs")
        assert status == 200 and runs[0]["run_id"] == "r1"
        with urllib.request.urlopen(url, timeout=10) as resp:
            page = resp.read().decode()
        assert "EventSource" in page and "src=" not in page  # no outside assets: links only to this server's
        assert re.findall(r'href="([^"]*)"', page) and all(h.startswith("/") and not h.startswith("//")
                                                            for h in re.findall(r'href="([^"]*)"', page))
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0


def test_run_live_chains_the_printer_and_the_server(tiny_plan, tmp_path, isolated_cache):
    from harness.orchestration import orchestrate

    printed: list[str] = []
    server, events = start_live(tmp_path / "results.db", "127.0.0.1:0", lambda kind, payload: printed.append(kind))
    try:
        q = server.hub.subscribe()
        orchestrate.run(tiny_plan, tmp_path / "results.db", events=events, cache_dir=tmp_path / "art")
        assert server.flush()
        published = []
        while not q.empty():
            published.append(q.get_nowait()[1])
    finally:
        server.stop()
    assert printed == published and "job_finished" in printed and printed[-1] == "run_finished"


def test_run_live_flag_on_the_command_line(tiny_tflite, tmp_path, isolated_cache):
    env = {**os.environ, "XDG_CACHE_HOME": str(isolated_cache)}
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--models", str(tiny_tflite), "--variants", "fp32", "--runs", "10",
         "--min-seconds", "0.1", "--warmup-seconds", "0", "--cooldown", "0", "--db", str(tmp_path / "r.db"),
         "--cache-dir", str(tmp_path / "art"), "--no-progress", "--no-peak-probe", "--live", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "live: http://127.0.0.1:" in proc.stderr and "token=" not in proc.stderr
    assert "1 measured, 0 errors" in proc.stdout
