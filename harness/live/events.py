"""Events for the live page: the hub that numbers them and fans them out to every open stream (with a short
history for reconnects), and the watcher that turns rows another process writes into events."""
from __future__ import annotations

import collections
import json
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

from harness.live.briefs import plan_total, result_brief
from harness.store.db import ResultsDB
from harness.store.results import Measurement

HISTORY = 500  # events kept for clients that reconnect with Last-Event-ID

T = TypeVar("T")
Event = tuple[int, str, str]  # (number, kind, JSON payload) as a stream sends it
Events = Callable[[str, dict[str, object]], None]  # the orchestrator's events callback (kind, payload)
ACTIVITY_EVENTS = ("convert_started", "export_started", "job_started", "job_moved")


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


class Watched(Protocol):
    """What the watcher needs of the server: its hub, and reads of the database under the server's lock."""

    @property
    def hub(self) -> EventHub: ...

    def read(self, fn: Callable[[ResultsDB], T]) -> T: ...


class DbWatcher(threading.Thread):
    """Turns rows another process writes into events: new runs, new results, finished runs."""

    def __init__(self, server: Watched, poll_s: float = 0.5) -> None:
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
