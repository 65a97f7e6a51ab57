"""What the HTTP layer takes from Starlette's and uvicorn's internals, and only that, in one place.

Checked against starlette 1.10.0 and uvicorn 0.55.0 (with httptools 0.9.0 and h11 0.16.0, on
asyncio's loop and uvloop 0.23.0). `tests/web/test_compat.py` fails when either framework changes
what is relied on here, and `pyproject.toml` caps both below their next major version. Nothing
else in the package imports a private module of either.

From Starlette (private):

- `route_path` is `starlette._utils.get_route_path`: the path a route is matched against, the
  scope's `path` less its `root_path` (what a `Mount` adds). Starlette's `Route.matches` and
  `Mount.matches` strip it this way, so the dispatcher (`web/dispatch.py`) must too, or it would
  pick another route than the router under a mount.
- `EXCEPTION_HANDLERS_KEY` is the scope key under which Starlette's `ExceptionMiddleware`
  leaves the app's handlers, `(by class, by status code)`, for `wrap_app_handling_exceptions`
  around each route the router calls. The dispatcher stands in for that middleware and sets
  the key alike.

From uvicorn (private):

- `connection_transport`: uvicorn hands an app its `receive` as the bound method
  `RequestResponseCycle.receive` (in both `protocols/http/h11_impl.py` and `httptools_impl.py`),
  and the cycle keeps the connection's transport as `cycle.transport` (asyncio's or uvloop's).
  `LostResponse` (`web/vendor.py`) aborts that transport to cut a connection before any byte of
  the answer; after `abort()` uvicorn's protocol sees the connection lost, the cycle's next
  `receive()` answers `http.disconnect`, and the cycle sends nothing more.

Relied on elsewhere, public but thin: `vendor.JSONBytes` skips `Response.__init__` and sets the
four attributes `Response.__call__` sends from (`status_code`, `raw_headers`, `body`,
`background`); `cli/logging.py` formats uvicorn's access-log record (its message and arguments),
held to uvicorn's own formatter by `tests/web/test_logging.py`, and its `AccessLogger` takes
that same call (`access_logger.info(message, five arguments)`) on the logger uvicorn's HTTP
protocols look up by name, `uvicorn.access`.
"""

from __future__ import annotations

from typing import Any, Protocol

from starlette._utils import get_route_path
from starlette.types import Receive, Scope

__all__ = ["EXCEPTION_HANDLERS_KEY", "Transport", "connection_transport", "route_path"]

#: the scope key of the app's exception handlers, as Starlette's `ExceptionMiddleware` sets it
EXCEPTION_HANDLERS_KEY = "starlette.exception_handlers"


def route_path(scope: Scope) -> str:
    """The path the routes are matched against: `path` without `root_path`, as Starlette's."""
    return get_route_path(scope)


class Transport(Protocol):
    """What `connection_transport` answers: an asyncio transport, of which only `abort`."""

    def abort(self) -> None: ...


def connection_transport(receive: Receive) -> Transport | None:
    """The transport of the connection a request came on, when the server is uvicorn (its
    `receive` is a bound method of the request's cycle); None elsewhere (in-process, under
    another server, or a `receive` some middleware wrapped)."""
    cycle: Any = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    return transport if callable(getattr(transport, "abort", None)) else None
