"""The simulator's errors. Each class is one documented HTTP status.

The wire `code`, `type` and default `message` are not here: they differ between the two
operations (a 402 is `insufficient_quota` on create, `quota_exceeded` on query) and come from
the spec's examples. `mockserver.web.errors.error_response` is the one place that maps a `MockError`
to the documented envelope.
"""

from __future__ import annotations

from typing import ClassVar


class MockError(Exception):
    status: ClassVar[int] = 500

    def __init__(self, message: str | None = None, *, param: str | None = None) -> None:
        super().__init__(message or self.__class__.__name__)
        #: None means "the documented message".
        self.message = message
        self.param = param


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


class RateLimited(MockError):
    status = 429


class InternalError(MockError):
    status = 500
