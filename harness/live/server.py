"""`harness serve` and `harness run --live`: a small web server for watching runs as they happen.

JSON API: /api/runs, /api/runs/<id> (add ?full=1 for raw samples), /api/runs/latest; server-sent
events on /api/events (job_started, job_finished, run_started, run_finished, ...), and the page at /
that the companion apps show. It binds 127.0.0.1 unless told otherwise, and there it answers only
requests whose Host header is a loopback name (a DNS-rebinding page gets 403). Bound anywhere else it
asks for a token, generated when none is given: `Authorization: Bearer`, or the HttpOnly,
SameSite=Strict cookie that the first page load with `?token=` sets before it redirects to a clean
URL; the query string carries the token nowhere else (URLs end up in histories and logs).

Publishing never waits: the orchestrator's callback queues the event, and one publisher thread reads
the stored row (under the lock the API's reads share) and fans it out, so a slow page or a long
/api/runs read costs a measurement thread nothing.

Events come either straight from the orchestrator (`run --live` passes `LiveServer.publish` as its
events callback) or, for `serve` beside a separate `harness run`, from a watcher that polls the
database for new runs and rows.

This module runs the server (threads, publishing, start and stop); who may connect is harness.live.access,
the requests harness.live.handler, the events harness.live.events, what the page shows harness.live.briefs.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

from errors import UserError, clean
from harness.live.access import choose_token, host_header_ok, is_loopback, parse_bind
from harness.live.briefs import result_brief
from harness.live.events import ACTIVITY_EVENTS, DbWatcher, EventHub, Events
from harness.live.handler import handler_for
from harness.store.db import ResultsDB
from harness.store.results import Measurement

__all__ = ["EventHub", "Events", "LiveServer", "choose_token", "host_header_ok", "is_loopback", "parse_bind",
           "result_brief", "start_live", "wait_for_subscribers"]

T = TypeVar("T")


class LiveServer:
    """The server, its event hub and (optionally) the database watcher, in background threads."""

    def __init__(self, db_path: str | Path, *, host: str = "127.0.0.1", port: int = 8765,
                 token: str | None = None, watch_db: bool = True, poll_s: float = 0.5) -> None:
        self.db_path = Path(db_path)
        self.host = host
        self.token = choose_token(host, token)
        self.hub = EventHub()
        self._db_lock = threading.Lock()
        try:  # listen first: a refused address must not leave a new database file behind
            self.httpd = ThreadingHTTPServer((host, port), handler_for(self))
        except (OSError, OverflowError) as exc:
            why = getattr(exc, "strerror", None) or exc
            raise UserError(f"cannot listen on {clean(host, 80)}:{port}: {why}") from None
        try:
            self._db = ResultsDB(self.db_path)
        except BaseException:
            self.httpd.server_close()
            raise
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._watcher = DbWatcher(self, poll_s) if watch_db else None
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="live-http", daemon=True)
        self.closing = threading.Event()
        self.loopback_only = is_loopback(host)
        self.cookie_name = f"harness_token_{self.port}"
        self._outbox: queue.Queue[tuple[str, Mapping[str, object]] | None] = queue.Queue()
        # What the run this process drives is doing now (its last convert/export/job start), so a page
        # opened mid-run says so at once instead of waiting for the next event.
        self.activity: dict[str, object] | None = None
        self._publisher = threading.Thread(target=self._publish_loop, name="live-publish", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def start(self) -> LiveServer:
        self._thread.start()
        self._publisher.start()
        if self._watcher is not None:
            self._watcher.start()
        return self

    def publish(self, kind: str, payload: Mapping[str, object]) -> None:
        """The orchestrator's `events` callback: queue and return at once (a measurement thread calls it)."""
        self._outbox.put((kind, payload))

    def _publish_loop(self) -> None:
        """Events in order; a finished job's event carries its row (the Measurement the orchestrator stored), shown
        as the page shows every row: nothing is read back from the database here."""
        while True:
            item = self._outbox.get()
            try:
                if item is None:
                    return
                kind, payload = item
                self._track(kind, payload)
                m = payload.get("measurement") if kind == "job_finished" else None
                if isinstance(m, Measurement):
                    payload = {**payload, "measurement": result_brief(m)}
                self.hub.publish(kind, payload)
            except Exception:  # one bad event must not end the stream
                pass
            finally:
                self._outbox.task_done()

    def _track(self, kind: str, payload: Mapping[str, object]) -> None:
        if kind == "run_started":
            self.activity = {"run_id": payload.get("run_id")}
        elif kind in ACTIVITY_EVENTS and self.activity is not None:
            self.activity = {"run_id": self.activity.get("run_id"), "kind": kind,
                             **{k: payload.get(k) for k in ("device", "model", "variant", "index", "total", "export",
                                                            "moved_from")}}
        elif kind == "run_finished":
            self.activity = None

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued event is published; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self._outbox.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._outbox.unfinished_tasks

    def read(self, fn: Callable[[ResultsDB], T]) -> T:
        with self._db_lock:
            return fn(self._db)

    def stop(self) -> None:
        if self._publisher.is_alive():
            self.flush(2.0)  # the last events (run_finished) still reach open pages
            self._outbox.put(None)
        self.closing.set()
        self.hub.close()
        if self._watcher is not None:
            self._watcher.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        with self._db_lock:
            self._db.close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_subscribers(server: LiveServer, count: int = 1, timeout_s: float = 30.0) -> bool:
    """True once `count` streams are open (tests and `run --live --wait` use it)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if server.hub.subscribers >= count:
            return True
        time.sleep(0.05)
    return False


def start_live(db_path: str | Path, bind: str, then: Events | None = None) -> tuple[LiveServer, Events]:
    """For `harness run --live`: start the server and return an events callback that feeds it
    after `then` (the progress printer), so neither listener can starve the other."""
    import os
    import sys

    host, port = parse_bind(bind)
    server = LiveServer(db_path, host=host, port=port, token=os.environ.get("HARNESS_TOKEN") or None,
                        watch_db=False).start()
    from harness.live.addresses import WILDCARDS, urls

    for url in (urls(host, server.port, server.token) if host in WILDCARDS else [server.url]):
        print(f"live: {url}", file=sys.stderr, flush=True)

    def events(kind: str, payload: dict[str, object]) -> None:
        try:
            if then is not None:
                then(kind, payload)
        finally:
            server.publish(kind, payload)

    return server, events
