"""What every route shares: reading a JSON body safely, and the one mapping from errors to the
documented envelope `{"error": {"code", "message", "type"}}`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


def set_operation(request: Request, operation_id: str) -> None:
    """Mark the request as one of the spec's operations, so errors use its catalogue."""
    request.scope[_OPERATION_KEY] = operation_id


def set_scenario(request: Request, name: str) -> None:
    """Note the scenario applied to the request, for the journal."""
    request.scope[_SCENARIO_KEY] = name


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() or None if scheme.lower() == "bearer" else None
    return None


class JournalMiddleware:
    """Records every API request (not the admin routes) with its status and scenario."""

    def __init__(self, app: ASGIApp, simulator: Any) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(("/_mock/", "/openapi.json")):
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app fails before answering

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            self.simulator.journal.record(
                Entry(
                    time=self.simulator.now(),
                    method=scope["method"],
                    path=scope["path"],
                    api_key=redact(_bearer(scope)),
                    status=status,
                    scenario=scope.get(_SCENARIO_KEY),
                )
            )


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


EXCEPTION_HANDLERS = {
    MockError: on_mock_error,
    HTTPException: on_http_exception,
    Exception: on_server_error,
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: Request, limit: int) -> object:
    """The request's JSON body, read at most `limit` bytes far; InvalidRequest for anything else."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        got = media_type or "none"
        raise InvalidRequest(
            f"Invalid request parameters: Content-Type must be application/json, got {got}"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise InvalidRequest(f"Invalid request parameters: the body is over {limit} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidRequest(f"Invalid request parameters: the body is over {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
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
