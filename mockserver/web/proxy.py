"""`evolink-mock proxy`: the vendor's routes forwarded to an upstream (`mockserver.service.proxy`)
and the simulator's `/_mock/health` and journal; the handlers read, call the proxy, render."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..domain.errors import MockError
from ..service.proxy import Proxy, UpstreamCut
from ..settings import MAX_BODY_BYTES
from .errors import documented, envelope
from .requests import _read_body
from .vendor import LostResponse


class ProxyApp(Starlette):
    def __init__(self, proxy: Proxy, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.proxy = proxy


def _proxy(request: Request) -> Proxy:
    app: ProxyApp = request.scope["app"]
    return app.proxy


def _headers(request: Request) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]]


async def forward(request: Request) -> Response:
    body = await _read_body(request, MAX_BODY_BYTES) if request.method == "POST" else b""
    answer = await _proxy(request).forward(
        request.method,
        request.url.path,
        request.url.query,
        _headers(request),
        body,
    )
    response = Response(answer.body, status_code=answer.status)
    response.raw_headers = [
        (k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers
    ] + [(b"content-length", str(len(answer.body)).encode())]
    return response


async def media(request: Request) -> Response:
    status, headers, chunks = await _proxy(request).stream(request.url.path, _headers(request))
    response = StreamingResponse(chunks, status_code=status)
    response.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return response


async def health(request: Request) -> Response:
    return JSONResponse(_proxy(request).health())


async def journal(request: Request) -> Response:
    return JSONResponse([entry.to_json() for entry in _proxy(request).journal()])


async def reset(request: Request) -> Response:
    _proxy(request).reset()
    return JSONResponse({"status": "reset"})


async def on_mock_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MockError)
    error = documented(_proxy(request).spec, None, exc.status)
    return JSONResponse(envelope(error, exc.message, exc.param), status_code=exc.status)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = documented(_proxy(request).spec, None, exc.status_code)
    return JSONResponse(envelope(error), status_code=exc.status_code, headers=exc.headers)


async def on_upstream_cut(request: Request, exc: Exception) -> Response:
    """The upstream cut the connection: so is the caller's, rather than a 500 it never sent."""
    return LostResponse("")


async def on_client_gone(request: Request, exc: Exception) -> Response:
    return Response(status_code=499)


ROUTES = [
    Route("/v1/videos/generations", forward, methods=["POST"]),
    Route("/v1/tasks/{task_id}", forward, methods=["GET"]),
    Route("/v1/credits", forward, methods=["GET"]),
    Route("/_mock/videos/{task_id}.mp4", media, methods=["GET"]),
    Route("/_mock/health", health, methods=["GET"]),
    Route("/_mock/requests", journal, methods=["GET"]),
    Route("/_mock/reset", reset, methods=["POST"]),
]


def create_proxy_app(proxy: Proxy) -> ProxyApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await proxy.aclose()

    return ProxyApp(
        proxy,
        routes=list(ROUTES),
        lifespan=lifespan,
        exception_handlers={
            MockError: on_mock_error,
            HTTPException: on_http_exception,
            UpstreamCut: on_upstream_cut,
            ClientDisconnect: on_client_gone,
        },
    )
