"""The Starlette application: the route table and thin handlers over `Simulator`."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from ._backend import Simulator
from ._errors import InvalidRequest, NotFound
from ._http import EXCEPTION_HANDLERS, read_json, set_operation
from ._settings import Settings
from ._spec import CREATE, QUERY
from ._videos import video_path


def _sim(request: Request) -> Simulator:
    simulator: Simulator = request.app.state.simulator
    return simulator


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# -- the vendor's API ---------------------------------------------------------------------------


async def create_video_generation(request: Request) -> Response:
    set_operation(request, CREATE)
    sim = _sim(request)
    owner = sim.authenticate(request.headers.get("authorization"))
    body = await read_json(request, sim.settings.max_body_bytes)
    task = sim.create_task(owner, sim.parse_request(body), _base_url(request))
    return JSONResponse(task.to_json(sim.now()))


async def get_task_detail(request: Request) -> Response:
    set_operation(request, QUERY)
    sim = _sim(request)
    owner = sim.authenticate(request.headers.get("authorization"))
    task = sim.get_task(owner, request.path_params["task_id"])
    return JSONResponse(task.to_json(sim.now()))


async def openapi_document(request: Request) -> Response:
    return Response(request.app.state.openapi_bytes, media_type="application/json")


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
    sim.advance(float(seconds))
    return JSONResponse(_clock_json(sim))


ROUTES = [
    Route("/v1/videos/generations", create_video_generation, methods=["POST"]),
    Route("/v1/tasks/{task_id}", get_task_detail, methods=["GET"]),
    Route("/openapi.json", openapi_document, methods=["GET"]),
    Route("/_mock/videos/{task_id}.mp4", result_video, methods=["GET"]),
    Route("/_mock/health", health, methods=["GET"]),
    Route("/_mock/clock", clock, methods=["GET"]),
    Route("/_mock/clock/advance", clock_advance, methods=["POST"]),
]


def create_app(
    settings: Settings | None = None, *, simulator: Simulator | None = None
) -> Starlette:
    """A new application with its own simulator: apps share no state."""
    sim = simulator or Simulator(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await sim.scheduler.aclose()

    app = Starlette(routes=ROUTES, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    app.state.simulator = sim
    app.state.openapi_bytes = json.dumps(sim.spec.document, ensure_ascii=False).encode()
    return app
