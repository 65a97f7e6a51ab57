"""One dispatcher serves every route (`mockserver.web.dispatch`): it picks what Starlette's router
would pick, answers errors with the app's own exception handlers on every route, and sits under
whatever middleware the app is given."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver import MemoryStore, MockApp, MockError, Settings, Simulator, create_app
from mockserver.domain.timing import FAST
from mockserver.storage.base import AddResult, NewTask

from ..bodies import create_body
from ..conftest import KEY, START

pytestmark = pytest.mark.anyio

VALID = create_body()


class Counting:
    """A pure ASGI middleware that counts the requests it sees."""

    def __init__(self, app: ASGIApp, seen: list[str]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def _routed(app: MockApp, method: str, path: str) -> tuple[object, dict[str, Any]] | None:
    """The endpoint and path parameters Starlette's router picks, if one route matches fully."""
    for route in app.routes:
        match, child = route.matches(_scope(method, path))
        if match is Match.FULL:
            return child.get("endpoint"), child.get("path_params", {})
    return None


_SEGMENTS = st.sampled_from(
    [
        "",
        "/",
        "v1",
        "tasks",
        "videos",
        "generations",
        "_mock",
        "faults",
        "1",
        "cancel",
        "replay",
        "ui",
        "app.js",
        "task-unified-1-abcdefgh",
        "x.mp4",
        "x/y",
        "%2F",
        "é",
    ]
)
_PATHS = st.one_of(
    st.sampled_from(
        [
            "/v1/videos/generations",
            "/v1/videos/generations/",
            "/v1/tasks/",
            "/v1/tasks",
            "/v1/tasks/a",
            "/v1/tasks/a/",
            "/v1/tasks//",
            "/v1/tasks/a/b",
            "/V1/tasks/a",
            "/_mock/faults",
            "/_mock/faults/3",
            "/_mock/videos/task-unified-1-abcdefgh.mp4",
            "/_mock/callbacks/x/replay",
            "/_mock/ui/app.js",
        ]
    ),
    st.lists(_SEGMENTS, max_size=5).map(lambda parts: "/v1/tasks/" + "".join(parts)),
    st.lists(_SEGMENTS, max_size=5).map(lambda parts: "/" + "/".join(parts)),
    st.lists(_SEGMENTS, max_size=4).map(lambda parts: "/_mock/" + "/".join(parts)),
    st.text(max_size=30).map(lambda text: "/v1/tasks/" + text),
)


@pytest.mark.no_cover  # generated input, whose every line other tests run (per-test contexts)
@settings(max_examples=500, deadline=None)
@given(method=st.sampled_from(["GET", "POST", "HEAD", "DELETE", "get"]), path=_PATHS)
def test_the_dispatcher_picks_what_the_router_picks(method: str, path: str) -> None:
    app = create_app(Settings(timings=FAST, clock="virtual"))
    scope = _scope(method, path)
    routed = _routed(app, method, path)

    endpoint = app.dispatcher._endpoint(scope)

    # every route of the table is a plain `async def endpoint(request)`: whatever the router
    # matches fully, the dispatcher calls itself; the rest (404, 405, redirects) it leaves
    assert routed == (None if endpoint is None else (endpoint, scope.get("path_params", {})))


_json = {"Content-Type": "application/json"}
_LONE_SURROGATE = b'{"model": "sora-2-pro-preview", "prompt": "a \\ud800 cat"}'


def _scenario(name: str) -> dict[str, str]:
    return {"X-Mock-Scenario": name}


def _requests(task_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """A spread of good and bad requests, to the vendor's routes and the admin ones."""
    other = {"Authorization": "Bearer sk-someone-else"}
    return [
        ("POST", "/v1/videos/generations", {"json": VALID}),
        ("POST", "/v1/videos/generations", {"json": {**VALID, "duration": 7}}),
        ("POST", "/v1/videos/generations", {"content": b"{not json", "headers": _json}),
        ("POST", "/v1/videos/generations", {"content": b"x" * 300_000, "headers": _json}),
        ("POST", "/v1/videos/generations", {"json": VALID, "headers": {"Authorization": "x"}}),
        ("POST", "/v1/videos/generations", {"json": VALID, "headers": {"Prefer": "code=429"}}),
        ("POST", "/v1/videos/generations", {"json": VALID, "headers": _scenario("nope")}),
        ("POST", "/v1/videos/generations", {"content": _LONE_SURROGATE, "headers": _json}),
        ("GET", f"/v1/tasks/{task_id}", {}),
        ("GET", f"/v1/tasks/{task_id}", {"headers": other}),
        ("GET", f"/v1/tasks/{task_id}", {"headers": _scenario("http:500")}),
        ("GET", "/v1/tasks/task-unified-1-abcdefgh", {}),
        ("GET", "/v1/tasks/nope", {}),
        ("DELETE", f"/v1/tasks/{task_id}", {}),
        ("GET", "/v1/videos/generations", {}),
        ("GET", "/v1/videos/generations/", {}),
        ("GET", "/nowhere", {}),
        ("POST", "/_mock/faults", {"json": {"scenario": "nope"}}),
        ("DELETE", "/_mock/faults/77", {}),
        ("PUT", "/_mock/faults", {}),
        ("GET", "/_mock/faults", {}),
    ]


_ID = re.compile(r"task-unified-\d+-[a-z0-9]{8}")


async def _answers(app: Starlette) -> list[tuple[int, str, str | None]]:
    transport = httpx.ASGITransport(app)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://mock.test", headers=headers
    ) as client:
        created = (await client.post("/v1/videos/generations", json=VALID)).json()
        answers: list[tuple[int, str, str | None]] = [(200, _ID.sub("ID", str(created)), None)]
        for method, path, kwargs in _requests(created["id"]):
            response = await client.request(method, path, **kwargs)
            answers.append(
                (response.status_code, _ID.sub("ID", response.text), response.headers.get("allow"))
            )
    return answers


async def test_middleware_sees_every_request_and_changes_no_answer() -> None:
    plain_sim = Simulator(Settings(timings=FAST, clock="virtual", start_time=START))
    wrapped_sim = Simulator(Settings(timings=FAST, clock="virtual", start_time=START))
    wrapped = create_app(simulator=wrapped_sim)
    seen: list[str] = []
    wrapped.add_middleware(Counting, seen=seen)

    plain_answers = await _answers(create_app(simulator=plain_sim))
    wrapped_answers = await _answers(wrapped)

    assert len(seen) == len(wrapped_answers)  # the middleware saw every request, admin included
    assert plain_answers == wrapped_answers
    statuses = {status for status, _, _ in plain_answers}
    assert statuses >= {200, 307, 400, 401, 403, 404, 405, 429, 500}
    plain_journal = [(e.method, _ID.sub("ID", e.path), e.status) for e in await plain_sim.journal()]
    wrapped_journal = [
        (e.method, _ID.sub("ID", e.path), e.status) for e in await wrapped_sim.journal()
    ]
    assert plain_journal == wrapped_journal
    # every answer outside /_mock/ is journaled, but the router's redirect of a trailing slash
    journaled = [
        (m, _ID.sub("ID", p)) for m, p, _ in _requests("ID") if not p.startswith("/_mock/")
    ]
    journaled.remove(("GET", "/v1/videos/generations/"))
    assert [(m, p) for m, p, _ in plain_journal] == [("POST", "/v1/videos/generations"), *journaled]


@pytest.mark.parametrize("with_middleware", [False, True], ids=["bare", "with-middleware"])
async def test_the_apps_exception_handler_answers_every_route(with_middleware: bool) -> None:
    app = create_app(Settings(timings=FAST, clock="virtual", api_keys=frozenset({KEY})))
    if with_middleware:
        app.add_middleware(Counting, seen=[])
    handled: list[str] = []

    async def mine(request: Request, exc: Exception) -> Response:
        handled.append(f"{request.method} {request.url.path}")
        return JSONResponse({"mine": type(exc).__name__}, status_code=418)

    app.add_exception_handler(MockError, mine)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as client:
        create = await client.post("/v1/videos/generations", json=VALID)
        query = await client.get("/v1/tasks/task-unified-1-abcdefgh")
        admin = await client.delete("/_mock/faults/77")

    assert [create.status_code, query.status_code, admin.status_code] == [418, 418, 418]
    assert [create.json(), query.json(), admin.json()] == [
        {"mine": "Unauthorized"},
        {"mine": "Unauthorized"},
        {"mine": "NotFound"},
    ]
    assert handled == [
        "POST /v1/videos/generations",
        "GET /v1/tasks/task-unified-1-abcdefgh",
        "DELETE /_mock/faults/77",
    ]


async def test_a_handler_for_a_status_code_answers_the_routers_404_and_405() -> None:
    app = create_app(Settings(timings=FAST, clock="virtual"))

    async def teapot(request: Request, exc: Exception) -> Response:
        return JSONResponse({"status": getattr(exc, "status_code", None)}, status_code=418)

    app.add_exception_handler(404, teapot)
    app.add_exception_handler(405, teapot)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as client:
        missing = await client.get("/nowhere")
        wrong_method = await client.put("/v1/videos/generations")

    assert (missing.status_code, missing.json()) == (418, {"status": 404})
    assert (wrong_method.status_code, wrong_method.json()) == (418, {"status": 405})


class BrokenStore(MemoryStore):
    """A store with a bug: adding a task raises."""

    async def add_task(self, new: NewTask) -> AddResult:
        raise RuntimeError("a bug")


@pytest.mark.parametrize("with_middleware", [False, True], ids=["bare", "with-middleware"])
async def test_a_bug_is_a_logged_500_envelope(
    with_middleware: bool, caplog: pytest.LogCaptureFixture
) -> None:
    sim = Simulator(Settings(timings=FAST, clock="virtual", start_time=START), store=BrokenStore())
    app = create_app(simulator=sim)
    if with_middleware:
        app.add_middleware(Counting, seen=[])
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as client:
        with caplog.at_level(logging.ERROR, logger="mockserver"):
            response = await client.post(
                "/v1/videos/generations", json=VALID, headers={"Authorization": "Bearer sk-k"}
            )

    assert response.status_code == 500
    assert set(response.json()["error"]) == {"code", "message", "type"}
    assert "a bug" in caplog.text
    assert [entry.status for entry in await sim.journal()] == [500]


async def test_under_a_mount_every_route_answers() -> None:
    seen: list[str] = []
    outer = Starlette(
        routes=[Mount("/api", app=create_app(Settings(timings=FAST, clock="virtual")))]
    )
    outer.add_middleware(Counting, seen=seen)
    transport = httpx.ASGITransport(outer)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://mock.test", headers=headers
    ) as client:
        created = await client.post("/api/v1/videos/generations", json=VALID)
        queried = await client.get(f"/api/v1/tasks/{created.json()['id']}")
        health = await client.get("/api/_mock/health")
        outside = await client.post("/v1/videos/generations", json=VALID)

    assert created.status_code == 200
    assert created.json()["status"] == "pending"
    assert queried.json() == created.json()
    assert health.json()["tasks"] == 1
    assert outside.status_code == 404
    assert len(seen) == 4
