"""What the simulator counts for `/_mock/metrics`: answers by operation and status, their
latency, callback attempts by outcome. Plain counters on the hot path (a dict increment and a
bisect per answer); the exposition format is the HTTP layer's business (`web/metrics.py`)."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from typing import NamedTuple

#: Upper bounds (seconds) of the latency histogram's buckets; +Inf is implied.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: The operation label of a journaled answer outside the spec's operations (an unknown path).
NO_OPERATION = "none"


class Latency:
    """One histogram: counts per bucket (not cumulative), and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0


class RequestMetrics:
    def __init__(self) -> None:
        #: (operation, status) -> answers
        self.requests: Counter[tuple[str, int]] = Counter()
        #: operation -> latency histogram
        self.latency: dict[str, Latency] = {}
        #: creates answered with the task their idempotency key was bound to
        self.idempotent_replays = 0

    def observe(self, operation: str | None, status: int, seconds: float | None) -> None:
        operation = operation or NO_OPERATION
        self.requests[operation, status] += 1
        if seconds is not None:
            histogram = self.latency.get(operation)
            if histogram is None:
                histogram = self.latency[operation] = Latency()
            # bisect_left: a value equal to a bound belongs to that bucket (le = less or equal)
            histogram.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
            histogram.total += seconds


class MetricsSnapshot(NamedTuple):
    """The metrics at one moment: what a scrape shows."""

    requests: dict[tuple[str, int], int]
    latency: dict[str, tuple[list[int], float]]
    #: (model, status) -> tasks of that model in it now
    tasks: dict[tuple[str, str], int]
    #: outcome -> callback attempts
    callback_attempts: dict[str, int]
    #: deliveries this process took over from one that died (a shared store)
    callback_takeovers: int = 0
    #: creates answered with the task their idempotency key was bound to
    idempotent_replays: int = 0
