"""The Redis store's way to Redis: one client per event loop, and the batches it sends.

The commands that calls on one loop send while a batch is on its way to Redis go together in
the next: one round trip for many requests' steps, each command still on its own (`Link`).
Each event loop that calls the store (the server's, a test's) has a client and a pool of its
own, and the call runs there, with no hand-over to another thread (`Clients`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncGenerator
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from ..base import StoreUnavailable

#: Seconds to wait for Redis before an operation fails (and the request answers 500).
SOCKET_TIMEOUT = 2.0
#: Connections one store opens at most on one event loop; more calls at once wait for one, up
#: to POOL_WAIT s.
MAX_CONNECTIONS = 32
POOL_WAIT = 10.0
#: Commands one round trip carries at most (`Link`).
MAX_BATCH = 256


class Link:
    """One event loop's way to Redis: a client with a pool of its own (a connection belongs to
    the loop that opened it), and the batches `send` makes.

    Batches: the commands that calls on this loop send while a batch is on its way to Redis
    go together in the next one, one round trip for all of them (a pipeline, not a
    transaction: each command on its own, a script as atomic as ever). Under load, the few
    commands of each request cost a share of one round trip instead of one each."""

    def __init__(self, client: Any, holder: AsyncGenerator[None, None]) -> None:
        self.client = client
        #: an async generator started on the loop, which closes the client when the loop
        #: shuts down (`Clients`)
        self.holder = holder
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None
        #: the connection the batches go over, taken from the pool on the first one
        self._connection: Any = None

    async def send(self, *command: Any) -> Any:
        """Send one command in the next batch, and wait for its answer."""
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        self._queue.append((command, answer))
        if self._sender is None:
            self._sender = loop.create_task(self._send_batches())
        return await answer

    async def _send_batches(self) -> None:
        batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        try:
            while self._queue:  # one batch at a time: what comes meanwhile waits for the next
                batch = self._queue[:MAX_BATCH]
                del self._queue[:MAX_BATCH]
                # a caller that stopped waiting before its command left has it not sent
                batch = [item for item in batch if not item[1].done()]
                answers = await self._exchange([command for command, _ in batch])
                for (_, answer), result in zip(batch, answers, strict=True):
                    if answer.done():  # its caller stopped waiting
                        continue
                    if isinstance(result, Exception):
                        answer.set_exception(result)
                    else:
                        answer.set_result(result)
                batch = []
        finally:
            self._sender = None
            for _, answer in [*batch, *self._queue]:  # cancelled (the loop's shutdown)
                answer.cancel()
            self._queue.clear()

    async def _exchange(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """One round trip on the link's own connection: every command written at once, then
        each answer read in turn (an error answer is its command's; the others read on). A
        failed connection fails every command of the batch, and is made again for the next."""
        try:
            if self._connection is None:
                self._connection = await self.client.connection_pool.get_connection()
            connection = self._connection
            await connection.send_packed_command(
                connection.pack_commands(commands), check_health=False
            )
            answers: list[Any] = []
            for _ in commands:
                try:
                    answers.append(await connection.read_response())
                except ResponseError as exc:  # this command's error (NOSCRIPT, a script's)
                    answers.append(exc)
            return answers
        except Exception as exc:  # Redis down, unreachable, too slow: each call fails
            await self._drop_connection()
            return [exc] * len(commands)
        except BaseException:  # cancelled mid-exchange: the connection is out of step
            self._connection = None  # (closing the client disconnects it)
            raise

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect()
            with contextlib.suppress(Exception):
                await self.client.connection_pool.release(connection)


class Clients:
    """A store's ways to Redis: one `Link` for each event loop that calls the store, made on
    the loop's first call. A call runs on the caller's loop, with no hand-over to another
    thread.

    A loop that ends first (`asyncio.run` returning, a test's runner closing) closes its
    client as it shuts down its async generators: each client is held open by one (`_hold`).
    `close` closes the others."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.closed = False
        #: when Redis last failed a call (or the store opened): leases seen lapsed before a
        #: lease's length has passed since may have lapsed while Redis was away, not their owner
        self.calm_since = time.monotonic()
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop, Link] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def here(self) -> Link:
        """The running loop's link (`open_here` made it)."""
        return self._by_loop[asyncio.get_running_loop()]

    async def open_here(self) -> None:
        """Make the running loop's link, unless it has one."""
        if self.closed:
            raise StoreUnavailable(f"{self.url}: the store is closed")
        loop = asyncio.get_running_loop()
        if loop in self._by_loop:
            return
        # a burst (a thousand callbacks due at once) waits for one of a bounded set of
        # connections, rather than opening one each
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_WAIT,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            decode_responses=True,
        )
        client = aioredis.Redis(connection_pool=pool)
        link = Link(client, self._hold(loop, client))
        with self._lock:
            self._by_loop[loop] = link
        # started on this loop, the loop knows it: its shutdown closes it, and the client
        await anext(link.holder)

    async def _hold(
        self, loop: asyncio.AbstractEventLoop, client: Any
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                self._by_loop.pop(loop, None)
            await client.aclose(close_connection_pool=True)

    def close(self) -> None:
        """Close the clients of the loops still running (a loop that ended closed its own)."""
        self.closed = True
        with self._lock:
            held = list(self._by_loop.items())
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, link in held:
            if loop is running:
                # called from this loop, which cannot wait here: the pool closes a moment
                # later (or, if the loop ends first, as it shuts down, by the holder)
                closing = loop.create_task(link.client.aclose(close_connection_pool=True))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
            elif loop.is_running():  # another thread's
                done = asyncio.run_coroutine_threadsafe(link.holder.aclose(), loop)
                with contextlib.suppress(Exception):  # a loop ending meanwhile closes it itself
                    done.result(5)
