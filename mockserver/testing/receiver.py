"""A callback receiver for tests and local development: a tiny HTTP/1.1 server on 127.0.0.1
that answers a script and records every request.

    with Receiver([500, "timeout", 200]) as receiver:
        ...  # callbacks to receiver.url()
        receiver.requests  # what arrived: monotonic time, headers, body

The script is consumed one request at a time, its last answer repeating: `[500]` always answers
500. An answer is a status code (3xx come with a `Location`), "timeout" (never answer; wait until
the client gives up), "close" (close the connection without answering) or "reset" (abort it);
`delay` seconds pass before each answer.
Plain asyncio rather than an ASGI server, because an ASGI app cannot drop a connection. With an
`ssl_context` it speaks HTTPS (tests make one with `trustme`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

Answer = int | Literal["timeout", "close", "reset"]

_MAX_HEAD = 64 * 1024
_MAX_BODY = 1024 * 1024
STARTUP_TIMEOUT = 10.0
_REASONS = {200: "OK", 204: "No Content", 302: "Found", 404: "Not Found", 500: "Error"}


def _checked(script: Sequence[Answer]) -> list[Answer]:
    if not script:
        raise ValueError("the script needs at least one answer")
    for answer in script:
        if not (isinstance(answer, int) and 100 <= answer <= 599) and answer not in (
            "timeout",
            "close",
            "reset",
        ):
            raise ValueError(f"not an answer: {answer!r}")
    return list(script)


@dataclass(frozen=True, slots=True)
class Received:
    at: float  # time.monotonic() when the request had been read
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    answer: Answer

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Serves from a background thread while the `with` block runs."""

    def __init__(
        self,
        script: Sequence[Answer] = (200,),
        *,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        delay: float = 0.0,
    ) -> None:
        self.script = _checked(script)
        self.host = host
        #: seconds to take before answering each request (a slow receiver)
        self.delay = delay
        self._ssl = ssl_context
        self._received: list[Received] = []
        self._arrived = threading.Condition()
        self._sock: socket.socket | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._failure: BaseException | None = None

    # -- what tests read ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._port is not None, "the receiver has not been started"
        return self._port

    @property
    def authority(self) -> str:
        """`host:port`, as `--callback-allow` takes it."""
        return f"{self.host}:{self.port}"

    def url(self, path: str = "/hook", *, host: str | None = None) -> str:
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://{host or self.host}:{self.port}{path}"

    @property
    def requests(self) -> list[Received]:
        with self._arrived:
            return list(self._received)

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        """The requests, once at least `count` have arrived; TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._received)} of {count} requests arrived")
                self._arrived.wait(left)
            return list(self._received)

    def reset(self, script: Sequence[Answer] = (200,)) -> None:
        """Forget what arrived, and answer `script` from the next request on."""
        with self._arrived:
            self.script = _checked(script)
            self._received.clear()

    # -- running --------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(128)
        self._sock = sock
        self._port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name=f"receiver-{self.port}", daemon=True)
        self._thread.start()
        if not self._started.wait(STARTUP_TIMEOUT) or self._failure is not None:
            self.__exit__(None, None, None)
            raise RuntimeError("the receiver did not start") from self._failure
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(STARTUP_TIMEOUT)
        if self._sock is not None:
            self._sock.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to __enter__, or lost with the thread
            self._failure = exc
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        # a client that refuses our certificate makes the handshake fail: that is its business
        self._loop.set_exception_handler(lambda _loop, _context: None)
        handlers: set[asyncio.Task[None]] = set()

        def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.get_running_loop().create_task(self._handle(reader, writer))
            handlers.add(task)
            task.add_done_callback(handlers.discard)

        assert self._sock is not None
        server = await asyncio.start_server(
            on_connect, sock=self._sock.dup(), ssl=self._ssl, limit=_MAX_HEAD
        )
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for task in list(handlers):
                task.cancel()
            if handlers:
                await asyncio.wait(set(handlers))
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        abort = True
        try:
            request = await self._read(reader)
            if request is None:
                return
            method, path, headers, body = request
            answer = self._record(method, path, headers, body)
            if self.delay > 0:
                await asyncio.sleep(self.delay)
            if answer == "reset":
                return
            if answer == "timeout":
                while await reader.read(65536):  # until the client gives up and closes
                    pass
                return
            if answer != "close":
                reason = _REASONS.get(answer, "Status")
                extra = "Location: /moved\r\n" if 300 <= answer < 400 else ""
                writer.write(
                    f"HTTP/1.1 {answer} {reason}\r\n{extra}Content-Length: 0\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                await writer.drain()
            abort = False
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a client that goes away or speaks nonsense gets nothing
        finally:
            if abort:
                writer.transport.abort()
            else:
                writer.close()
                with contextlib.suppress(OSError, TimeoutError):
                    await asyncio.wait_for(writer.wait_closed(), 1.0)
                writer.transport.abort()  # a TLS close that did not finish

    async def _read(
        self, reader: asyncio.StreamReader
    ) -> tuple[str, str, dict[str, str], bytes] | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, path, _version = request_line.split(" ", 2)
        headers = {}
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if not 0 <= length <= _MAX_BODY:
            raise ValueError(f"a body of {length} bytes")
        body = await reader.readexactly(length) if length else b""
        return method, path, headers, body

    def _record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        with self._arrived:
            answer = self.script[min(len(self._received), len(self.script) - 1)]
            self._received.append(Received(time.monotonic(), method, path, headers, body, answer))
            self._arrived.notify_all()
        return answer
