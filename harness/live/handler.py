"""The live server's request handler: the page and its assets, the JSON API (/api/runs...), and the server-sent
event stream (/api/events), each answered only past the Host-name and token checks (harness.live.access)."""
from __future__ import annotations

import hmac
import json
import queue
import threading
from collections.abc import Callable
from http import HTTPStatus, cookies
from http.server import BaseHTTPRequestHandler
from typing import Protocol, TypeVar
from urllib.parse import SplitResult, parse_qs, unquote, urlencode, urlsplit

from errors import UserError
from harness.live.access import host_header_ok
from harness.live.briefs import result_brief, run_brief
from harness.live.events import EventHub
from harness.live.page import PAGE
from harness.live.pwa import manifest_with_token, static_asset
from harness.store.db import ResultsDB

HEARTBEAT_S = 15.0
# The stream's first write: the reconnect delay and a comment padded past the 512 bytes a sniffing client
# (URLSession) waits for, so the iOS Live screen shows "connected" on an idle server at once.
STREAM_OPENING = b"retry: 2000\n: connected" + b" " * 2048 + b"\n\n"

T = TypeVar("T")


class Served(Protocol):
    """What a request needs of the server (harness.live.server.LiveServer)."""

    token: str | None
    cookie_name: str
    loopback_only: bool
    hub: EventHub
    closing: threading.Event
    activity: dict[str, object] | None  # what the run this process drives is doing now

    def read(self, fn: Callable[[ResultsDB], T]) -> T: ...


def handler_for(served: Served) -> type[BaseHTTPRequestHandler]:
    """The handler class ThreadingHTTPServer makes one of per request, bound to this server."""

    class Handler(LiveHandler):
        live = served

    return Handler


class LiveHandler(BaseHTTPRequestHandler):
    """One request: the page, its assets, the JSON API and the event stream, behind the Host and token checks."""

    live: Served  # set per server by handler_for
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
        token = self.live.token
        return bool(given) and token is not None and hmac.compare_digest(given.encode(), token.encode())

    def _authorized(self) -> bool:
        """The token from `Authorization: Bearer` or this server's cookie; never from the query."""
        if self.live.token is None:
            return True
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and self._matches(auth[7:].strip()):
            return True
        jar = cookies.SimpleCookie()
        try:
            jar.load(self.headers.get("Cookie", ""))
        except cookies.CookieError:
            return False
        morsel = jar.get(self.live.cookie_name)
        return morsel is not None and self._matches(morsel.value)

    def _login(self, url: SplitResult, query: dict[str, list[str]]) -> None:
        """`/?token=...` once: set the cookie and send the browser to the same page without it."""
        if not self._matches((query.get("token") or [""])[0]):
            self._json(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong token"})
            return
        rest = urlencode([(k, v) for k, vs in query.items() if k != "token" for v in vs])
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", url.path + (f"?{rest}" if rest else ""))
        self.send_header("Set-Cookie", f"{self.live.cookie_name}={self.live.token}; HttpOnly; SameSite=Strict; Path=/")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if self.live.loopback_only and not host_header_ok(self.headers.get("Host")):
            self._json(HTTPStatus.FORBIDDEN, {"error": "this server answers only to localhost names"})
            return
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        path = url.path.rstrip("/") or "/"
        if self.live.token is not None and path == "/" and "token" in query:
            self._login(url, query)
            return
        asset = static_asset(url.path)
        if asset is not None:  # the web app's shell: no results in it, so no token needed
            body, ctype = asset
            if url.path == "/manifest.webmanifest" and self.live.token and self._authorized():
                body = manifest_with_token(self.live.token).encode()
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
                self._json(HTTPStatus.OK, self.live.read(
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
            activity = self.live.activity
            now = activity if activity and activity.get("run_id") == rid and "kind" in activity else None
            return {"run": run_brief(run, rows), "results": results, "activity": now}

        data = self.live.read(load)
        if data is None:
            msg = "the database has no runs yet" if run_id == "latest" else f"no run with id {run_id!r}"
            self._json(HTTPStatus.NOT_FOUND, {"error": msg})
        else:
            self._json(HTTPStatus.OK, data)

    def _events(self) -> None:
        last = self.headers.get("Last-Event-ID")
        q = self.live.hub.subscribe(int(last) if last and last.isdigit() else None)
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
            while not self.live.closing.is_set():
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
            self.live.hub.unsubscribe(q)
