"""The simulator's errors. Each `MockError` class is one documented HTTP status; a
`StoreOutage` is the store's, answered 500 apart from them.

The wire `code`, `type` and default `message` are not here: they differ between the two
operations (a 402 is `insufficient_quota` on create, `quota_exceeded` on query) and come from
the spec's examples. `mockserver.web.errors.error_response` is the one place that maps a `MockError`
to the documented envelope.
"""

from __future__ import annotations

from typing import ClassVar


class StoreOutage(Exception):
    """The store could not be reached for one operation (a Redis that is down, too slow, or
    closed); the next operation tries again. Its message is the store's.

    The storage layer raises it as its `StoreUnavailable`, a subclass: the HTTP layer catches
    this one (the documented 500, not journaled, for the journal is in that store; a 503 on
    `/_mock/health`) and never imports the storage layer."""


class MockError(Exception):
    status: ClassVar[int] = 500

    def __init__(
        self,
        message: str | None = None,
        *,
        param: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message or self.__class__.__name__)
        #: None means "the documented message".
        self.message = message
        self.param = param
        #: whole seconds for a `Retry-After` header, when the caller may try again then
        self.retry_after = retry_after


class InvalidRequest(MockError):
    status = 400


class Unauthorized(MockError):
    status = 401


class InsufficientQuota(MockError):
    status = 402


class Forbidden(MockError):
    status = 403


class NotFound(MockError):
    status = 404


class IdempotencyConflict(MockError):
    """The request's `Idempotency-Key` is bound to a task another request made
    (`mockserver.domain.idempotency`)."""

    status = 422


#: Seconds an injected 429 (a scenario, an admin fault, chaos) asks the caller to wait: the
#: vendor publishes no limit and advises 1-2 s between requests. A key's own rate limit or
#: concurrency cap says when it next lets a request in instead.
RETRY_AFTER_429 = 1


class RateLimited(MockError):
    """A 429, which always says when to come back: `retry_after` whole seconds, at least 1."""

    status = 429

    def __init__(
        self,
        message: str | None = None,
        *,
        param: str | None = None,
        retry_after: int = RETRY_AFTER_429,
    ) -> None:
        super().__init__(message, param=param, retry_after=max(1, retry_after))


class InternalError(MockError):
    status = 500


class RequestTooLarge(MockError):
    """The gateway's 413 (`mockserver.domain.gateway`)."""

    status = 413


class UpstreamError(MockError):
    """The gateway's 502."""

    status = 502


class ServiceUnavailable(MockError):
    """The gateway's 503."""

    status = 503
