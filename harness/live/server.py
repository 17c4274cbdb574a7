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
"""
from __future__ import annotations

import collections
import hmac
import ipaddress
import json
import queue
import secrets
import threading
import time
from http import HTTPStatus, cookies
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import SplitResult, parse_qs, unquote, urlencode, urlsplit

from harness.statistics.compare import accuracy_name, accuracy_of, accuracy_task, accuracy_text, model_label
from harness.store.db import ResultsDB
from errors import UserError, clean, quote
from harness.live.page import PAGE
from harness.live.pwa import manifest_with_token, static_asset
from harness.store.results import Measurement, RunInfo

HEARTBEAT_S = 15.0
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
HISTORY = 500  # events kept for clients that reconnect with Last-Event-ID


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_header_ok(header: str | None) -> bool:
    """A loopback-bound server serves only loopback names: a page on evil.example that rebinds its
    name to 127.0.0.1 sends `Host: evil.example` and is refused."""
    if not header:
        return False
    host = header.strip().lower()
    if host.startswith("["):
        host = host[1:host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":")[0]
    return host in LOOPBACK_NAMES or host.endswith(".localhost") or is_loopback(host)


def parse_bind(text: str, default_port: int = 8765) -> tuple[str, int]:
    """`HOST:PORT`, `HOST` or `:PORT` (IPv6 as `[::1]:8765`) -> (host, port)."""
    host, port = "127.0.0.1", default_port
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[1:end], text[end + 1:]
        if rest.startswith(":"):
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        h, p = text.split(":")
        host = h or host
        port = _port(p, text)
    elif text:
        host = text
    return host, port


def _port(p: str, text: str) -> int:
    if not p.isdigit() or not 0 <= int(p) <= 65535:
        raise UserError(f"--live: {quote(text, 60)}: port must be a number 0-65535")
    return int(p)


def choose_token(host: str, given: str | None) -> str | None:
    """The token a server bound to `host` asks for: the given one, else a fresh one off loopback."""
    if given:
        return given
    return None if is_loopback(host) else secrets.token_urlsafe(24)


T = TypeVar("T")
Event = tuple[int, str, str]  # (number, kind, JSON payload) as a stream sends it
Events = Callable[[str, dict[str, object]], None]  # the orchestrator's events callback (kind, payload)
ACTIVITY_EVENTS = ("convert_started", "export_started", "job_started", "job_moved")


def result_brief(m: Measurement) -> dict[str, object]:
    """What the page shows of one measurement: no raw samples."""
    acc = accuracy_of(m)
    return {
        "run_id": m.run_id, "device": m.device, "model": m.model, "model_label": model_label(m.model),
        "variant": m.variant, "status": m.status, "error": m.error, "p50_us": m.p50_us, "p90_us": m.p90_us,
        "p99_us": m.p99_us, "cv": m.cv, "runs": m.runs, "size_bytes": m.model_size_bytes,
        "peak_rss_mb": m.peak_rss_mb, "energy_per_inference_mj": m.energy_per_inference_mj,
        "temp_max_c": m.temp_max_c,
        "accuracy": {"name": acc[0], "metric": accuracy_name(acc[0]), "task": accuracy_task(acc[0]), "value": acc[1],
                     "text": accuracy_text(*acc)} if acc else None,
        "valid": m.validity.valid if m.validity else None,
        "flags": m.validity.flags() if m.validity else [], "finished_at": m.finished_at, "host": m.host,
    }


def plan_total(plan: dict[str, Any]) -> int | None:
    """Jobs in a stored plan (models x variants x devices x repeats, a `--pool` counted once, whichever of its
    devices runs a job: as the run's own "run_started" total); None for imported runs."""
    try:
        pools = set(plan.get("pools") or ())
        keys = {d.get("pool") if d.get("pool") in pools else d["name"]
                for d in plan["devices"]["devices"] if d.get("enabled", True)}
        return len(plan["models"]) * len(plan["variants"]) * len(keys) * int(plan.get("repeat") or 1)
    except (KeyError, TypeError, ValueError):
        return None


def run_brief(r: RunInfo, rows: list[Measurement]) -> dict[str, object]:
    ok = sum(1 for m in rows if m.status == "ok")
    return {"run_id": r.run_id, "created_at": r.created_at, "status": r.status, "host": r.host,
            "git_revision": r.git_revision, "label": r.label, "total": plan_total(r.plan),
            "measured": ok, "errors": len(rows) - ok}


class EventHub:
    """Fan-out of events to every open stream, numbered, with a short history for reconnects."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 1
        self._history: collections.deque[tuple[int, str, str]] = collections.deque(maxlen=HISTORY)
        self._subscribers: list[queue.Queue[Event | None]] = []

    def publish(self, kind: str, payload: Mapping[str, object]) -> None:
        data = json.dumps(payload, default=str)
        with self._lock:
            item = (self._next, kind, data)
            self._next += 1
            self._history.append(item)
            for q in self._subscribers:
                q.put(item)

    def subscribe(self, last_id: int | None = None) -> queue.Queue[Event | None]:
        q: queue.Queue[Event | None] = queue.Queue()
        with self._lock:
            if last_id is not None:
                for item in self._history:
                    if item[0] > last_id:
                        q.put(item)
            self._subscribers.append(q)
        return q

    def close(self) -> None:
        """End every open stream (the server is stopping)."""
        with self._lock:
            for q in self._subscribers:
                q.put(None)

    def unsubscribe(self, q: queue.Queue[Event | None]) -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)


class DbWatcher(threading.Thread):
    """Turns rows another process writes into events: new runs, new results, finished runs."""

    def __init__(self, server: LiveServer, poll_s: float = 0.5) -> None:
        super().__init__(name="live-db-watcher", daemon=True)
        self.server = server
        self.poll_s = poll_s
        self.stop = threading.Event()
        self._status: dict[str, str] = {}
        self._seen: dict[str, set[tuple[str, str, str]]] = {}

    def scan(self, *, announce: bool = True) -> None:
        runs = self.server.read(lambda db: db.runs())
        for r in runs:
            old = self._status.get(r.run_id)
            if old is not None and old != "running" and r.status != "running":
                continue  # a closed run does not change any more
            def measured(db: ResultsDB, rid: str = r.run_id) -> list[Measurement]:
                return db.measurements(rid)

            rows = self.server.read(measured)
            seen = self._seen.setdefault(r.run_id, set())
            publish = self.server.hub.publish if announce else (lambda kind, payload: None)
            if old is None or (old != r.status and r.status == "running"):  # new, or resumed
                publish("run_started", {"run_id": r.run_id, "total": plan_total(r.plan), "todo": None,
                                        "skipped": None})
            for m in rows:
                if m.key not in seen:
                    seen.add(m.key)
                    publish("job_finished", {"measurement": result_brief(m)})
            if old != r.status and r.status != "running":
                publish("run_finished", {"run_id": r.run_id, "status": r.status})
            self._status[r.run_id] = r.status

    def run(self) -> None:
        self.scan(announce=False)  # what is already there is history, not news
        while not self.stop.wait(self.poll_s):
            try:
                self.scan()
            except Exception:  # a busy or locked database: try again at the next tick
                continue


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
            self.httpd = ThreadingHTTPServer((host, port), _handler_for(self))
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


def _handler_for(server: LiveServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "harness-live"

        def log_message(self, fmt: str, *args: object) -> None:  # quiet: URLs may carry the token
            pass

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            if ctype.startswith("text/html"):
                self.send_header("Content-Security-Policy",
                                 "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, data: object) -> None:
            self._send(status, json.dumps(data, default=str).encode(), "application/json")

        def _matches(self, given: str) -> bool:
            return bool(given) and hmac.compare_digest(given.encode(), server.token.encode())  # type: ignore[union-attr]

        def _authorized(self) -> bool:
            """The token from `Authorization: Bearer` or this server's cookie; never from the query."""
            if server.token is None:
                return True
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer ") and self._matches(auth[7:].strip()):
                return True
            jar = cookies.SimpleCookie()
            try:
                jar.load(self.headers.get("Cookie", ""))
            except cookies.CookieError:
                return False
            morsel = jar.get(server.cookie_name)
            return morsel is not None and self._matches(morsel.value)

        def _login(self, url: SplitResult, query: dict[str, list[str]]) -> None:
            """`/?token=...` once: set the cookie and send the browser to the same page without it."""
            if not self._matches((query.get("token") or [""])[0]):
                self._json(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong token"})
                return
            rest = urlencode([(k, v) for k, vs in query.items() if k != "token" for v in vs])
            self.send_response(HTTPStatus.SEE_OTHER)
            self.send_header("Location", url.path + (f"?{rest}" if rest else ""))
            self.send_header("Set-Cookie", f"{server.cookie_name}={server.token}; HttpOnly; SameSite=Strict; Path=/")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            if server.loopback_only and not host_header_ok(self.headers.get("Host")):
                self._json(HTTPStatus.FORBIDDEN, {"error": "this server answers only to localhost names"})
                return
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            path = url.path.rstrip("/") or "/"
            if server.token is not None and path == "/" and "token" in query:
                self._login(url, query)
                return
            asset = static_asset(url.path)
            if asset is not None:  # the web app's shell: no results in it, so no token needed
                body, ctype = asset
                if url.path == "/manifest.webmanifest" and server.token and self._authorized():
                    body = manifest_with_token(server.token).encode()
                self._send(HTTPStatus.OK, body, ctype)
                return
            if not self._authorized():
                self._json(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong token"})
                return
            try:
                if path == "/":
                    self._send(HTTPStatus.OK, PAGE.encode(), "text/html; charset=utf-8")
                elif path == "/healthz":
                    self._json(HTTPStatus.OK, {"ok": True})
                elif path == "/api/runs":
                    self._json(HTTPStatus.OK, server.read(
                        lambda db: [run_brief(r, db.measurements(r.run_id)) for r in db.runs()][::-1]))
                elif path.startswith("/api/runs/"):
                    self._run(unquote(path.removeprefix("/api/runs/")), bool(query.get("full")))
                elif path == "/api/events" and self.command == "HEAD":
                    self._send(HTTPStatus.OK, b"", "text/event-stream")  # headers only, never a stream
                elif path == "/api/events":
                    self._events()
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"error": f"no such path: {url.path}"})
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _run(self, run_id: str, full: bool) -> None:
            def load(db: ResultsDB) -> dict[str, object] | None:
                rid = db.latest_run_id() if run_id == "latest" else run_id
                if rid is None:
                    return None
                try:
                    run = db.get_run(rid)
                except UserError:
                    return None
                rows = db.measurements(rid)
                results = [m.to_dict() if full else result_brief(m) for m in rows]
                activity = server.activity
                now = activity if activity and activity.get("run_id") == rid and "kind" in activity else None
                return {"run": run_brief(run, rows), "results": results, "activity": now}

            data = server.read(load)
            if data is None:
                msg = "the database has no runs yet" if run_id == "latest" else f"no run with id {run_id!r}"
                self._json(HTTPStatus.NOT_FOUND, {"error": msg})
            else:
                self._json(HTTPStatus.OK, data)

        def _events(self) -> None:
            last = self.headers.get("Last-Event-ID")
            q = server.hub.subscribe(int(last) if last and last.isdigit() else None)
            try:
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-store")
                # URLSession on Darwin holds a response's first 512 bytes back to sniff its type unless told
                # not to; the padded opening comment gets past that on clients that ignore this header.
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                self.wfile.write(STREAM_OPENING)
                self.wfile.flush()
                while not server.closing.is_set():
                    try:
                        item = q.get(timeout=HEARTBEAT_S)
                    except queue.Empty:
                        self.wfile.write(b": keep-alive\n\n")
                    else:
                        if item is None:
                            break
                        eid, kind, data = item
                        self.wfile.write(f"id: {eid}\nevent: {kind}\ndata: {data}\n\n".encode())
                    self.wfile.flush()
            finally:
                server.hub.unsubscribe(q)

    return Handler


# The stream's first write: the reconnect delay and a comment padded past the 512 bytes a sniffing client
# (URLSession) waits for, so the iOS Live screen shows "connected" on an idle server at once.
STREAM_OPENING = b"retry: 2000\n: connected" + b" " * 2048 + b"\n\n"


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
