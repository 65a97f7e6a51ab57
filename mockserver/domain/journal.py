"""The request journal's entries: what the API was asked, by whom (redacted), what it answered.

Stores keep the entries (`mockserver.storage`); this module says what one is."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

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

    def to_json(self) -> dict[str, Any]:
        return self._asdict()
