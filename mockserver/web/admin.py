"""The admin routes under `/_mock/`: each reads the request, makes one call to the app's worlds
(`mockserver.service.worlds`: the simulator, or with isolated keys the `?api_key=` world or all
of them) and renders what it answers."""

from __future__ import annotations

from typing import NamedTuple

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..domain.errors import InvalidRequest, NotFound, StoreOutage
from ..domain.faults import OPERATIONS
from ..domain.journal import EntryFilter, redact
from ..domain.scenarios import catalogue
from .requests import read_json, unless_disconnected, wait_seconds, world_key, worlds
from .vendor import task_body


async def health(request: Request) -> Response:
    try:
        return JSONResponse(await worlds(request).health())
    except StoreOutage as exc:
        return JSONResponse({"status": "unavailable", "store": str(exc)}, status_code=503)


async def clock(request: Request) -> Response:
    return JSONResponse(await worlds(request).clock_json(world_key(request)))


async def clock_advance(request: Request) -> Response:
    body = await read_json(request, 4096)
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 1e9:
        raise InvalidRequest('Body must be {"seconds": <number from 0 to 1e9>}', param="seconds")
    return JSONResponse(await worlds(request).advance(float(seconds), world_key(request)))


async def scenarios(request: Request) -> Response:
    entries = catalogue(worlds(request).default.spec)
    return JSONResponse(
        [{"name": e.name, "effect": e.effect, "trigger": e.trigger} for e in entries]
    )


async def list_faults(request: Request) -> Response:
    listing = await worlds(request).faults(world_key(request))
    return JSONResponse([fault.to_json() for fault in listing])


class FaultRequest(NamedTuple):
    scenario: str
    operation: str | None
    api_key: str | None
    times: int | None


def parse_fault(body: object) -> FaultRequest:
    """`{"scenario": NAME, "match": {"operation": ..., "api_key": ...}, "times": N}`."""
    if not isinstance(body, dict) or not isinstance(body.get("scenario"), str):
        raise InvalidRequest(
            'Body must be {"scenario": NAME, "match": {"operation": ..., "api_key": ...}, '
            '"times": N}',
            param="scenario",
        )
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
    return FaultRequest(body["scenario"], op_id, api_key, times)


async def add_fault(request: Request) -> Response:
    wanted = parse_fault(await read_json(request, 16 * 1024))
    fault = await worlds(request).add_fault(world_key(request), *wanted)
    return JSONResponse(fault.to_json(), status_code=201)


async def clear_faults(request: Request) -> Response:
    await worlds(request).clear_faults(world_key(request))
    return JSONResponse({"deleted": "all"})


async def delete_fault(request: Request) -> Response:
    fault_id = request.path_params["fault_id"]
    if not fault_id.isdigit():  # no such id can exist
        raise NotFound(f"No fault with id {fault_id}")
    await worlds(request).remove_fault(world_key(request), int(fault_id))
    return JSONResponse({"deleted": int(fault_id)})


def entry_filter(request: Request) -> tuple[EntryFilter, int]:
    """`?operation=create|query|OPERATION_ID&status=NNN&api_key=KEY&header=NAME[:VALUE]&count=N`:
    which entries, and how many a long-poll waits for."""
    params = request.query_params
    operation = params.get("operation")
    if operation is not None and operation not in OPERATIONS:
        known = ", ".join(sorted(OPERATIONS))
        raise InvalidRequest(f"unknown operation {operation!r}; known: {known}", param="operation")
    status = params.get("status")
    if status is not None and not (status.isdigit() and 100 <= int(status) <= 599):
        raise InvalidRequest("status must be an HTTP status code", param="status")
    count = params.get("count", "1")
    if not count.isdigit() or not 1 <= int(count) <= 100_000:
        raise InvalidRequest("count must be a whole number from 1 to 100000", param="count")
    wanted = EntryFilter(
        OPERATIONS[operation] if operation is not None else None,
        int(status) if status is not None else None,
        params.get("api_key"),
        params.get("header"),
    )
    return wanted, int(count)


async def journal(request: Request) -> Response:
    wanted, count = entry_filter(request)
    entries = await unless_disconnected(
        request,
        worlds(request).journal(
            world_key(request), wanted, wait=wait_seconds(request), at_least=count
        ),
    )
    return JSONResponse([entry.to_json() for entry in entries])


async def accounts(request: Request) -> Response:
    listing = await worlds(request).accounts(world_key(request))
    return JSONResponse([{"api_key": redact(key), **view.to_json()} for key, view in listing])


async def list_callbacks(request: Request) -> Response:
    task_id = request.query_params.get("task_id")
    deliveries = await unless_disconnected(
        request, worlds(request).deliveries(world_key(request), task_id, wait_seconds(request))
    )
    return JSONResponse([delivery.to_json() for delivery in deliveries])


async def replay_callback(request: Request) -> Response:
    task_id = request.path_params["task_id"]
    delivery = await worlds(request).replay_callback(world_key(request), task_id)
    return JSONResponse(delivery.to_json())


async def cancel_task(request: Request) -> Response:
    task, now = await worlds(request).cancel(world_key(request), request.path_params["task_id"])
    return task_body(task, now)


async def reset(request: Request) -> Response:
    await worlds(request).reset(world_key(request))
    return JSONResponse({"reset": True})
