"""A callback's deliveries: one per task end (or replay), each with its attempts.

The delivery engine (`mockserver.delivery`) sends them; stores keep them. Times are simulated
unix seconds."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field

from .tasks import Task
from .types import JSONObject

#: Deliveries a store keeps in its log, oldest dropped first (pending ones are kept).
MAX_DELIVERIES = 10_000


class Outcome(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    EXHAUSTED = "exhausted"


@dataclass(slots=True)
class Attempt:
    """One POST of a delivery."""

    attempt: int
    scheduled_at: float
    sent_at: float | None = None
    status_code: int | None = None
    error: str | None = None
    duration: float | None = None
    next_retry_at: float | None = None

    @property
    def answered(self) -> bool:
        """Whether the attempt has an outcome (an answer, or a reason it failed)."""
        return self.status_code is not None or self.error is not None

    def to_json(self) -> JSONObject:
        return asdict(self)


@dataclass(slots=True, eq=False)
class Delivery:
    """One callback of one task (its end, or a replay) and its attempts."""

    task: Task
    url: str
    webhook_id: str
    trigger: str  # "end" or "replay"
    outcome: Outcome = Outcome.PENDING
    attempts: list[Attempt] = field(default_factory=list)

    def to_json(self) -> JSONObject:
        return {
            "task_id": self.task.id,
            "url": self.url,
            "webhook_id": self.webhook_id,
            "trigger": self.trigger,
            "outcome": self.outcome.value,
            "attempts": [a.to_json() for a in self.attempts],
        }
