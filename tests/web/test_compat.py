"""What `mockserver.web.compat` takes from Starlette's and uvicorn's internals still holds: each
test fails when a framework release changes a piece the HTTP layer relies on."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Match, Route, Router
from starlette.types import Message, Receive, Scope, Send

from mockserver.testing import serve_in_thread
from mockserver.web.compat import EXCEPTION_HANDLERS_KEY, connection_transport, route_path
from mockserver.web.vendor import JSONBytes

# -- Starlette ------------------------------------------------------------------------------------


def _scope(path: str, root_path: str = "", method: str = "GET") -> Scope:
    return {"type": "http", "method": method, "path": path, "root_path": root_path, "headers": []}


@pytest.mark.parametrize(
    ("path", "root_path", "expected"),
    [
        ("/v1/tasks/t-1", "", "/v1/tasks/t-1"),  # no mount: the path itself
        ("/api/v1/tasks/t-1", "/api", "/v1/tasks/t-1"),  # under a mount: its prefix stripped
        ("/api", "/api", ""),  # the mount's own path
        ("/apiv1/tasks", "/api", "/apiv1/tasks"),  # a prefix of the text, not of a segment
        ("/other/v1/tasks", "/api", "/other/v1/tasks"),  # outside the mount
    ],
)
def test_route_path_strips_the_root_path_as_starlette_does(
    path: str, root_path: str, expected: str
) -> None:
    assert route_path(_scope(path, root_path)) == expected


def test_starlettes_routes_match_the_path_route_path_gives() -> None:
    """The dispatcher matches `route_path(scope)` against its index; Starlette's `Route` must
    match under a mount on the same path, or the dispatcher and the router would disagree."""

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("")

    route = Route("/v1/tasks/{task_id}", endpoint, methods=["GET"])
    mounted = _scope("/api/v1/tasks/t-1", "/api")
    match, child = route.matches(mounted)

    assert route_path(mounted) == "/v1/tasks/t-1"
    assert match is Match.FULL
    assert child["path_params"] == {"task_id": "t-1"}
    assert route.matches(_scope("/api/v1/tasks/t-1"))[0] is Match.NONE  # the same path unmounted


async def _answer(app: Any, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.anyio
async def test_a_route_the_router_calls_answers_with_the_handlers_under_the_scope_key() -> None:
    async def failing(request: Request) -> Response:
        raise LookupError("no such thing")

    async def on_lookup(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"handled: {exc}", status_code=418)

    router = Router(routes=[Route("/fails", failing)])
    scope = _scope("/fails")
    scope[EXCEPTION_HANDLERS_KEY] = ({LookupError: on_lookup}, {})
    sent = await _answer(router, scope)

    assert sent[0]["status"] == 418
    assert sent[1]["body"] == b"handled: no such thing"
    with pytest.raises(LookupError):  # without the key, the route has no handler
        await _answer(router, _scope("/fails"))


@pytest.mark.anyio
async def test_a_response_built_without_init_is_sent_from_its_four_attributes() -> None:
    """`JSONBytes` sets `status_code`, `raw_headers`, `body`, `background` itself."""
    sent = await _answer(JSONBytes(b'{"ok": true}', "req-1"), _scope("/"))

    assert sent == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-length", b"12"),
                (b"content-type", b"application/json"),
                (b"x-request-id", b"req-1"),
            ],
        },
        {"type": "http.response.body", "body": b'{"ok": true}'},
    ]


# -- uvicorn --------------------------------------------------------------------------------------


class CuttingApp:
    """Cuts each request's connection as `LostResponse` does, noting what it found."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}
        self.done = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        try:
            cycle = getattr(receive, "__self__", None)
            self.seen["cycle"] = f"{type(cycle).__module__}.{type(cycle).__qualname__}"
            transport = connection_transport(receive)
            self.seen["transport"] = transport is not None
            if transport is not None:
                transport.abort()
                self.seen["then"] = await asyncio.wait_for(receive(), 1.0)
        finally:
            self.done.set()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_uvicorns_receive_leads_to_a_transport_whose_abort_sends_nothing(
    http: str, loop: str
) -> None:
    app = CuttingApp()
    with serve_in_thread(app, http=http, loop=loop) as base_url:
        host, port = base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(f"GET /v1/tasks/t-1 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            try:
                received = conn.recv(65536)
            except ConnectionResetError:
                received = b""
        assert app.done.wait(5)

    assert received == b""  # not one byte: no status line, no headers
    assert app.seen == {
        "cycle": f"uvicorn.protocols.http.{http}_impl.RequestResponseCycle",
        "transport": True,
        # uvicorn noticed the lost connection: the cycle reads a disconnect, at once
        "then": {"type": "http.disconnect"},
    }


@pytest.mark.anyio
async def test_a_receive_that_is_not_uvicorns_has_no_transport() -> None:
    async def receive() -> Message:
        return {"type": "http.disconnect"}

    class Wrapped:  # a bound `receive` of something else, as middleware may pass on
        transport = None

        async def receive(self) -> Message:
            return {"type": "http.disconnect"}

    assert connection_transport(receive) is None
    assert connection_transport(Wrapped().receive) is None
