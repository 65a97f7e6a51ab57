"""The live dashboard at `/_mock/ui`: three static files (`static/`), and the task and file
listings they poll (`GET /_mock/tasks`, `GET /_mock/files`). No templates: the page builds its
DOM from JSON with `textContent`, and a strict Content-Security-Policy forbids inline code and
any other origin.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..domain.errors import InvalidRequest, NotFound
from ..domain.files import StoredFile
from ..domain.journal import redact
from ..domain.tasks import Task, TaskStatus
from ..web.requests import world_key, worlds

#: The only files `/_mock/ui/{name}` serves, with their content types.
ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'"
)
UI_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}
DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000


def asset(name: str) -> bytes:
    """One allow-listed file of `mockserver/ui/`; KeyError for any other name."""
    if name not in ASSETS:  # the allow-list: never a path built from what was asked
        raise KeyError(name)
    return resources.files(__package__ or "mockserver.ui").joinpath("static", name).read_bytes()


def task_summary(task: Task, now: float) -> dict[str, Any]:
    """A task as the dashboard lists it; times are simulated unix seconds.

    `ends_at` is when the task's plan ends it (completed, failed, or cancelled): in the past for
    a terminal task, the expected end otherwise. `estimated_time` is what the API promised at
    creation (seconds from `created` to completion). `video_url`: a completed task's result,
    while its link lives.
    """
    plan = task.plan
    status = plan.status_at(now)
    failure = plan.failure if status.terminal else None
    live = status is TaskStatus.COMPLETED and now < task.result_expires()
    return {
        "id": task.id,
        "api_key": redact(task.owner),
        "model": task.request.model,
        "status": status.value,
        "progress": plan.progress_at(now),
        "created": plan.created,
        "started": plan.started,
        "ends_at": plan.ended,
        "estimated_time": plan.estimated_time(),
        "error_code": failure.code if failure is not None else None,
        "error_message": failure.message if failure is not None else None,
        "prompt": task.request.prompt,
        "callback_url": task.request.callback_url,
        # a completed task's result, on this server (the dashboard plays it inline)
        "video_url": f"/_mock/videos/{task.id}.mp4" if live else None,
    }


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}", param="limit")
    return int(raw)


async def list_tasks(request: Request) -> Response:
    """Every task, newest first (ties: the later created first), at most `?limit=`; the
    `X-Total-Count` header says how many there are in all."""
    limit = _limit(request)
    tasks = await worlds(request).tasks(world_key(request))
    tasks.reverse()  # the store keeps creation order; a stable sort keeps the later first
    tasks.sort(key=lambda item: item[0].plan.created, reverse=True)
    return JSONResponse(
        [task_summary(task, now) for task, now in tasks[:limit]],
        headers={"x-total-count": str(len(tasks))},
    )


def file_summary(file: StoredFile) -> dict[str, Any]:
    """An uploaded file as the dashboard lists it; times are simulated unix seconds. `url` is
    its path on this server (the dashboard shows it inline), `file_url` what its upload
    answered."""
    return {
        "id": file.id,
        "api_key": redact(file.owner),
        "file_name": file.file_name,
        "original_name": file.original_name,
        "mime_type": file.mime_type,
        "size": file.size,
        "width": file.width,
        "height": file.height,
        "upload_path": file.upload_path,
        "uploaded": file.uploaded,
        "expires": file.expires,
        "url": file.path,
        "file_url": file.to_json()["file_url"],
    }


async def list_files(request: Request) -> Response:
    """Every live uploaded file, newest first, at most `?limit=`; `X-Total-Count` says how many
    there are in all."""
    limit = _limit(request)
    files = await worlds(request).files(world_key(request))
    files.reverse()
    files.sort(key=lambda item: item[0].uploaded, reverse=True)
    return JSONResponse(
        [file_summary(file) for file, _ in files[:limit]],
        headers={"x-total-count": str(len(files))},
    )


def _asset_response(name: str) -> Response:
    try:
        body = asset(name)
    except KeyError:
        raise NotFound(f"No dashboard file {name!r}") from None
    return Response(body, media_type=ASSETS[name], headers=UI_HEADERS)


async def ui_page(request: Request) -> Response:
    return _asset_response("index.html")


async def ui_asset(request: Request) -> Response:
    return _asset_response(request.path_params["name"])


ROUTES = [
    Route("/_mock/tasks", list_tasks, methods=["GET"]),
    Route("/_mock/files", list_files, methods=["GET"]),
    Route("/_mock/ui", ui_page, methods=["GET"]),
    Route("/_mock/ui/{name}", ui_asset, methods=["GET"]),
]
