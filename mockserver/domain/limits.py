"""Per-key limits on the simulator's clock: token buckets, concurrency caps and credits.

Everything is computed from the clock when asked: a bucket refills continuously, a task counts
as running until its plan says it ended, and a reservation settles once its task has ended
(charged if it completed, released if it failed). No timers are needed for any of it.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import NamedTuple

from .tasks import Task, TaskStatus


@dataclass(slots=True)
class TokenBucket:
    rate: float
    size: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take a token: 0.0 if one was there, else the seconds until one will be."""
        self.tokens = min(self.size, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = max(self.updated, now)
        if self.tokens >= 1.0 - 1e-9:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate if self.rate > 0 else math.inf


#: What `GET /v1/credits` shows an unlimited key has left: the vendor's page declares a number,
#: and a client that compares a price with it should find enough.
UNLIMITED_REMAINING = 1_000_000_000.0


class AccountView(NamedTuple):
    """A key's credits at one moment: what it started with (None: unlimited), what completed
    tasks used, what running tasks hold, what remains, and how many tasks are running."""

    credits: float | None
    used: float
    reserved: float
    remaining: float | None
    running: int

    def to_json(self) -> dict[str, float | int | None]:
        return self._asdict()

    def credits_json(self) -> dict[str, object]:
        """The body of `GET /v1/credits`: the vendor's envelope, from the same numbers. The
        account is the key's own, so `user` and `token` agree; an unlimited key shows
        `UNLIMITED_REMAINING` left, as the vendor's page has no null for it."""
        remaining = UNLIMITED_REMAINING if self.remaining is None else self.remaining
        return {
            "success": True,
            "message": "",
            "data": {
                "user": {"remaining_credits": remaining, "used_credits": self.used},
                "token": {
                    "remaining_credits": remaining,
                    "unlimited_credits": self.credits is None,
                    "used_credits": self.used,
                },
            },
        }


class Account:
    """A key's credits and running tasks. `credits` is what it started with (None: unlimited).

    Every task reserves its price at submit; once its plan has ended, the reservation is charged
    (completed) or released (failed). Reservations sit in a heap by end time, so settling costs
    O(log n) per ended task however many are running.
    """

    __slots__ = ("_heap", "_reservations", "credits", "reserved", "used")

    def __init__(self, credits: float | None) -> None:
        self.credits = credits
        self.used = 0.0
        self.reserved = 0.0
        self._reservations: dict[str, Task] = {}
        self._heap: list[tuple[float, str]] = []

    def reserve(self, task: Task) -> None:
        self._reservations[task.id] = task
        self.reserved += task.price
        heapq.heappush(self._heap, (task.plan.ended, task.id))

    def replanned(self, task: Task) -> None:
        """The task's plan changed (a cancel): settle it at its new end."""
        if task.id in self._reservations:
            heapq.heappush(self._heap, (task.plan.ended, task.id))

    def settle(self, now: float, at_most: int | None = None) -> None:
        """Charge or release what has ended by `now`; `at_most` reservations, to spread the
        work over several calls."""
        left = -1 if at_most is None else at_most
        while self._heap and self._heap[0][0] <= now and left != 0:
            left -= 1
            _, task_id = heapq.heappop(self._heap)
            task = self._reservations.get(task_id)
            if task is None or task.plan.ended > now:
                continue  # settled already, or moved by a replan
            del self._reservations[task_id]
            self.reserved -= task.price
            if task.plan.final_status is TaskStatus.COMPLETED:
                self.used += task.price
        if not self._reservations:
            self.reserved = 0.0  # no float dust once nothing is reserved

    @property
    def remaining(self) -> float | None:
        if self.credits is None:
            return None
        return round(self.credits - self.used - self.reserved, 6)

    def next_end(self) -> float | None:
        """When the first running task ends: call `settle` first. (A cancel only moves an end
        earlier, so the heap's first entry is never later than the true first end.)"""
        return self._heap[0][0] if self._reservations and self._heap else None

    def running(self) -> int:
        """Tasks reserved and not yet ended: call `settle` first."""
        return len(self._reservations)

    def view(self) -> AccountView:
        return AccountView(
            self.credits,
            round(self.used, 6),
            round(self.reserved, 6),
            self.remaining,
            self.running(),
        )
