"""Waiting for something to be written: a long-poll's "answer as soon as it exists", without
polling. Whatever changes the journal or the callback log calls `notify()`; a waiter checks,
and sleeps until the next change or its deadline (real seconds: it is a caller's patience, not
simulated time)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

#: The longest a caller may wait, in seconds: a long-poll holds a connection open that long.
MAX_WAIT = 60.0

T = TypeVar("T")


class Changes:
    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        """Something was written: wake every waiter (each checks again)."""
        event, self._event = self._event, None
        if event is not None:
            event.set()

    async def wait_for(self, check: Callable[[], Awaitable[T]], timeout: float) -> T:
        """`check()`'s answer as soon as it is truthy, or its last answer at the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(timeout, MAX_WAIT)
        while True:
            # the event is taken before checking, so a change during the check is not missed
            if self._event is None:
                self._event = asyncio.Event()
            event = self._event
            found = await check()
            remaining = deadline - loop.time()
            if found or remaining <= 0:
                return found
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return await check()
