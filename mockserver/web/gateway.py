"""The gateway's routes beyond the vendor's pages: a key's task list, a batch read of tasks and
the models it can use (`mockserver.service.gateway`). Each handler reads the request, makes one
call and renders what it answers, journaled as the vendor's other routes are."""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..service.gateway import Gateway, model_entry
from ..spec import BATCH_TASKS, LIST_MODELS, LIST_TASKS
from .errors import journal
from .requests import read_json, simulator, vendor_call
from .vendor import DroppedConnection, JSONBytes

#: A batch body is at most 50 ids of some 40 bytes: this leaves room for any spacing.
MAX_BATCH_BODY = 64 * 1024


async def list_tasks(request: Request) -> Response:
    call = vendor_call(request, LIST_TASKS)
    page = await Gateway(simulator(request)).list_tasks(call, request.query_params)
    await journal(request, 200, call)
    if page is None:
        return DroppedConnection(call.request_id)
    return JSONBytes(orjson.dumps(page.to_json()), call.request_id)


async def batch_tasks(request: Request) -> Response:
    call = vendor_call(request, BATCH_TASKS, links=True)  # a recorded task's links point here
    found = await Gateway(simulator(request)).get_tasks(
        call, lambda: read_json(request, MAX_BATCH_BODY)
    )
    await journal(request, 200, call)
    if found is None:
        return DroppedConnection(call.request_id)
    tasks, now = found
    body = {"data": [task.to_json(now) for task in tasks]}
    return JSONBytes(orjson.dumps(body), call.request_id)


async def batch_is_posted(request: Request) -> Response:
    """`GET /v1/tasks/batch` is not a task id: the batch is a POST (without this route the
    task query's `/v1/tasks/{task_id}` would answer it a 400)."""
    raise HTTPException(405, headers={"Allow": "POST"})


async def list_models(request: Request) -> Response:
    call = vendor_call(request, LIST_MODELS)
    models = await Gateway(simulator(request)).models(call)
    await journal(request, 200, call)
    if models is None:
        return DroppedConnection(call.request_id)
    body = {"object": "list", "data": [model_entry(model) for model in models]}
    return JSONBytes(orjson.dumps(body), call.request_id)
