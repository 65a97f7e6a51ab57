"""The timer heap: events run in time order, on the virtual clock exactly, on the real one soon."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

import anyio
import pytest

from mockserver.domain.clock import RealClock, VirtualClock
from mockserver.domain.scheduler import Scheduler


def test_advance_runs_due_events_in_time_order_at_their_time() -> None:
    clock = VirtualClock(start=100)
    scheduler = Scheduler(clock)
    ran: list[tuple[str, float, float]] = []

    def event(name: str) -> Callable[[float], None]:
        return lambda due: ran.append((name, due, clock.now()))

    for name, when in [("c", 103), ("a", 101), ("b", 102), ("late", 110)]:
        scheduler.call_at(when, event(name))

    assert scheduler.advance(5) == 105

    assert ran == [("a", 101, 101), ("b", 102, 102), ("c", 103, 103)]
    assert clock.now() == 105
    assert len(scheduler) == 1


def test_an_event_may_schedule_another_that_falls_due_in_the_same_advance() -> None:
    clock = VirtualClock(start=0)
    scheduler = Scheduler(clock)
    ran: list[float] = []

    def retry(due: float) -> None:
        ran.append(due)
        if len(ran) < 4:
            scheduler.call_at(due + 2 ** (len(ran) - 1), retry)

    scheduler.call_at(1, retry)
    scheduler.advance(100)

    assert ran == [1, 2, 4, 8]


def test_events_at_the_same_time_run_in_the_order_they_were_scheduled() -> None:
    scheduler = Scheduler(VirtualClock(start=0))
    ran: list[int] = []
    for i in range(5):
        scheduler.call_at(1, functools.partial(lambda i, _due: ran.append(i), i))

    scheduler.advance(1)

    assert ran == [0, 1, 2, 3, 4]


def test_a_cancelled_event_does_not_run() -> None:
    scheduler = Scheduler(VirtualClock(start=0))
    ran: list[str] = []
    timer = scheduler.call_at(1, lambda _due: ran.append("x"))

    timer.cancel()
    scheduler.advance(2)

    assert ran == []
    assert len(scheduler) == 0


def test_a_failing_event_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    scheduler = Scheduler(VirtualClock(start=0))
    ran: list[str] = []

    def broken(_due: float) -> None:
        raise RuntimeError("boom")

    scheduler.call_at(1, broken)
    scheduler.call_at(2, lambda _due: ran.append("after"))
    scheduler.advance(3)

    assert ran == ["after"]
    assert "scheduled event at 1.000 failed" in caplog.text


@pytest.mark.parametrize("seconds", [-1.0, float("nan")], ids=["negative", "nan"])
def test_time_only_moves_forward(seconds: float) -> None:
    scheduler = Scheduler(VirtualClock(start=0))

    with pytest.raises(ValueError, match="seconds must be >= 0"):
        scheduler.advance(seconds)


def test_a_real_clock_cannot_be_advanced() -> None:
    with pytest.raises(TypeError):
        Scheduler(RealClock()).advance(1)


@pytest.mark.realclock
@pytest.mark.anyio
async def test_on_the_real_clock_a_background_task_runs_events_when_due() -> None:
    clock = RealClock(speed=100)  # 1 simulated second = 10 ms
    scheduler = Scheduler(clock)
    fired = anyio.Event()
    ran: list[float] = []

    def event(due: float) -> None:
        ran.append(clock.now() - due)
        fired.set()

    scheduler.call_at(clock.now() + 5, event)  # 50 ms of real time
    scheduler.call_at(clock.now() + 1, lambda _due: None)  # an earlier one wakes the runner
    with anyio.fail_after(5):
        await fired.wait()
    await scheduler.aclose()

    assert len(ran) == 1
    assert 0 <= ran[0] < 50  # ran after it was due, and not seconds late


@pytest.mark.realclock
def test_a_scheduler_outliving_its_event_loop_starts_a_runner_in_the_next() -> None:
    """A server restarted in-process (a new event loop) keeps its scheduler: events scheduled
    in the second loop must still fire, though the first loop's runner never finished."""
    clock = RealClock(speed=100)
    scheduler = Scheduler(clock)
    ran: list[int] = []

    async def schedule_and_wait(n: int) -> None:
        done = asyncio.Event()

        def event(_due: float) -> None:
            ran.append(n)
            done.set()

        scheduler.call_at(clock.now() + 1, event)
        await asyncio.wait_for(done.wait(), 5)

    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(schedule_and_wait(1))
        # the first loop stops with its runner pending, not done
        asyncio.run(schedule_and_wait(2))
    finally:
        pending = asyncio.all_tasks(first)
        for task in pending:
            task.cancel()
        if pending:  # the first runner may be collected already; gather() of nothing needs a loop
            first.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        first.close()

    assert ran == [1, 2]
