"""What every route shares: reading a JSON body safely, and the one mapping from errors to the
documented envelope `{"error": {"code", "message", "type"}}`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from ._errors import InvalidRequest, MockError
from ._journal import Entry, redact
from ._spec import CREATE, DocumentedError, Spec, load_spec

log = logging.getLogger("mockserver")

#: Errors of routes outside the vendor's spec (admin routes, unknown paths) that the spec's
#: catalogue does not cover; the rest reuse the create operation's documented errors.
_GENERIC = {
    404: DocumentedError(404, "not_found", "No such route", "invalid_request_error"),
    405: DocumentedError(405, "method_not_allowed", "Method not allowed", "invalid_request_error"),
}
_OPERATION_KEY = "mockserver.operation"
_SCENARIO_KEY = "mockserver.scenario"
_HEADERS_KEY = "mockserver.headers"
#: Paths whose requests the journal leaves out: the simulator's own, not the vendor's API.
_UNJOURNALED = ("/_mock/", "/openapi.json")


def set_operation(request: Request, operation_id: str) -> None:
    """Mark the request as one of the spec's operations, so errors use its catalogue."""
    request.scope[_OPERATION_KEY] = operation_id


def set_scenario(request: Request, name: str) -> None:
    """Note the scenario applied to the request, for the journal."""
    request.scope[_SCENARIO_KEY] = name


def header(request: Request, name: bytes) -> str | None:
    """The first value of a header (`name` in lower case, as ASGI gives names). The headers
    become a dict once per request: `request.headers.get` scans the whole list on every call."""
    scope = request.scope
    found: dict[bytes, bytes] | None = scope.get(_HEADERS_KEY)
    if found is None:
        found = scope[_HEADERS_KEY] = dict(reversed(scope["headers"]))
    value = found.get(name)
    return None if value is None else value.decode("latin-1")


def _bearer(request: Request) -> str | None:
    scheme, _, token = (header(request, b"authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def record(request: Request, status: int, api_key: str | None = None) -> None:
    """Journal a request of the vendor's API (not the admin routes) with the status it got.

    The handlers call it with the key they authenticated, the error handlers without one (the
    header's bearer token is used). A deliberate defect (`--defect`) that rewrites or replaces
    a response at the HTTP edge does so after this: the journal shows the simulator's answer."""
    scope = request.scope
    path: str = scope["path"]
    if path.startswith(_UNJOURNALED):
        return
    simulator = request.scope["app"].simulator  # not app.state: see MockApp
    key = redact(api_key if api_key is not None else _bearer(request))
    entry = Entry(simulator.now(), scope["method"], path, key, status, scope.get(_SCENARIO_KEY))
    simulator.journal.record(entry)


def documented(spec: Spec, operation_id: str | None, status: int) -> DocumentedError:
    catalogue = spec.errors.get(operation_id or CREATE, {})
    found = catalogue.get(status) or spec.errors[CREATE].get(status) or _GENERIC.get(status)
    if found is None:
        return DocumentedError(status, "error", f"HTTP {status}", "api_error")
    return found


def envelope(
    error: DocumentedError, message: str | None = None, param: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": error.code,
        "message": message or error.message,
        "type": error.type,
    }
    if param or error.param:
        body["param"] = param or error.param
    return {"error": body}


def error_response(
    request: Request,
    status: int,
    message: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    error = documented(load_spec(), request.scope.get(_OPERATION_KEY), status)
    record(request, status)
    return JSONResponse(envelope(error, message, param), status_code=status, headers=headers)


async def on_mock_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MockError)
    return error_response(request, exc.status, exc.message, exc.param)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = None if exc.detail in ("Not Found", "Method Not Allowed") else exc.detail
    return error_response(request, exc.status_code, message, headers=exc.headers)


async def on_server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500)


ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]
EXCEPTION_HANDLERS: dict[type[Exception], ExceptionHandler] = {
    MockError: on_mock_error,
    HTTPException: on_http_exception,
    Exception: on_server_error,
}


def exception_handler(exc: Exception) -> ExceptionHandler:
    """The handler Starlette would pick for `exc`: the nearest class in its MRO."""
    for cls in type(exc).__mro__:
        handler = EXCEPTION_HANDLERS.get(cls)
        if handler is not None:
            return handler
    return on_server_error  # not reached: Exception is in every exception's MRO


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _too_big(limit: int) -> InvalidRequest:
    return InvalidRequest(f"Invalid request parameters: the body is over {limit} bytes")


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it passes `limit` bytes (a declared length over it is refused
    before reading anything). Reads `receive` directly: Starlette's `request.stream()` is an
    async generator, a few microseconds a request on the hot path."""
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
    if media_type != "application/json":  # the usual value needs no parsing
        media_type = media_type.split(";")[0].strip().lower()
    if media_type != "application/json":
        got = media_type or "none"
        raise InvalidRequest(
            f"Invalid request parameters: Content-Type must be application/json, got {got}"
        )
    raw = await _read_body(request, limit)
    try:
        return orjson.loads(raw)  # strict JSON, ~10x faster than json.loads
    except orjson.JSONDecodeError:
        pass  # json.loads says why in plainer words, and keeps a lone surrogate for the field check
    if not raw.strip():
        raise InvalidRequest("Invalid request parameters: the body is empty; send a JSON object")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (
        ValueError,
        RecursionError,
    ) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = (
            exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc) or "nested too deeply"
        )
        raise InvalidRequest(f"Invalid request parameters: malformed JSON ({reason})") from exc
