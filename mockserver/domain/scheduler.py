"""One timer heap over the clock: "at simulated time t, do X".

On the virtual clock, `advance()` runs due events in time order, setting the clock to each
event's time first, so an event sees the time it was due at. On the real clock, one background
task sleeps until the next due event; it starts on the first `call_at` made inside a running event
loop, so nothing depends on the ASGI lifespan having run. No per-task coroutines sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging

from .clock import Clock, RealClock, VirtualClock
from .types import Event

log = logging.getLogger("mockserver.scheduler")


class Timer:
    """A scheduled event; `cancel()` keeps it from running."""

    __slots__ = ("cancelled", "event", "when")

    def __init__(self, when: float, event: Event) -> None:
        self.when = when
        self.event = event
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        # (when, seq, timer): seq keeps same-time events in the order they were scheduled
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._runner: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None

    def __len__(self) -> int:
        return sum(1 for _, _, t in self._heap if not t.cancelled)

    def call_at(self, when: float, event: Event) -> Timer:
        timer = Timer(when, event)
        heapq.heappush(self._heap, (when, next(self._seq), timer))
        if isinstance(self.clock, RealClock):
            runner = self._runner
            # look for a loop only when the runner is missing, finished, or its loop has stopped
            if runner is None or runner.done() or not runner.get_loop().is_running():
                self._ensure_runner()
            if self._wakeup is not None and self._heap[0][2] is timer:
                self._wakeup.set()
        return timer

    def next_due(self) -> float | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def run_due(self, until: float | None = None) -> int:
        """Run every event due by `until` (default: now), in order. Returns how many ran."""
        limit = self.clock.now() if until is None else until
        ran = 0
        while (when := self.next_due()) is not None and when <= limit:
            timer = heapq.heappop(self._heap)[2]
            if isinstance(self.clock, VirtualClock):
                self.clock.set(max(self.clock.now(), timer.when))
            try:
                timer.event(timer.when)
            except Exception:  # one broken event must not stop the others
                log.exception("scheduled event at %.3f failed", timer.when)
            ran += 1
        return ran

    def advance(self, seconds: float) -> float:
        """Move a virtual clock forward, running what falls due on the way. Returns the new time."""
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("only a virtual clock can be advanced")
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        target = self.clock.now() + seconds
        self.run_due(until=target)
        self.clock.set(target)
        return target

    def clear(self) -> None:
        self._heap.clear()
        if self._wakeup is not None:
            self._wakeup.set()

    # -- real clock -------------------------------------------------------------------------

    def start(self) -> None:
        """Real clock, inside the event loop: start the runner now rather than at the first
        `call_at` made in the loop (events scheduled before the loop ran wait for it)."""
        if isinstance(self.clock, RealClock):
            self._ensure_runner()

    def _ensure_runner(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the first call_at inside one starts the runner
        if self._runner is None or self._runner.done() or self._runner.get_loop() is not loop:
            self._wakeup = asyncio.Event()
            self._runner = loop.create_task(self._run(), name="mockserver-scheduler")

    async def _run(self) -> None:
        assert isinstance(self.clock, RealClock)
        assert self._wakeup is not None
        wakeup = self._wakeup
        while True:
            self.run_due()
            when = self.next_due()
            timeout = None if when is None else self.clock.real_seconds_until(when)
            wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout)

    async def aclose(self) -> None:
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._runner = None
