"""The bare-Starlette ceiling: the least a Starlette app on uvicorn can do for our two routes.

POST /v1/videos/generations parses the JSON body and returns a fixed create-shaped task; GET
/v1/tasks/{task_id} returns a fixed task. No auth, no validation, no store, no clock. It runs with
the uvicorn settings `evolink-mock serve` uses (one worker, httptools, uvloop, its logging
configuration: the same access line, buffered, at --log-level info).

It is Starlette used the usual way: function endpoints behind the middleware stack and the router.
Ours answers its two vendor routes ahead of that stack (`MockApp.__call__`), so ours/ceiling is
not bounded by 1: it compares ours with the plain Starlette way of serving the same two routes.

    python bench/ceiling.py --port 8001
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mockserver.cli.logging import fast_access_logger, log_config, quiet_log_records

TASK = {
    "created": 1757169743,
    "id": "task-unified-1757169743-7cvnl5zw",
    "model": "sora-2-pro-preview",
    "object": "video.generation.task",
    "progress": 0,
    "status": "pending",
    "task_info": {"can_cancel": True, "estimated_time": 85, "video_duration": 8},
    "type": "video",
    "usage": {"billing_rule": "per_second", "credits_reserved": 14.0, "user_group": "default"},
}


async def create(request: Request) -> Response:
    await request.json()
    return JSONResponse(TASK)


async def query(request: Request) -> Response:
    return JSONResponse({**TASK, "id": request.path_params["task_id"]})


app = Starlette(
    routes=[
        Route("/v1/videos/generations", create, methods=["POST"]),
        Route("/v1/tasks/{task_id}", query, methods=["GET"]),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--no-access-log",
        action="store_true",
        help="drop uvicorn's access logger (ours keeps it; see bench/README.md)",
    )
    args = parser.parse_args()
    quiet_log_records()
    fast_access_logger()  # ours' access line, at ours' cost
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        loop="uvloop",
        http="httptools",
        access_log=not args.no_access_log,
        log_config=log_config(),
    )


if __name__ == "__main__":
    main()
