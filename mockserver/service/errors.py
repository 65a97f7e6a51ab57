"""The service's own errors: what the HTTP layer is told of a failure below the service, in the
service's words, so that it never imports the storage layer to catch one.

A store that cannot be reached for one operation raises the storage layer's `StoreUnavailable`;
the methods of `Simulator` and `Worlds` (the service's surface, all the HTTP layer calls) raise
it as `StoreOutage`, which the HTTP layer answers 500 in the documented envelope (not journaled:
the journal is in that store), or 503 on `/_mock/health`. Inside the service and below it (the
callback engine, the rounds of `Worlds`), `StoreUnavailable` from the store itself is caught as
before.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from ..storage.base import StoreUnavailable

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=type)


class ServiceError(Exception):
    """A failure of the service that no caller's request caused: the base of its own errors."""


class StoreOutage(ServiceError):
    """The store could not be reached for one operation (a Redis that is down, too slow, or
    closed); the next operation tries again. Its message is the store's."""


def _translating(
    method: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    @functools.wraps(method)
    async def translated(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except StoreUnavailable as exc:
            raise StoreOutage(str(exc)) from exc

    return translated


def translates_outages(cls: C) -> C:
    """A class decorator: each public coroutine method of `cls` raises `StoreUnavailable`
    as `StoreOutage` (one that calls another translates once; a `StoreOutage` passes as it is)."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(member):
            setattr(cls, name, _translating(member))
    return cls
