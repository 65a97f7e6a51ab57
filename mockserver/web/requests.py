"""Reading a request: its headers, its JSON body (safely), where it came in, and the `Call` the
service takes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.types import Scope

from ..domain.errors import InvalidRequest, RequestTooLarge
from ..service.calls import Call
from ..service.simulator import Simulator
from ..service.waiting import MAX_WAIT
from ..service.worlds import Worlds

T = TypeVar("T")

_HEADERS_KEY = "mockserver.headers"
#: Where the request's `Call` is kept for whatever answers it (a handler or an error handler).
CALL_KEY = "mockserver.call"
#: The request id of the vendor call being answered, for the access log line.
REQUEST_ID: ContextVar[str | None] = ContextVar("evolink_mock_request_id", default=None)


class _Served(Protocol):
    simulator: Simulator
    worlds: Worlds
    base_urls: dict[object, str]
    public_bodies: dict[str, tuple[bytes, str]]


def served_by(request: Request) -> _Served:
    """The app serving the request (`MockApp`: its simulator, its caches)."""
    app: _Served = request.scope["app"]
    return app


def simulator(request: Request) -> Simulator:
    """The simulator a vendor request goes to: the app's, or with isolated keys its key's."""
    app: _Served = request.scope["app"]  # served_by, inline: three calls a request
    if not app.worlds.isolated:
        return app.simulator
    return app.worlds.for_authorization(header(request, b"authorization"))


def worlds(request: Request) -> Worlds:
    return served_by(request).worlds


def world_key(request: Request) -> str | None:
    """`?api_key=KEY` of an admin call: with isolated keys, the one world it acts on."""
    return request.query_params.get("api_key")


def headers_of(scope: Scope) -> dict[bytes, bytes]:
    """The request's headers as a dict, the first value of each name (in lower case, as ASGI
    gives names); made once per request."""
    found: dict[bytes, bytes] | None = scope.get(_HEADERS_KEY)
    if found is None:
        found = scope[_HEADERS_KEY] = dict(reversed(scope["headers"]))
    return found


def header(request: Request, name: bytes) -> str | None:
    """The first value of a header (`name` in lower case)."""
    return _text(headers_of(request.scope).get(name))


def bearer(request: Request) -> str | None:
    scheme, _, token = (header(request, b"authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def base_url(request: Request) -> str:
    """The request's base URL, without a trailing slash; cached, as it is nearly always the
    same."""
    return _base_url(request, headers_of(request.scope).get(b"host"))


def _base_url(request: Request, host: bytes | None) -> str:
    scope = request.scope
    server = scope.get("server")  # a tuple from uvicorn, a list from some ASGI clients
    key = (scope["scheme"], host, scope.get("root_path"), tuple(server) if server else None)
    cache = served_by(request).base_urls
    url = cache.get(key)
    if url is None:
        if len(cache) >= 256:  # a client inventing Host headers must not grow it without end
            cache.clear()
        url = cache[key] = str(request.base_url).rstrip("/")
    return url


def vendor_call(request: Request, operation: str, *, links: bool = False) -> Call:
    """The `Call` of a vendor operation, kept on the request for whatever answers it; with
    `links`, the base URL that result links will point to."""
    scope = request.scope
    found = headers_of(scope)
    authorization = _text(found.get(b"authorization"))
    request_id = simulator(request).request_ids.new()
    REQUEST_ID.set(request_id)
    call = scope[CALL_KEY] = Call(
        operation,
        authorization,
        _text(found.get(b"x-mock-scenario")),
        _text(found.get(b"prefer")),
        _base_url(request, found.get(b"host")) if links else "",
        request_id=request_id,
        started=time.perf_counter(),
    )
    return call


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _too_big(limit: int) -> RequestTooLarge:
    return RequestTooLarge(f"Request body too large: the body is over {limit} bytes")


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it passes `limit` bytes (a declared length over it is refused
    before reading anything)."""
    declared = header(request, b"content-length") or ""
    if declared.isdigit() and int(declared) > limit:
        raise _too_big(limit)
    message = await request.receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        body: bytes = message.get("body", b"")  # all in one message: the usual case
        if len(body) > limit:
            raise _too_big(limit)
        return body
    chunks = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_big(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await request.receive()


async def read_json(request: Request, limit: int) -> object:
    """The request's JSON body, read at most `limit` bytes far; InvalidRequest for anything else."""
    media_type = header(request, b"content-type") or ""
    if media_type != "application/json":
        media_type = media_type.split(";")[0].strip().lower()
    if media_type != "application/json":
        got = media_type or "none"
        raise InvalidRequest(
            f"Invalid request parameters: Content-Type must be application/json, got {got}"
        )
    raw = await _read_body(request, limit)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass  # json.loads says why in plainer words, and keeps a lone surrogate for the field check
    if not raw.strip():
        raise InvalidRequest("Invalid request parameters: the body is empty; send a JSON object")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError: ValueErrors
        reason = (
            exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc) or "nested too deeply"
        )
        raise InvalidRequest(f"Invalid request parameters: malformed JSON ({reason})") from exc


def wait_seconds(request: Request) -> float:
    """`?wait=SECONDS` of a long-poll: 0 (answer now) when absent; from 0 to MAX_WAIT."""
    raw = request.query_params.get("wait")
    if raw is None:
        return 0.0
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_WAIT:  # NaN fails too
        raise InvalidRequest(
            f"wait must be a number of seconds from 0 to {MAX_WAIT:g}", param="wait"
        )
    return seconds


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """`work`'s result; if the client goes away first, `work` is cancelled and ClientDisconnect
    raised (a long-poll stops waiting for nobody)."""
    job = asyncio.ensure_future(work)

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({job, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in (job, watcher):
            if not future.done():
                future.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await future
    if job.done() and not job.cancelled():
        return job.result()
    raise ClientDisconnect()
