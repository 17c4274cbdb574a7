"""A pool's jobs, shared by its devices (`run --pool pixel7`): each job runs once, on whichever member is free.

A member that goes offline (its host died, it cannot be reached) leaves the pool: the job it was running goes
back to the queue for the other members, and only when no member is left do the remaining jobs become error
rows (with the reason the last member went offline, which names its host in a farm).
"""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from harness.orchestration.measure import RowOrigin, error_measurement
from harness.planning.plan import Plan
from harness.store.db import ResultsDB
from harness.store.results import Measurement

if TYPE_CHECKING:
    from harness.planning.config import DeviceConfig

Job = tuple[str, str, int]  # (model, variant, repeat index)


class PoolQueue:
    """The jobs of one pool, taken one at a time by its members' worker threads."""

    def __init__(self, name: str, jobs: list[Job], members: list[str], stop: threading.Event) -> None:
        self.name = name
        self.stop = stop
        self._todo: deque[Job] = deque(jobs)
        self._live = set(members)
        self._held: dict[str, Job] = {}  # what each member runs now
        self._cv = threading.Condition()
        self.moved: dict[Job, list[str]] = {}  # a job handed back -> "device: why" for each member that did

    def jobs(self, member: str) -> Iterator[Job]:
        """The member's jobs, one at a time: taking the next one marks the previous one done. While the
        queue is empty it waits as long as another member runs a job that may still come back."""
        while True:
            with self._cv:
                self._held.pop(member, None)
                self._cv.notify_all()
                while True:
                    if self.stop.is_set() or member not in self._live:
                        return
                    if self._todo:
                        job = self._todo.popleft()
                        self._held[member] = job
                        break
                    if not self._held:
                        return
                    self._cv.wait(0.5)
            yield job

    def leave(self, member: str, *, give_back: bool, why: str = "") -> list[Job]:
        """The member is offline. With `give_back` the job it was running goes back to the queue (no row was
        stored for it). Returns the jobs no member is left to run (every one still queued when this member was
        the last): the caller stores them as error rows."""
        with self._cv:
            self._live.discard(member)
            job = self._held.pop(member, None)
            if job is not None and give_back:
                self._todo.appendleft(job)
                if self._live:  # "device: why", the device named once (a DeviceError's text starts with it)
                    why = why.removeprefix(f"{member}: ")
                    self.moved.setdefault(job, []).append(f"{member}: {why}" if why else member)
            self._cv.notify_all()
            if self._live:
                return []
            left = list(self._todo)
            self._todo.clear()
            return left


class _Origins(Protocol):
    def origin(self, device: str) -> RowOrigin: ...


class PoolMoves:
    """A run's pool rules, as methods of the Orchestrator: what a row says of its pool and of the members a job
    moved from, which jobs a resumed run holds, and what a member that goes offline leaves behind."""

    plan: Plan
    db: ResultsDB
    targets: _Origins
    _queues: dict[str, PoolQueue]
    _pool_of: dict[str, str | None]

    def _record(self, m: Measurement, summary: Any) -> None:
        raise NotImplementedError  # the Orchestrator's

    def _origin(self, device: str, job: tuple[str, str, int] | None = None) -> RowOrigin:
        """Who drove the device (the targets say); in a pool also the pool's name, and for a job handed back
        by another member, where it was tried before (extra.pool, extra.moved_from)."""
        origin = self.targets.origin(device)
        pool = self._pool_of.get(device)
        if pool is None:
            return origin
        queue = self._queues.get(pool)
        moved = tuple(queue.moved.get(job, ())) if queue is not None and job is not None else ()
        return replace(origin, pool=pool, moved_from=moved)

    def _done(self, run_id: str, include_errors: bool = True) -> set[tuple[str, str, str, int]]:
        """The jobs a run already holds rows for; a pool's job is done whichever of its devices ran it."""
        if not self.plan.pools:
            return self.db.done_repeats(run_id, include_errors=include_errors)
        return {(str(m.extra.get("pool") or m.device), m.model, m.variant, m.repeat_index)
                for m in self.db.measurements(run_id) if include_errors or m.status == "ok"}

    def _leave_pool(self, queue: PoolQueue, device: DeviceConfig, job: tuple[str, str, int], m: Measurement,
                    give_back: bool, reason: str, run_id: str, summary: Any) -> None:
        """A pool member went offline during `job` (its row `m`): a lost device's job moves to another member of
        the pool (no row here); what no member is left to run becomes error rows saying why this one went."""
        left = queue.leave(device.name, give_back=give_back, why=m.error or "")
        if not give_back or job in left:
            self._record(m, summary)  # it failed here, or no member is left to run it again
        # else: no row here; the member that takes it emits "job_moved" (not a second "job_started")
        for model, variant, rep in left:
            if (model, variant, rep) != job:
                self._record(error_measurement(run_id, device.name, model, variant, reason, repeat_index=rep,
                                               origin=self._origin(device.name)), summary)
