"""The request journal's entries: what the API was asked, by whom (redacted), what it answered.

Stores keep the entries (`mockserver.storage`); this module says what one is."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..spec import CREATE, CREDITS, QUERY

MAX_ENTRIES = 10_000

#: A request's headers as the server got them: (name, value) pairs, names in lower case.
RawHeaders = Sequence[tuple[bytes, bytes]]
#: What the journal shows instead of a header that carries a credential.
REDACTED = "[redacted]"
#: A header whose name contains one of these carries a credential (an API key, a token, a
#: cookie): the journal keeps it redacted. `Idempotency-Key` names a request, not a secret.
_SECRET_NAMES = ("authorization", "cookie", "token", "secret", "password", "api-key", "apikey")


@functools.lru_cache(maxsize=256)
def _is_secret(name: bytes) -> bool:
    lowered = name.lower().replace(b"_", b"-")
    return any(marker.encode() in lowered for marker in _SECRET_NAMES)


def shown_headers(raw: RawHeaders) -> dict[str, str]:
    """Headers as the journal shows them: names in lower case, a repeated one's values joined
    with ", ", and every header that carries a credential `REDACTED`."""
    shown: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = REDACTED if _is_secret(name) else value.decode("latin-1")
        shown[key] = f"{shown[key]}, {text}" if key in shown else text
    return shown


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
    #: the request's headers (shown redacted: `shown_headers`)
    headers: RawHeaders = ()
    #: a create answered with the task its `Idempotency-Key` was bound to already
    replayed: bool = False

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
        return {
            **self._asdict(),
            "headers": shown_headers(self.headers),
            "operation": self.operation,
        }


class EntryFilter(NamedTuple):
    """Which journal entries a caller asks for; None matches anything."""

    operation: str | None = None
    status: int | None = None
    api_key: str | None = None
    #: `NAME` (the request carried it) or `NAME: VALUE` (with that value, as the journal shows it)
    header: str | None = None

    def __call__(self, entry: Entry) -> bool:
        return (
            (self.operation is None or entry.operation == self.operation)
            and (self.status is None or entry.status == self.status)
            and (self.api_key is None or entry.api_key == redact(self.api_key))
            and (self.header is None or self._has_header(entry))
        )

    def _has_header(self, entry: Entry) -> bool:
        assert self.header is not None
        name, colon, value = self.header.partition(":")
        shown = shown_headers(entry.headers).get(name.strip().lower())
        return shown is not None and (not colon or shown == value.strip())
