"""What every part of the Redis store shares: its names, its way to Redis, its encodings."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from redis.exceptions import RedisError

from ...domain.faults import Fault
from ...domain.tasks import Task, TaskStatus
from .. import records
from ..base import StoreUnavailable
from .link import Clients
from .scripts import script


class Connected:
    """A store's place in Redis: its URL and prefix, this process's token and lease, and the
    clients it reaches Redis by (`RedisStore` fills them in)."""

    url: str
    prefix: str
    #: where this process's lease lives (the prefix the worlds' prefixes extend), and the
    #: token that names this process in it and as the owner of its deliveries
    root: str
    token: str
    lease: float
    delivery_limit: int
    _clients: Clients

    @property
    def _redis(self) -> Any:
        """The running loop's client. (redis-py's own types say bytes-or-str everywhere; with
        decode_responses it is str.)"""
        return self._clients.here().client

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def _run(self, name: str, **named: Any) -> Any:
        """The script `lua/NAME.lua`, with its keys and arguments named."""
        return await script(name)(self._clients.here(), **named)

    async def _send(self, *command: Any) -> Any:
        """One command, in the running loop's next batch."""
        return await self._clients.here().send(*command)

    @property
    def _alive(self) -> str:
        """This process's lease."""
        return f"{self.root}:alive:{self.token}"

    @property
    def _lease_ms(self) -> int:
        return int(self.lease * 1000)

    async def _tasks(self, *index: str) -> list[Task]:
        """The tasks a list of ids names, in its order: `order` (every task) by default."""
        client = self._redis
        ids = await client.lrange(self._key(*(index or ("order",))), 0, -1)
        if not ids:
            return []
        rows = await client.mget([self._key("task", i) for i in ids])
        return [task_from_text(row) for row in rows if row is not None]


_S = TypeVar("_S", bound=Connected)
_P = ParamSpec("_P")
_T = TypeVar("_T")


def fault_from_text(text: str | bytes) -> Fault:
    return records.fault_from(records.loads(text))


def task_from_text(text: str | bytes) -> Task:
    return records.task_from(records.loads(text))


def final(task: Task) -> str:
    return "c" if task.plan.final_status is TaskStatus.COMPLETED else "f"


def number(value: float) -> str:
    return repr(float(value))


def on_io(
    method: Callable[Concatenate[_S, _P], Coroutine[Any, Any, _T]],
) -> Callable[Concatenate[_S, _P], Coroutine[Any, Any, _T]]:
    """Run a store method on the caller's loop, with that loop's client; a Redis that fails
    (down, unreachable, too slow) raises StoreUnavailable, which the caller answers with 500."""

    async def guarded(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            await self._clients.open_here()
            return await method(self, *args, **kwargs)
        except RedisError as exc:
            self._clients.calm_since = time.monotonic()
            raise StoreUnavailable(f"{self.url}: {exc}") from None

    functools.update_wrapper(guarded, method)
    return guarded
