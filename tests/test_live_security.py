"""The live server's request handling: DNS rebinding, where the token travels, HEAD on the event
stream, and publishing that never waits for a reader. Real server, real sockets."""
from __future__ import annotations

import http.client
import threading
import time

from harness.live import server as live
from harness.live.server import LiveServer
from harness.store.db import ResultsDB
from harness.store.results import RunInfo
from tests.fixtures_web import make_measurement


def _request(port: int, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
             timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = b"" if method == "HEAD" else resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def test_loopback_server_refuses_foreign_host_headers(tmp_path):
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 sends its own Host."""
    with LiveServer(tmp_path / "r.db", port=0) as server:
        p = server.port
        assert _request(p, "/api/runs", headers={"Host": f"evil.example:{p}"})[0] == 403
        assert _request(p, "/", headers={"Host": "evil.example"})[0] == 403
        assert _request(p, "/api/events", headers={"Host": f"attacker.127.0.0.1.nip.io:{p}"})[0] == 403
        for ok in (f"127.0.0.1:{p}", f"localhost:{p}", "localhost", f"[::1]:{p}", f"app.localhost:{p}"):
            assert _request(p, "/api/runs", headers={"Host": ok})[0] == 200, ok
    ok = live.host_header_ok
    assert not ok(None) and not ok("") and not ok("127.0.0.1.evil.example")


def test_token_is_taken_from_the_query_once_then_lives_in_a_cookie(tmp_path):
    with LiveServer(tmp_path / "r.db", port=0, token="s3cret-token") as server:
        p = server.port
        status, headers, _ = _request(p, "/?token=s3cret-token&theme=dark")
        assert status == 303 and headers["location"] == "/?theme=dark"  # a clean URL, nothing else lost
        cookie = headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        jar = cookie.split(";")[0]
        assert _request(p, "/", headers={"Cookie": jar})[0] == 200
        assert _request(p, "/api/runs", headers={"Cookie": jar})[0] == 200
        assert _request(p, "/api/runs", headers={"Cookie": f"{jar.split('=')[0]}=wrong"})[0] == 401
        assert _request(p, "/api/runs?token=s3cret-token")[0] == 401  # API URLs never carry it
        assert _request(p, "/?token=wrong")[0] == 401
        assert _request(p, "/api/runs", headers={"Authorization": "Bearer s3cret-token"})[0] == 200


def test_head_on_the_event_stream_returns_at_once(tmp_path):
    with LiveServer(tmp_path / "r.db", port=0) as server:
        t0 = time.monotonic()
        status, headers, _ = _request(server.port, "/api/events", method="HEAD", timeout=3.0)
        assert status == 200 and headers["content-type"] == "text/event-stream"
        time.sleep(0.5)
        assert server.hub.subscribers == 0 and time.monotonic() - t0 < 2.0


def test_publishing_does_not_wait_for_a_stalled_reader(tmp_path):
    """A browser's /api/runs read stalls while it holds the database lock; the measurement thread's
    publish must still return at once, and the event (it carries the row itself: nothing is read back from
    the database) arrives while the reader still holds the lock."""
    db_path = tmp_path / "r.db"
    m = make_measurement("run-1", "local", "m.tflite", "fp32", median_us=1000, n=50)
    db = ResultsDB(db_path)
    try:
        db.add_run(RunInfo("run-1", time.time(), "host", None, {}, {}, status="running"))
        db.add(m)
    finally:
        db.close()
    with LiveServer(db_path, port=0, watch_db=False) as server:
        release, entered = threading.Event(), threading.Event()
        real_runs = server._db.runs

        def stalled_runs():
            entered.set()
            release.wait(10)
            return real_runs()

        server._db.runs = stalled_runs  # type: ignore[method-assign]
        reader = threading.Thread(target=_request, args=(server.port, "/api/runs"), kwargs={"timeout": 20})
        reader.start()
        assert entered.wait(5)
        q = server.hub.subscribe()
        t0 = time.monotonic()
        server.publish("job_finished", {"measurement": m})
        took = time.monotonic() - t0
        try:
            _, kind, data = q.get(timeout=5)
            still_held = not release.is_set()
        finally:
            release.set()
        reader.join(10)
    print(f"publish returned in {took * 1000:.1f} ms while a reader held the database")
    assert took < 0.1 and kind == "job_finished" and '"runs": 50' in data and still_held
