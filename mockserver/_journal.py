"""The request journal: what the API was asked, by whom (redacted), and what it answered."""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Iterator
from typing import Any, NamedTuple

MAX_ENTRIES = 10_000


@functools.lru_cache(maxsize=1024)
def redact(api_key: str | None) -> str | None:
    """Enough of a key to tell keys apart in a log, never enough to use it. Cached: a client
    sends the same few keys, and the journal then holds one string per key, not per entry."""
    if api_key is None:
        return None
    return api_key[:6] + "..." if len(api_key) > 8 else "***"


class Entry(NamedTuple):
    """One request. A named tuple, not a frozen dataclass: one is made per request, and a frozen
    dataclass's `__init__` costs twice as much."""

    time: float
    method: str
    path: str
    api_key: str | None
    status: int
    scenario: str | None

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


class Journal:
    """The last MAX_ENTRIES requests, oldest first."""

    def __init__(self, size: int = MAX_ENTRIES) -> None:
        self._entries: deque[Entry] = deque(maxlen=size)

    def record(self, entry: Entry) -> None:
        self._entries.append(entry)

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
