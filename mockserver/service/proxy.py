"""The validating proxy's service: forward a vendor call to the upstream with the caller's key,
check the request and the answer against the merged spec, journal both with what broke it, and
append the exchange to a recording.

Nothing here turns an upstream answer into another: its status, body and headers go back as they
came. A connection the upstream cuts is `UpstreamCut`, for the HTTP layer to cut the caller's.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from ..domain.journal import MAX_ENTRIES, Entry, redact
from ..domain.recording import Exchange, kept_headers
from ..spec import CREATE, Spec
from ..storage.recording import RecordingWriter

log = logging.getLogger("evolink_mock.proxy")

#: headers a proxy must not pass on (RFC 9110 7.6.1), and those httpx sets itself
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "accept-encoding",
    }
)
#: how many task creates the proxy remembers the time of (for `at` in recordings)
MAX_TASKS = 100_000
#: the upstream may be slow: a create is answered in seconds, but nothing here cuts it short
TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=60.0, pool=60.0)


class UpstreamCut(Exception):
    """The upstream closed the connection, or could not be reached, before a whole answer."""


@dataclass(frozen=True, slots=True)
class Forwarded:
    """The upstream's answer, whole."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class ProxyEntry:
    """A journal entry of the proxy: the simulator's, with the spec violations it showed."""

    entry: Entry
    violations: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.entry.to_json(), "violations": list(self.violations)}


def _json(raw: bytes) -> Any:
    """The body as JSON; the text when it is not JSON; None when empty."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _api_key(headers: list[tuple[str, str]]) -> str | None:
    """The caller's bearer key, to redact in the journal and scrub from recordings."""
    authorization = next((v for k, v in headers if k.lower() == "authorization"), "")
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class Proxy:
    def __init__(
        self,
        upstream: str,
        spec: Spec,
        *,
        recorder: RecordingWriter | None = None,
        record_media: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.spec = spec
        self.recorder = recorder
        self.record_media = record_media and recorder is not None
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._journal: deque[ProxyEntry] = deque(maxlen=MAX_ENTRIES)
        #: task id -> monotonic time its create was answered
        self._created: dict[str, float] = {}

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.upstream, timeout=TIMEOUT, transport=self._transport
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        if self.recorder is not None:
            self.recorder.close()

    # -- the vendor's routes -------------------------------------------------------------------

    def request_violations(
        self, operation: str | None, headers: list[tuple[str, str]], body: bytes
    ) -> list[str]:
        if operation != CREATE:
            return []
        found = []
        media_type = next((v for k, v in headers if k.lower() == "content-type"), "none")
        if media_type.split(";")[0].strip().lower() != "application/json":
            found.append(f"request: Content-Type must be application/json, got {media_type}")
        parsed = _json(body)
        if not isinstance(parsed, dict | list | int | float | bool) and parsed is not None:
            return [*found, "request: the body is not JSON"]
        return found + [f"request: {e}" for e in self.spec.request_errors(parsed)]

    async def forward(
        self,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> Forwarded:
        """Send the call upstream as it came (the caller's key with it) and return the answer;
        the exchange is checked, journaled and recorded."""
        operation = self.spec.operation_of(method, path)
        sent = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        url = path + (f"?{query}" if query else "")
        try:
            response = await self.client.request(method, url, headers=sent, content=body)
        except httpx.TransportError as exc:
            self._journal_entry(method, path, headers, 0, [f"upstream: {exc!r}"])
            raise UpstreamCut(repr(exc)) from exc
        answered = time.monotonic()
        forwarded = Forwarded(
            response.status_code,
            [(k, v) for k, v in response.headers.multi_items() if k.lower() not in HOP_BY_HOP],
            response.content,
        )
        violations = self.request_violations(operation, headers, body)
        response_body = _json(forwarded.body)
        if operation is not None:
            violations += [
                f"response: {problem}"
                for problem in self.spec.response_problems(
                    operation, forwarded.status, response_body
                )
            ]
        for violation in violations:
            log.warning(
                "spec violation: %s %s -> %s: %s", method, path, forwarded.status, violation
            )
        self._journal_entry(method, path, headers, forwarded.status, violations)
        if self.recorder is not None and operation is not None:
            await self._record(method, path, headers, body, forwarded, response_body, answered)
        return forwarded

    async def stream(
        self, path: str, headers: list[tuple[str, str]]
    ) -> tuple[int, list[tuple[str, str]], AsyncIterator[bytes]]:
        """A result video from the upstream, passed on as it arrives."""
        sent = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        try:
            response = await self.client.send(
                self.client.build_request("GET", path, headers=sent), stream=True
            )
        except httpx.TransportError as exc:
            raise UpstreamCut(repr(exc)) from exc

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_raw():
                    yield chunk
            except httpx.TransportError as exc:
                raise UpstreamCut(repr(exc)) from exc
            finally:
                await response.aclose()

        kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in HOP_BY_HOP]
        return response.status_code, kept, body()

    # -- the journal -----------------------------------------------------------------------------

    def _journal_entry(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        status: int,
        violations: list[str],
    ) -> None:
        key = _api_key(headers)
        entry = Entry(time.time(), method, path, redact(key), status, None, None)
        self._journal.append(ProxyEntry(entry, tuple(violations)))

    def journal(self) -> list[ProxyEntry]:
        return list(self._journal)

    def reset(self) -> None:
        self._journal.clear()

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "mode": "proxy",
            "upstream": self.upstream,
            "recording": None if self.recorder is None else str(self.recorder.path),
        }

    # -- recording -------------------------------------------------------------------------------

    async def _record(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        answer: Forwarded,
        response_body: Any,
        answered: float,
    ) -> None:
        assert self.recorder is not None
        task_id = response_body.get("id") if isinstance(response_body, dict) else None
        if not isinstance(task_id, str):
            task_id = path.removeprefix("/v1/tasks/") if path.startswith("/v1/tasks/") else None
        at: float | None = None
        if method == "POST" and task_id is not None and answer.status == 200:
            if len(self._created) >= MAX_TASKS:
                self._created.pop(next(iter(self._created)))
            self._created[task_id] = answered
            at = 0.0
        elif task_id in self._created:
            at = round(answered - self._created[task_id], 3)
        media: tuple[str, ...] = ()
        if self.record_media and isinstance(response_body, dict) and task_id is not None:
            media = await self._save_media(task_id, response_body.get("results"))
        key = _api_key(headers)
        exchange = Exchange(
            method,
            path,
            _json(body),
            answer.status,
            response_body,
            kept_headers(answer.headers),
            task_id,
            at,
            media,
        )
        self.recorder.write(exchange, secrets=(key,) if key else ())

    async def _save_media(self, task_id: str, results: object) -> tuple[str, ...]:
        """Each result link's file, beside the recording (once: a later poll finds it saved).
        The links are fetched without the caller's key: they are public (a CDN's)."""
        assert self.recorder is not None
        if not isinstance(results, list):
            return ()
        saved = []
        for number, url in enumerate(results):
            if not isinstance(url, str):
                continue
            name = f"{task_id}-{number}.mp4"
            target = self.recorder.media_file(name)
            if not target.exists():
                try:
                    async with (
                        httpx.AsyncClient(timeout=TIMEOUT, transport=self._transport) as fetch,
                        fetch.stream("GET", url) as response,
                    ):
                        if response.status_code != 200:
                            continue
                        partial = target.with_suffix(".part")
                        with partial.open("wb") as out:
                            async for chunk in response.aiter_bytes():
                                out.write(chunk)
                        partial.replace(target)
                except httpx.HTTPError as exc:
                    log.warning("media of %s not saved: %r", task_id, exc)
                    continue
            saved.append(name)
        return tuple(saved)
