"""What the reference client must raise for each documented error status.

Written out here rather than read from `client._errors`, so a change of mapping there fails the
tests that use it. A new documented 4xx status fails `expected_class` loudly: someone has to
decide its class.
"""

from __future__ import annotations

import pytest

from evolink_client import (
    APIStatusError,
    AuthenticationError,
    IdempotencyConflictError,
    InsufficientQuotaError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TaskNotFoundError,
)

EXPECTED_CLASS: dict[int, type[APIStatusError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: InsufficientQuotaError,
    403: PermissionDeniedError,
    404: TaskNotFoundError,
    422: IdempotencyConflictError,
    429: RateLimitError,
}


def expected_class(status: int) -> type[APIStatusError]:
    if status >= 500:
        return ServerError
    if status not in EXPECTED_CLASS:
        pytest.fail(f"documented status {status} has no expected client error class here")
    return EXPECTED_CLASS[status]
