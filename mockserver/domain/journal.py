"""The request journal's entries: what the API was asked, by whom (redacted), what it answered.

Stores keep the entries (`mockserver.storage`); this module says what one is."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from ..spec import CREATE, CREDITS, QUERY

MAX_ENTRIES = 10_000


@functools.lru_cache(maxsize=1024)
def redact(api_key: str | None) -> str | None:
    """Enough of a key to tell keys apart in a log, never enough to use it."""
    if api_key is None:
        return None
    return api_key[:6] + "..." if len(api_key) > 8 else "***"


class Entry(NamedTuple):
    """One request of the vendor's API."""

    time: float
    method: str
    path: str
    api_key: str | None
    status: int
    scenario: str | None
    #: the answer's `X-Request-Id`
    request_id: str | None = None

    @property
    def operation(self) -> str | None:
        """The spec's operationId the request was for, if any."""
        if self.method == "POST" and self.path == "/v1/videos/generations":
            return CREATE
        if self.method == "GET" and self.path.startswith("/v1/tasks/"):
            return QUERY
        if self.method == "GET" and self.path == "/v1/credits":
            return CREDITS
        return None

    def to_json(self) -> dict[str, Any]:
        return {**self._asdict(), "operation": self.operation}


class EntryFilter(NamedTuple):
    """Which journal entries a caller asks for; None matches anything."""

    operation: str | None = None
    status: int | None = None
    api_key: str | None = None

    def __call__(self, entry: Entry) -> bool:
        return (
            (self.operation is None or entry.operation == self.operation)
            and (self.status is None or entry.status == self.status)
            and (self.api_key is None or entry.api_key == redact(self.api_key))
        )
