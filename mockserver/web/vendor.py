"""The vendor's API: each handler reads the request, makes one call to the simulator and renders
what it answers. Also what the vendor's CDN serves: the result videos."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from pathlib import Path

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from ..domain.errors import NotFound
from ..domain.models import ModelProfile, Models
from ..domain.tasks import Task
from ..service.calls import Answer, Call
from ..spec import CREATE, CREDITS, QUERY, ModelFileError
from .compat import connection_transport
from .errors import journal
from .requests import header, read_json, served_by, simulator, vendor_call, worlds

#: The bundled MP4s, one per frame size and duration.
VIDEO_DIR: Path = Path(__file__).resolve().parents[1] / "videos"


class JSONBytes(Response):
    """A 200 whose body is already JSON, with a vendor call's request id."""

    media_type = "application/json"

    def __init__(self, body: bytes, request_id: str | None = None) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        # a new list each time: middleware may add to the one it is sent
        self.raw_headers = [_content_length(len(body)), _CONTENT_TYPE_JSON]
        if request_id:
            self.raw_headers.append((b"x-request-id", request_id.encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Response.__call__, for HTTP only (a vendor route is never a websocket)
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": self.body})
        if self.background is not None:
            await self.background()


_CONTENT_TYPE_JSON = (b"content-type", b"application/json")


@functools.lru_cache(maxsize=1024)
def _content_length(length: int) -> tuple[bytes, bytes]:
    return (b"content-length", str(length).encode())


def task_body(task: Task, now: float, request_id: str | None = None) -> Response:
    return JSONBytes(orjson.dumps(task.to_json(now)), request_id)


class DroppedConnection(Response):
    """Starts a response and never finishes it: the server closes the connection mid-body."""

    def __init__(self, request_id: str) -> None:
        super().__init__()
        self.request_id = request_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"4096"),
            (b"x-request-id", self.request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b'{"id": "task-unified-', "more_body": True}
        )


class LostResponse(Response):
    """The task exists; the connection is cut before any byte of the answer. Over a socket
    served by uvicorn the transport is aborted (the client sees a reset, no status line);
    elsewhere (in-process) it is cut mid-body, as `DroppedConnection`."""

    def __init__(self, request_id: str) -> None:
        super().__init__()
        self.request_id = request_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = connection_transport(receive)
        if transport is None:
            await DroppedConnection(self.request_id)(scope, receive, send)
            return
        transport.abort()
        # uvicorn notices the lost connection on its next turn and then sends nothing
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await receive()


async def render(request: Request, call: Call, answer: Answer) -> Response:
    """A task as its owner sees it, or a connection cut short; journaled either way (a dropped
    answer as the 200 the client saw start, or would have seen)."""
    await journal(request, 200, call)
    if answer.task is None:
        return DroppedConnection(call.request_id)
    if answer.dropped:
        return LostResponse(call.request_id)
    return task_body(answer.task, answer.now, call.request_id)


#: The header of a create answered with the task its `Idempotency-Key` was bound to already.
_REPLAYED = (b"idempotency-replayed", b"true")


async def create_video_generation(request: Request) -> Response:
    sim = simulator(request)
    call = vendor_call(request, CREATE, links=True)
    call.idempotency_key = header(request, b"idempotency-key")
    limit = sim.settings.max_body_bytes
    answer = await sim.create(call, lambda: read_json(request, limit))
    response = await render(request, call, answer)
    if call.replayed:
        response.raw_headers.append(_REPLAYED)
    return response


async def get_task_detail(request: Request) -> Response:
    call = vendor_call(request, QUERY, links=True)  # a recorded task's links point here
    answer = await simulator(request).query(call, request.path_params["task_id"])
    return await render(request, call, answer)


async def get_credits(request: Request) -> Response:
    call = vendor_call(request, CREDITS)
    view = await simulator(request).credits(call)
    await journal(request, 200, call)
    if view is None:
        return DroppedConnection(call.request_id)
    return JSONBytes(orjson.dumps(view.credits_json()), call.request_id)


def video_path(model: ModelProfile, aspect_ratio: str, quality: str, duration: int) -> Path:
    """The MP4 for a request of `model`, e.g. ``videos/1280x720-8s.mp4``: from the model's own
    `videos/` folder beside its data file if it has the file, else the bundled one."""
    return _video_file(model, model.video_name(aspect_ratio, quality, duration))


def _video_file(model: ModelProfile, name: str) -> Path:
    if model.videos is not None and (model.videos / name).is_file():
        return model.videos / name
    return VIDEO_DIR / name


def check_videos(models: Models) -> None:
    """Refuse models whose frame sizes and durations have no result video (one line naming the
    data file and the field), before anything is served."""
    for model in models:
        for where, name in model.video_names():
            if not _video_file(model, name).is_file():
                raise ModelFileError(
                    model.file,
                    where,
                    f"no result video {name}: bundled ones are in {VIDEO_DIR}; put the file in "
                    f"{model.file.parent / 'videos'}",
                )


async def result_video(request: Request) -> Response:
    task = await worlds(request).video(request.path_params["task_id"])
    if task is None:
        raise NotFound("No such video, or its link expired 24 hours after generation")
    recorded = worlds(request).recorded_video(task.id)  # `serve --replay` of recorded media
    if recorded is not None:
        return FileResponse(recorded, media_type="video/mp4")
    req = task.request
    model = served_by(request).simulator.models.get(req.model)
    if model is None:  # a kept task of a model no longer served: no frame to show
        raise NotFound("No such video: its model is not served")
    return FileResponse(
        video_path(model, req.aspect_ratio, req.quality, req.duration), media_type="video/mp4"
    )
