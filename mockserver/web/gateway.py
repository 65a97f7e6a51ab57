"""The gateway's routes beyond the vendor's pages: a key's task list, a batch read of tasks and
the models it can use (`mockserver.service.gateway`), and the public price lists
(`mockserver.domain.catalog`). Each handler reads the request, makes one call and renders what
it answers, journaled as the vendor's other routes are."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..domain import catalog
from ..service.gateway import Gateway, model_entry
from ..service.simulator import Simulator
from ..spec import BATCH_TASKS, LIST_MODELS, LIST_TASKS, MODEL_PRICING, PRICING_RULES
from .errors import journal
from .requests import header, read_json, served_by, simulator, vendor_call
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


# -- the public price lists: no key, the same for everyone --------------------------------------

#: The client caches a list five minutes; a proxy may too (they are the same for every caller).
CACHE_CONTROL = (b"cache-control", b"public, max-age=300")


def _price_list(sim: Simulator) -> bytes:
    return orjson.dumps({"success": True, "data": catalog.pricing_skus(sim.models)})


def _pricing_rules(sim: Simulator) -> bytes:
    return orjson.dumps(catalog.catalog(catalog.pricing_rules(sim.models), sim.now()))


def _unchanged(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` names this representation (weakly compared, as RFC 9110 says for
    it), or is `*`."""
    if if_none_match is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags


async def _public(
    request: Request, operation: str, build: Callable[[Simulator], bytes]
) -> Response:
    """A public list, made once per app (the prices are fixed when it starts), with its `ETag`;
    a `304` with no body to a client that has it already."""
    app = served_by(request)
    kept = app.public_bodies.get(operation)
    if kept is None:
        body = build(app.simulator)
        etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
        kept = app.public_bodies[operation] = (body, etag)
    body, etag = kept
    call = vendor_call(request, operation)
    headers = [(b"etag", etag.encode()), CACHE_CONTROL]
    if _unchanged(header(request, b"if-none-match"), etag):
        await journal(request, 304, call)
        response = Response(status_code=304)
        response.raw_headers = [*headers, (b"x-request-id", call.request_id.encode())]
        return response
    await journal(request, 200, call)
    answer = JSONBytes(body, call.request_id)
    answer.raw_headers.extend(headers)
    return answer


async def model_pricing(request: Request) -> Response:
    """`GET /web/api/models/pricing`: the price list the vendor's client prices models from."""
    return await _public(request, MODEL_PRICING, _price_list)


async def pricing_rules(request: Request) -> Response:
    """`GET /v1/catalog/pricing-rules`: the versioned catalog of the same prices."""
    return await _public(request, PRICING_RULES, _pricing_rules)
