"""The iOS app's SSE client (HarnessCore's SSEClient, run by ios_app's `live-follow`) against a real
harness LiveServer: events arrive, a dropped stream resumes with Last-Event-ID and loses nothing, a wrong
token stops it for good."""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from harness.live.server import LiveServer
from tests.test_ios_app import APP, _run

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def follower() -> str:
    res = _run(["build", "--product", "live-follow"], timeout=1800)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    exe = APP / ".build" / "debug" / "live-follow"
    assert exe.is_file()
    return str(exe)


@pytest.fixture
def server(tmp_path):
    srv = LiveServer(tmp_path / "r.db", host="127.0.0.1", port=0, token=TOKEN, watch_db=False).start()
    yield srv
    srv.hub.close()
    srv.httpd.shutdown()


def _follow(exe: str, srv: LiveServer, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([exe, "--url", f"http://127.0.0.1:{srv.port}/", "--timeout", "30", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_subscribed(srv: LiveServer, n: int = 1) -> None:
    deadline = time.monotonic() + 20
    while srv.hub.subscribers < n:
        assert time.monotonic() < deadline, "the client never connected"
        time.sleep(0.05)


def test_events_then_resume_after_a_dropped_stream(follower, server):
    p = _follow(follower, server, "--token", TOKEN, "--count", "3")
    _wait_subscribed(server)
    server.publish("run_started", {"run_id": "r1", "total": 2, "todo": 2, "skipped": 0})
    time.sleep(0.5)
    server.hub.close()  # the stream ends, as when a proxy or the Wi-Fi drops it
    deadline = time.monotonic() + 10
    while server.hub.subscribers:  # the old stream is gone; publish while the client is away
        assert time.monotonic() < deadline
        time.sleep(0.05)
    server.publish("job_started", {"device": "iphone", "model": "m", "variant": "coreml"})
    server.publish("run_finished", {"run_id": "r1", "status": "finished", "measured": 1, "errors": 0, "skipped": 0})
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["id"], e["event"]) for e in events] == [("1", "run_started"), ("2", "job_started"),
                                                       ("3", "run_finished")]
    assert json.loads(events[0]["data"])["run_id"] == "r1"
    assert "reconnecting in 2000 ms" in err  # the server's retry: 2000
    assert TOKEN not in err and TOKEN not in out


def test_last_event_id_replays_only_what_was_missed(follower, server):
    for i in range(3):
        server.publish("job_started", {"device": "d", "model": f"m{i}", "variant": "v"})
    p = _follow(follower, server, "--token", TOKEN, "--last-event-id", "1", "--count", "2")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["2", "3"]


def test_wrong_token_stops_without_retrying(follower, server):
    p = _follow(follower, server, "--token", "wrong", "--count", "1")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 3 and out == ""
    assert "stopped: the server refused the token (HTTP 401)" in err
    assert err.count("connecting") == 1  # no retry loop against a server that said no
