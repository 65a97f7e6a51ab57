"""The client's exceptions: one base, one class per documented error family.

`error_from_response` is the one place that maps an HTTP error response to a class. It maps by
status, not by wire code: the two operations use different codes for the same status (a 402 is
`insufficient_quota` on create and `quota_exceeded` on query), and the code is kept on the error.
A 422 is `IdempotencyConflictError` (the create's one documented 422); so is a 409 whose code
is `idempotency_conflict` (the IETF draft's twin still in flight, which the spec does not list).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._constants import IDEMPOTENCY_CONFLICT, REQUEST_ID_HEADER

if TYPE_CHECKING:
    from ._models import Task

_RAW_PREVIEW = 200


class EvolinkError(Exception):
    """Base class of every error the client raises."""


class ConfigurationError(EvolinkError, ValueError):
    """The client cannot be set up: no API key, a malformed base URL or webhook secret."""


class ValidationError(EvolinkError, ValueError):
    """A request failed the client's local checks; nothing was sent."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class APIConnectionError(EvolinkError):
    """The request or its response did not get through (DNS, refused, reset, broken stream)."""


class APITimeoutError(APIConnectionError):
    """A connect, read, write or pool timeout."""


class UnexpectedResponseError(EvolinkError):
    """A success response whose body is not what the API documents; `raw` is its text."""

    def __init__(self, message: str, *, raw: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.raw = raw
        self.status = status


class APIStatusError(EvolinkError):
    """An HTTP error response. Subclasses name the documented families."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        raw: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.type = type
        self.param = param
        self.request_id = request_id
        self.raw = raw
        #: Seconds the server asked to wait (`Retry-After`), if it said.
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [f"HTTP {self.status}"]
        if self.code:
            parts.append(self.code)
        text = f"{' '.join(parts)}: {self.message}"
        if self.param:
            text += f" (param: {self.param})"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text


class InvalidRequestError(APIStatusError):
    """400: `invalid_request` on create, `invalid_task_id` on query."""


class AuthenticationError(APIStatusError):
    """401: missing, invalid or expired key."""


class InsufficientQuotaError(APIStatusError):
    """402: `insufficient_quota` on create, `quota_exceeded` on query."""


class PermissionDeniedError(APIStatusError):
    """403: `model_access_denied` on create, `permission_denied` on query."""


class TaskNotFoundError(APIStatusError):
    """404: no such task, or it expired."""


class RateLimitError(APIStatusError):
    """429: too many requests."""


class ServerError(APIStatusError):
    """5xx, including a proxy's HTML 502."""


class IdempotencyConflictError(APIStatusError):
    """409 or 422 `idempotency_conflict`: the create's `Idempotency-Key` is taken.

    422: the key was first sent with another body; the same request gets the same answer, so it
    is never retried. 409: a request with the key is still being answered (`in_flight`); it is
    retried with the same key, after `Retry-After` when the server gives one.
    """

    @property
    def in_flight(self) -> bool:
        """True for the 409: asking again with the same key will get the first request's answer."""
        return self.status == 409


class TaskFailedError(EvolinkError):
    """The task ended with `status: failed`; `code` is its task failure code."""

    def __init__(self, task: Task) -> None:
        error = task.error
        self.task = task
        self.task_id = task.id
        self.code = error.code if error else None
        self.message = error.message if error else None
        super().__init__(
            f"task {task.id} failed: {self.code or 'no error code'}"
            + (f": {self.message}" if self.message else "")
        )


class TaskNotReadyError(EvolinkError):
    """A result was asked for before the task completed."""

    def __init__(self, task: Task) -> None:
        self.task = task
        super().__init__(f"task {task.id} is {task.status.value}, not completed; wait() for it")


class WaitTimeoutError(EvolinkError):
    """`wait()` ran out of time; `last_status` is what the task showed at its last poll."""

    def __init__(self, task: Task, timeout: float) -> None:
        self.task = task
        self.task_id = task.id
        self.last_status = task.status
        self.timeout = timeout
        super().__init__(
            f"task {task.id} still {task.status.value} ({task.progress}%) after {timeout:g} s"
        )


class WebhookVerificationError(EvolinkError):
    """A callback's signature, timestamp or headers do not check out."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: InsufficientQuotaError,
    403: PermissionDeniedError,
    404: TaskNotFoundError,
    422: IdempotencyConflictError,  # the create's one documented 422
    429: RateLimitError,
}


def error_class(status: int, code: str | None = None) -> type[APIStatusError]:
    # a 409 is the conflict only when it says so (the draft's in-flight twin: the spec
    # documents no 409)
    if status == 409 and code == IDEMPOTENCY_CONFLICT:
        return IdempotencyConflictError
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIStatusError)


def _envelope(raw: str) -> Mapping[str, Any]:
    """The `error` object of a body, or {} for anything else (HTML, empty, truncated, a list).
    The files API's envelope `{"success": false, "code", "msg"}` gives its `msg` as the message
    (its `code` is the HTTP status again, not a wire code)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    if body.get("success") is False and isinstance(body.get("msg"), str):
        return {"message": body["msg"]}
    error = body.get("error")
    return error if isinstance(error, dict) else {}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def error_from_response(
    status: int,
    reason: str,
    headers: Mapping[str, str],
    raw: str,
    retry_after: float | None = None,
) -> APIStatusError:
    """The typed error for an HTTP error response; never fails on an odd body."""
    error = _envelope(raw)
    message = _str_or_none(error.get("message"))
    if message is None:
        preview = " ".join(raw.split())[:_RAW_PREVIEW]
        message = f"{reason or 'error'}" + (f": {preview}" if preview else " (empty body)")
    code = _str_or_none(error.get("code"))
    return error_class(status, code)(
        message,
        status=status,
        code=code,
        type=_str_or_none(error.get("type")),
        param=_str_or_none(error.get("param")),
        request_id=headers.get(REQUEST_ID_HEADER),
        raw=raw,
        retry_after=retry_after,
    )
