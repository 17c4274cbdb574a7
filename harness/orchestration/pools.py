"""A pool's jobs, shared by its devices (`run --pool pixel7`): each job runs once, on whichever member is free.

A member that goes offline (its host died, it cannot be reached) leaves the pool: the job it was running goes
back to the queue for the other members, and only when no member is left do the remaining jobs become error
rows (with the reason the last member went offline, which names its host in a farm).
"""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator

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
                if self._live:
                    self.moved.setdefault(job, []).append(f"{member}: {why}" if why else member)
            self._cv.notify_all()
            if self._live:
                return []
            left = list(self._todo)
            self._todo.clear()
            return left
