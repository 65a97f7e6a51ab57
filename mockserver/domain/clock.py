"""Simulated time. Everything time-dependent reads a `Clock`; nothing else calls `time`.

Times are unix seconds (floats) on the simulated timeline, so they serve both as the `created`
timestamps the API shows and as the points a task's plan is laid out on.
"""

from __future__ import annotations

import time
from typing import Literal, Protocol, runtime_checkable

ClockKind = Literal["real", "virtual"]


@runtime_checkable
class Clock(Protocol):
    @property
    def kind(self) -> ClockKind: ...

    def now(self) -> float:
        """The current simulated unix time; never goes backward."""
        ...


class RealClock:
    """Wall time from `start`, running `speed` times faster than real time."""

    kind: ClockKind = "real"

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = speed
        self._start = time.time() if start is None else start
        self._mono0 = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._mono0) * self.speed

    def real_seconds_until(self, when: float) -> float:
        """How long to really sleep until simulated time `when`."""
        return max(0.0, (when - self.now()) / self.speed)


class VirtualClock:
    """Time that moves only when told to: exact, instant tests."""

    kind: ClockKind = "virtual"

    def __init__(self, start: float | None = None) -> None:
        self._now = float(int(time.time()) if start is None else start)

    def now(self) -> float:
        return self._now

    def set(self, when: float) -> None:
        if when < self._now:
            raise ValueError(f"the clock only moves forward: {when} is before {self._now}")
        self._now = when
