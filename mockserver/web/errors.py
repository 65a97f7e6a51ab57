"""The one mapping from errors to the documented envelope `{"error": {"code", "message",
"type"}}` (the files API's: `{"success": false, "code", "msg"}`), as the app's exception
handlers. An error of a vendor operation is journaled with what the service learnt of the call
(its key, its scenario)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from ..domain.errors import MockError, StoreOutage
from ..domain.gateway import GATEWAY_ERRORS
from ..service.calls import Call
from ..spec import CREATE, FILE_OPERATIONS, DocumentedError, Spec
from .requests import CALL_KEY, bearer, simulator

log = logging.getLogger("mockserver")

#: Errors of routes outside the vendor's spec (admin routes, unknown paths) that the spec's
#: catalogue does not cover; the rest reuse the create operation's documented errors.
_GENERIC = {
    404: DocumentedError(404, "not_found", "No such route", "invalid_request_error"),
    405: DocumentedError(405, "method_not_allowed", "Method not allowed", "invalid_request_error"),
}
#: Paths whose requests the journal leaves out: the simulator's own, not the vendor's API (an
#: uploaded file's bytes are the file host's, as result videos are the CDN's).
UNJOURNALED = ("/_mock/", "/openapi.json", "/files/", "/api/v1/files/download/")


def documented(spec: Spec, operation_id: str | None, status: int) -> DocumentedError:
    catalogue = spec.errors.get(operation_id or CREATE, {})
    found = (
        catalogue.get(status)
        or spec.errors[CREATE].get(status)
        or GATEWAY_ERRORS.get(status)
        or _GENERIC.get(status)
    )
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


def file_envelope(spec: Spec, operation: str, status: int, message: str | None) -> dict[str, Any]:
    """An error of the files API in its envelope: `code` is the HTTP status, `msg` the message
    (by default the one its page's overlay documents)."""
    documented_message = spec.file_errors.get(operation, {}).get(status)
    msg = message or documented_message or documented(spec, operation, status).message
    return {"success": False, "code": status, "msg": msg}


async def journal(request: Request, status: int, call: Call | None) -> None:
    """Journal an answer of the vendor's API (the admin routes are not journaled)."""
    scope = request.scope
    path: str = scope["path"]
    if path.startswith(UNJOURNALED):
        return
    owner = call.owner if call is not None and call.owner is not None else bearer(request)
    if call is None:
        await simulator(request).journal_answer(
            scope["method"], path, owner, status, None, headers=scope["headers"]
        )
        return
    elapsed = time.perf_counter() - call.started if call.started is not None else None
    await simulator(request).journal_answer(
        scope["method"],
        path,
        owner,
        status,
        call.scenario,
        call.operation,
        elapsed,
        call.request_id or None,
        scope["headers"],
        call.replayed,
    )


async def error_response(
    request: Request,
    status: int,
    message: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    call: Call | None = request.scope.get(CALL_KEY)
    spec = simulator(request).spec
    operation = call.operation if call is not None else None
    await journal(request, status, call)
    if call is not None and call.request_id:
        headers = {**(headers or {}), "X-Request-Id": call.request_id}
    if operation in FILE_OPERATIONS:
        body = file_envelope(spec, operation, status, message)
        return JSONResponse(body, status_code=status, headers=headers)
    error = documented(spec, operation, status)
    return JSONResponse(envelope(error, message, param), status_code=status, headers=headers)


async def on_mock_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MockError)
    headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
    return await error_response(request, exc.status, exc.message, exc.param, headers)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = None if exc.detail in ("Not Found", "Method Not Allowed") else exc.detail
    return await error_response(request, exc.status_code, message, headers=exc.headers)


async def on_client_gone(request: Request, exc: Exception) -> Response:
    """The client went away (mid-body, or during a long-poll): nobody reads an answer; 499 is
    nginx's word for it, for whatever logs it."""
    return Response(status_code=499)


async def on_store_outage(request: Request, exc: Exception) -> Response:
    """The shared store is unreachable: the documented 500, one log line, no traceback."""
    log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
    call: Call | None = request.scope.get(CALL_KEY)
    spec = simulator(request).spec
    operation = call.operation if call else None
    headers = {"X-Request-Id": call.request_id} if call is not None and call.request_id else None
    if operation in FILE_OPERATIONS:  # not journaled: no store
        return JSONResponse(file_envelope(spec, operation, 500, None), 500, headers=headers)
    error = documented(spec, operation, 500)
    return JSONResponse(envelope(error), status_code=500, headers=headers)  # not journaled


async def on_server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return await error_response(request, 500)


ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]
EXCEPTION_HANDLERS: dict[Any, ExceptionHandler] = {
    MockError: on_mock_error,
    StoreOutage: on_store_outage,
    HTTPException: on_http_exception,
    ClientDisconnect: on_client_gone,
    Exception: on_server_error,
}
