"""The Starlette application: the route table and thin handlers over `Simulator`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ._backend import Simulator
from ._defects import DefectMiddleware
from ._defects import build as build_defects
from ._errors import InvalidRequest, NotFound
from ._faults import OPERATIONS
from ._http import (
    EXCEPTION_HANDLERS,
    exception_handler,
    header,
    read_json,
    record,
    set_operation,
    set_scenario,
)
from ._journal import redact
from ._scenarios import Scenario, catalogue
from ._settings import Settings
from ._spec import CREATE, QUERY
from ._tasks import Task
from ._ui import ROUTES as UI_ROUTES
from ._videos import video_path

_jitter = random.Random()
Endpoint = Callable[[Request], Awaitable[Response]]


class MockApp(Starlette):
    """The application, with its simulator as a plain attribute. `app.state.simulator` (kept,
    for code that looks there) is read through `State.__getattr__` after a failed attribute
    lookup, which costs an exception per read: microseconds on every request.

    The vendor's two routes, the ones a client's load test hammers, are dispatched before
    Starlette's middleware stack and router (see `__call__`); everything else goes through them.
    """

    def __init__(self, simulator: Simulator, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.simulator = simulator
        self.state.simulator = simulator
        #: (scheme, host, root_path, server) -> base URL, see `_base_url`
        self.base_urls: dict[object, str] = {}
        self.openapi_bytes = json.dumps(simulator.spec.document, ensure_ascii=False).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the vendor's two routes directly, with the same handlers and error handlers.

        Starlette's stack wraps `send` in three coroutines (the error middleware, the exception
        middleware, the route's exception wrapper) and scans the route table: on a create that is
        a fifth of the server's time, for nothing these two routes need. With middleware added
        (`--defect`, `add_middleware`) or under a mount (`root_path`), every request takes the
        usual way, so that the middleware sees it."""
        if scope["type"] == "http" and not self.user_middleware and not scope.get("root_path"):
            endpoint = _vendor_endpoint(scope)
            if endpoint is not None:
                scope["app"] = self
                await _serve(endpoint, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _app(request: Request) -> MockApp:
    app: MockApp = request.scope["app"]
    return app


def _sim(request: Request) -> Simulator:
    return _app(request).simulator


def _base_url(request: Request) -> str:
    """The request's base URL; building it costs ~10 us, and it is nearly always the same."""
    scope = request.scope
    server = scope.get("server")  # a tuple from uvicorn, a list from some ASGI clients
    key = (
        scope["scheme"],
        header(request, b"host"),
        scope.get("root_path"),
        tuple(server) if server else None,
    )
    cache = _app(request).base_urls
    url = cache.get(key)
    if url is None:
        if len(cache) >= 256:  # a client inventing Host headers must not grow it without end
            cache.clear()
        url = cache[key] = str(request.base_url).rstrip("/")
    return url


class _JSONBytes(Response):
    """A 200 with a body already serialised (by orjson): Starlette's `Response` would work out
    its two headers again for every task it sends."""

    media_type = "application/json"

    def __init__(self, body: bytes) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        # a new list each time: middleware (CORS, GZip) may add to the one it is sent
        self.raw_headers = [_content_length(len(body)), _CONTENT_TYPE_JSON]


_CONTENT_TYPE_JSON = (b"content-type", b"application/json")


@functools.lru_cache(maxsize=1024)
def _content_length(length: int) -> tuple[bytes, bytes]:
    """The header for a body of `length` bytes: tasks come in a few lengths."""
    return (b"content-length", str(length).encode())


def _task_body(task: Task, now: float) -> Response:
    return _JSONBytes(orjson.dumps(task.to_json(now)))


def _task_response(request: Request, owner: str, task: Task, now: float) -> Response:
    """A task answered to its owner through the vendor's API, journaled."""
    record(request, 200, owner)
    return _task_body(task, now)


# -- the vendor's API ---------------------------------------------------------------------------


class DroppedConnection(Response):
    """Starts a response and never finishes it: the server closes the connection mid-body."""

    def __init__(self) -> None:
        super().__init__()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b'{"id": "task-unified-', "more_body": True}
        )


async def _apply(
    request: Request, sim: Simulator, owner: str, operation: str, scenario: Scenario
) -> Response | None:
    """What a scenario does to the response: an error, a delay, or a dropped connection (None:
    carry on). Only called with a scenario: a coroutine per request is not free."""
    set_scenario(request, scenario.name)
    sim.raise_for_scenario(operation, scenario)
    if scenario.kind == "latency":
        await asyncio.sleep(scenario.latency_seconds(_jitter))
    elif scenario.kind == "drop":
        record(request, 200, owner)  # what the client saw start: a 200, cut short
        return DroppedConnection()
    return None


def _header_scenario(
    request: Request, sim: Simulator, operation: str, owner: str
) -> Scenario | None:
    return sim.request_scenario(
        operation, owner, header(request, b"x-mock-scenario"), header(request, b"prefer")
    )


async def create_video_generation(request: Request) -> Response:
    set_operation(request, CREATE)
    sim = _sim(request)
    owner = sim.authenticate(header(request, b"authorization"))
    scenario = _header_scenario(request, sim, CREATE, owner)
    if (
        scenario is not None
        and (response := await _apply(request, sim, owner, CREATE, scenario)) is not None
    ):
        return response
    sim.admit(owner)
    video_request = sim.parse_request(await read_json(request, sim.settings.max_body_bytes))
    if scenario is None:
        scenario = sim.fallback_scenario(CREATE, owner, video_request.prompt)
        if (
            scenario is not None
            and (response := await _apply(request, sim, owner, CREATE, scenario)) is not None
        ):
            return response
    task = sim.create_task(owner, video_request, _base_url(request), scenario)
    return _task_response(request, owner, task, sim.now())


async def get_task_detail(request: Request) -> Response:
    set_operation(request, QUERY)
    sim = _sim(request)
    owner = sim.authenticate(header(request, b"authorization"))
    scenario = _header_scenario(request, sim, QUERY, owner) or sim.fallback_scenario(QUERY, owner)
    if (
        scenario is not None
        and (response := await _apply(request, sim, owner, QUERY, scenario)) is not None
    ):
        return response
    sim.admit(owner)
    task = sim.get_task(owner, request.path_params["task_id"])
    return _task_response(request, owner, task, sim.now())


async def openapi_document(request: Request) -> Response:
    return Response(_app(request).openapi_bytes, media_type="application/json")


# -- what the vendor's CDN would serve ----------------------------------------------------------


async def result_video(request: Request) -> Response:
    task = _sim(request).task_for_video(request.path_params["task_id"])
    if task is None:
        raise NotFound("No such video, or its link expired 24 hours after generation")
    req = task.request
    return FileResponse(
        video_path(req.aspect_ratio, req.quality, req.duration), media_type="video/mp4"
    )


# -- admin: /_mock/ -----------------------------------------------------------------------------


def _clock_json(sim: Simulator) -> dict[str, Any]:
    speed = getattr(sim.clock, "speed", None)
    return {"kind": sim.clock.kind, "now": sim.now(), "speed": speed}


async def health(request: Request) -> Response:
    sim = _sim(request)
    return JSONResponse({"status": "ok", "clock": sim.clock.kind, "tasks": len(sim.store)})


async def clock(request: Request) -> Response:
    return JSONResponse(_clock_json(_sim(request)))


async def clock_advance(request: Request) -> Response:
    sim = _sim(request)
    body = await read_json(request, 4096)
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 1e9:
        raise InvalidRequest('Body must be {"seconds": <number from 0 to 1e9>}', param="seconds")
    await sim.advance_settled(float(seconds))  # callbacks sent on the way settle first
    return JSONResponse(_clock_json(sim))


async def scenarios(request: Request) -> Response:
    entries = catalogue(_sim(request).spec)
    return JSONResponse(
        [{"name": e.name, "effect": e.effect, "trigger": e.trigger} for e in entries]
    )


async def list_faults(request: Request) -> Response:
    return JSONResponse([fault.to_json() for fault in _sim(request).faults])


async def add_fault(request: Request) -> Response:
    sim = _sim(request)
    body = await read_json(request, 16 * 1024)
    if not isinstance(body, dict) or not isinstance(body.get("scenario"), str):
        raise InvalidRequest(
            'Body must be {"scenario": NAME, "match": {"operation": ..., "api_key": ...}, '
            '"times": N}',
            param="scenario",
        )
    sim.scenario(body["scenario"], "scenario")  # refuse a name that means nothing, now
    match = body.get("match") or {}
    if not isinstance(match, dict) or set(match) - {"operation", "api_key"}:
        raise InvalidRequest("match takes only operation and api_key", param="match")
    operation = match.get("operation")
    if operation is not None and operation not in OPERATIONS:
        known = ", ".join(sorted(OPERATIONS))
        raise InvalidRequest(
            f"unknown operation {operation!r}; known: {known}", param="match.operation"
        )
    api_key = match.get("api_key")
    if api_key is not None and not isinstance(api_key, str):
        raise InvalidRequest("match.api_key must be a string", param="match.api_key")
    times = body.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise InvalidRequest(
            "times must be a whole number >= 1, or absent for always", param="times"
        )
    op_id = OPERATIONS[operation] if operation is not None else None
    fault = sim.faults.add(body["scenario"], op_id, api_key, times)
    return JSONResponse(fault.to_json(), status_code=201)


async def clear_faults(request: Request) -> Response:
    _sim(request).faults.clear()
    return JSONResponse({"deleted": "all"})


async def delete_fault(request: Request) -> Response:
    fault_id = request.path_params["fault_id"]
    if not fault_id.isdigit() or not _sim(request).faults.remove(int(fault_id)):
        raise NotFound(f"No fault with id {fault_id}")
    return JSONResponse({"deleted": int(fault_id)})


async def journal(request: Request) -> Response:
    return JSONResponse([entry.to_json() for entry in _sim(request).journal])


async def accounts(request: Request) -> Response:
    sim = _sim(request)
    wanted = request.query_params.get("api_key")
    now = sim.now()
    listing = []
    for key, account in sim.accounts():
        if wanted is None or key == wanted:
            account.settle(now)
            listing.append({"api_key": redact(key), **account.to_json()})
    return JSONResponse(listing)


async def list_callbacks(request: Request) -> Response:
    deliveries = _sim(request).callbacks.deliveries(request.query_params.get("task_id"))
    return JSONResponse([delivery.to_json() for delivery in deliveries])


async def replay_callback(request: Request) -> Response:
    sim = _sim(request)
    delivery = sim.replay_callback(request.path_params["task_id"])
    await sim.settle()
    return JSONResponse(delivery.to_json())


async def cancel_task(request: Request) -> Response:
    sim = _sim(request)
    task = sim.cancel_task(request.path_params["task_id"])
    await sim.settle()
    return _task_body(task, sim.now())


async def reset(request: Request) -> Response:
    _sim(request).reset()
    return JSONResponse({"reset": True})


ROUTES = [
    Route("/v1/videos/generations", create_video_generation, methods=["POST"]),
    Route("/v1/tasks/{task_id}", get_task_detail, methods=["GET"]),
    Route("/openapi.json", openapi_document, methods=["GET"]),
    Route("/_mock/videos/{task_id}.mp4", result_video, methods=["GET"]),
    Route("/_mock/health", health, methods=["GET"]),
    Route("/_mock/clock", clock, methods=["GET"]),
    Route("/_mock/clock/advance", clock_advance, methods=["POST"]),
    Route("/_mock/scenarios", scenarios, methods=["GET"]),
    Route("/_mock/faults", list_faults, methods=["GET"]),
    Route("/_mock/faults", add_fault, methods=["POST"]),
    Route("/_mock/faults", clear_faults, methods=["DELETE"]),
    Route("/_mock/faults/{fault_id}", delete_fault, methods=["DELETE"]),
    Route("/_mock/requests", journal, methods=["GET"]),
    Route("/_mock/accounts", accounts, methods=["GET"]),
    Route("/_mock/callbacks", list_callbacks, methods=["GET"]),
    Route("/_mock/callbacks/{task_id}/replay", replay_callback, methods=["POST"]),
    Route("/_mock/tasks/{task_id}/cancel", cancel_task, methods=["POST"]),
    Route("/_mock/reset", reset, methods=["POST"]),
    *UI_ROUTES,  # the dashboard: /_mock/ui, /_mock/tasks
]


_CREATE_PATH = "/v1/videos/generations"
_TASKS_PREFIX = "/v1/tasks/"


def _vendor_endpoint(scope: Scope) -> Endpoint | None:
    """The handler `ROUTES` gives the request, if it is one of the vendor's two routes (a
    `{task_id}` matches `[^/]+`, as in Starlette); None sends it through the router."""
    path: str = scope["path"]
    method = scope["method"]
    if path == _CREATE_PATH:
        return create_video_generation if method == "POST" else None
    if method == "GET" and path.startswith(_TASKS_PREFIX):
        task_id = path[len(_TASKS_PREFIX) :]
        if task_id and "/" not in task_id:
            scope["path_params"] = {"task_id": task_id}
            return get_task_detail
    return None


async def _serve(endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
    """Call a handler and send its response, or what `EXCEPTION_HANDLERS` make of its error."""
    request = Request(scope, receive)
    try:
        response = await endpoint(request)
    except Exception as exc:
        response = await exception_handler(exc)(request, exc)
    await response(scope, receive, send)


def create_app(settings: Settings | None = None, *, simulator: Simulator | None = None) -> MockApp:
    """A new application with its own simulator: apps share no state."""
    sim = simulator or Simulator(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sim.start()  # with --db: what fell due while the server was down runs now
        yield
        await sim.aclose()  # in-flight requests have been drained: the database closes last

    return MockApp(
        sim,
        routes=ROUTES,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            Middleware(DefectMiddleware, simulator=sim, defects=build_defects(sim.settings.defects))
        ]
        if sim.settings.defects
        else [],
        lifespan=lifespan,
    )
