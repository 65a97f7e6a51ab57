"""The app's one dispatcher: the innermost layer of its middleware stack, in place of
Starlette's exception middleware and router.

Every HTTP request comes here. A request that fully matches a plain `Route` of the app's table
calls that route's endpoint directly; any other (a mount, a redirect for a trailing slash, a
404, a 405) goes to Starlette's router. Either way an exception is answered by the app's own
exception handlers (`app.exception_handlers` as they are when the app builds its middleware
stack on its first ASGI call, under uvicorn the lifespan's startup, when Starlette reads them
too), looked up as Starlette looks them up: a status code for an `HTTPException`, else the
nearest class in the exception's MRO.

Routes are indexed once (again when the table grows): a path without parameters by the path
itself, a path with parameters by its literal prefix, so a request tries at most the few routes
that could match it, in the table's order.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from .compat import EXCEPTION_HANDLERS_KEY, route_path

if TYPE_CHECKING:
    from starlette.applications import Starlette

Handler = Callable[[Request, Exception], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class _Entry(NamedTuple):
    route: BaseRoute
    #: the dispatcher may call the endpoint itself (a `Route` whose endpoint is an `async def`)
    direct: bool
    #: a `Route` with no path parameters: it matches its own path, given an allowed method
    plain: bool
    #: for a `Route` whose path ends in its only parameter, a string one (`/v1/tasks/{task_id}`):
    #: that parameter's name; such a route matches its prefix and one non-empty segment
    tail: str | None
    #: a `Route`'s methods (None: any) and endpoint
    methods: frozenset[str] | None = None
    endpoint: Endpoint | None = None


class RouteIndex:
    """For each path a route is written for, the routes that could match it; for any other
    path, the routes with parameters, by the literal prefix of their path. In the table's order."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self.size = len(routes)
        self.exact: dict[str, list[_Entry]] = {}
        self.prefixed: list[tuple[str, _Entry]] = []
        for route in routes:
            direct = isinstance(route, Route) and inspect.iscoroutinefunction(route.endpoint)
            plain = isinstance(route, Route) and not route.param_convertors
            methods = endpoint = None
            if isinstance(route, Route):
                methods = frozenset(route.methods) if route.methods else None
                endpoint = route.endpoint
            entry = _Entry(route, direct, plain, _tail(route), methods, endpoint)
            if plain:
                assert isinstance(route, Route)
                self.exact.setdefault(route.path, [])
            path = getattr(route, "path", None)
            prefix = path.split("{", 1)[0] if isinstance(path, str) else ""
            self.prefixed.append((prefix, entry))
        # a path written for a route is tried against every route in order that could match it
        for path, entries in self.exact.items():
            for prefix, entry in self.prefixed:
                own = entry.plain and getattr(entry.route, "path", None) == path
                if own or (not entry.plain and path.startswith(prefix)):
                    entries.append(entry)
        self.prefixed = [(prefix, entry) for prefix, entry in self.prefixed if not entry.plain]


class Dispatcher:
    def __init__(
        self, app: Starlette, *, before: Callable[[Request], Awaitable[None]] | None = None
    ) -> None:
        self.app = app
        #: run before each request's endpoint (the app opens the world the request goes to)
        self.before = before
        self._index: RouteIndex | None = None
        self._handlers: tuple[dict[Any, Handler], dict[int, Handler]] | None = None

    def _routes(self) -> RouteIndex:
        routes = self.app.router.routes
        if self._index is None or self._index.size != len(routes):
            self._index = RouteIndex(routes)
        return self._index

    def refresh(self) -> None:
        """Take the app's exception handlers as they are now: the app calls this as it builds
        its middleware stack, on its first ASGI call (Starlette reads its handlers then too)."""
        current = self.app.exception_handlers
        by_class = {k: v for k, v in current.items() if not isinstance(k, int)}
        by_status = {k: v for k, v in current.items() if isinstance(k, int)}
        self._handlers = (by_class, by_status)

    def handlers(self) -> tuple[dict[Any, Handler], dict[int, Handler]]:
        """The app's exception handlers, by class and by status code (as Starlette keeps them in
        `scope[EXCEPTION_HANDLERS_KEY]` for the routes it handles)."""
        if self._handlers is None:
            self.refresh()
            assert self._handlers is not None
        return self._handlers

    def handler_for(self, exc: Exception) -> Handler | None:
        by_class, by_status = self.handlers()
        if isinstance(exc, HTTPException) and exc.status_code in by_status:
            return by_status[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in by_class:
                return by_class[cls]
        return by_status.get(500)  # Starlette's other spelling of a handler for any error

    def _endpoint(self, scope: Scope) -> Endpoint | None:
        """The endpoint of the first route that fully matches, if the dispatcher may call it
        (its path parameters are then set in `scope`); None leaves the request to the router,
        which answers what no route fully matches (405, a redirect, 404) as Starlette does."""
        path = route_path(scope) if scope.get("root_path") else scope["path"]
        index = self._routes()
        entries = index.exact.get(path)
        if entries is not None:
            for entry in entries:
                child = _full_match(entry, scope, path)
                if child is not None:
                    return _taken(entry, scope, child)
            return None
        for prefix, entry in index.prefixed:
            if not path.startswith(prefix):
                continue
            tail = entry.tail
            if tail is not None and entry.direct:  # `/v1/tasks/{task_id}`: no regex, no child
                value = _tail_value(entry, scope, path, prefix)
                if value is None:
                    continue
                endpoint = scope["endpoint"] = entry.endpoint
                params = scope.get("path_params")
                scope["path_params"] = {**params, tail: value} if params else {tail: value}
                return endpoint
            child = _full_match(entry, scope, path, prefix)
            if child is not None:
                return _taken(entry, scope, child)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app.router(scope, receive, send)  # the lifespan
            return
        scope[EXCEPTION_HANDLERS_KEY] = self._handlers or self.handlers()
        if "router" not in scope:
            scope["router"] = self.app.router  # for `request.url_for`, as the router sets it
        endpoint = self._endpoint(scope)
        request = Request(scope, receive)
        try:
            if self.before is not None:
                await self.before(request)
            if endpoint is None:
                await self.app.router(scope, receive, send)
                return
            response = await endpoint(request)
        except Exception as exc:
            handler = self.handler_for(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)


def _tail(route: BaseRoute) -> str | None:
    if not isinstance(route, Route) or len(route.param_convertors) != 1:
        return None
    (name, convertor), *_ = route.param_convertors.items()
    tail = "{" + name + "}"
    if not route.path.endswith(tail) or route.path.count("{") != 1:
        return None
    return name if type(convertor).__name__ == "StringConvertor" else None


def _full_match(entry: _Entry, scope: Scope, path: str, prefix: str = "") -> Scope | None:
    """The child scope of a route that fully matches the request, as `Route.matches` makes it;
    a plain route or one with a string tail is matched without the route's regex."""
    params = {**scope.get("path_params", {})}
    if entry.tail is not None:
        value = _tail_value(entry, scope, path, prefix)
        if value is None:
            return None
        params[entry.tail] = value
        return {"endpoint": entry.endpoint, "path_params": params}
    if entry.plain:
        if entry.methods and scope["method"] not in entry.methods:
            return None
        return {"endpoint": entry.endpoint, "path_params": params}
    match, child = entry.route.matches(scope)
    return child if match is Match.FULL else None


def _tail_value(entry: _Entry, scope: Scope, path: str, prefix: str) -> str | None:
    """The value of a tail route's parameter when the route fully matches: one non-empty
    segment after `prefix`, by a method the route allows; else None."""
    value = path[len(prefix) :]
    if not value or "/" in value:
        return None
    if entry.methods and scope["method"] not in entry.methods:
        return None
    return value


def _taken(entry: _Entry, scope: Scope, child: Scope) -> Endpoint | None:
    if not entry.direct:
        return None
    scope.update(child)
    endpoint: Endpoint = child["endpoint"]
    return endpoint
