"""The vendor's two routes are dispatched ahead of Starlette's router (`MockApp.__call__`): the
shortcut must pick exactly what the router would, and answer exactly what the router's way does."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest
from conftest import KEY, START
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver import Settings, Simulator, create_app
from mockserver._app import MockApp, _vendor_endpoint, create_video_generation, get_task_detail

pytestmark = pytest.mark.anyio

VALID = {"model": "sora-2-pro-preview", "prompt": "A cat playing piano"}
VENDOR = {create_video_generation, get_task_detail}


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
    ["", "/", "v1", "tasks", "videos", "generations", "task-unified-1-abcdefgh", "x/y", "%2F", "é"]
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
        ]
    ),
    st.lists(_SEGMENTS, max_size=5).map(lambda parts: "/v1/tasks/" + "".join(parts)),
    st.lists(_SEGMENTS, max_size=5).map(lambda parts: "/" + "/".join(parts)),
    st.text(max_size=30).map(lambda text: "/v1/tasks/" + text),
)


@settings(max_examples=400, deadline=None)
@given(method=st.sampled_from(["GET", "POST", "HEAD", "DELETE", "get"]), path=_PATHS)
def test_the_shortcut_picks_what_the_router_picks(method: str, path: str) -> None:
    app = create_app(Settings(clock="virtual"))
    scope = _scope(method, path)
    routed = _routed(app, method, path)

    endpoint = _vendor_endpoint(scope)

    if endpoint is None:  # left to the router: right, but the shortcut should miss no GET/POST
        assert routed is None or routed[0] not in VENDOR or method not in ("GET", "POST")
    else:
        assert routed == (endpoint, scope.get("path_params", {}))


def _requests(task_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """A spread of good and bad requests to the vendor's routes."""
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
    ]


_json = {"Content-Type": "application/json"}
_LONE_SURROGATE = b'{"model": "sora-2-pro-preview", "prompt": "a \\ud800 cat"}'


def _scenario(name: str) -> dict[str, str]:
    return {"X-Mock-Scenario": name}


_ID = re.compile(r"task-unified-\d+-[a-z0-9]{8}")


async def _answers(app: Starlette, sim: Simulator) -> list[tuple[int, str, str | None]]:
    transport = httpx.ASGITransport(app)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://mock.test", headers=headers
    ) as client:
        created = (await client.post("/v1/videos/generations", json=VALID)).json()
        answers = [(200, _ID.sub("ID", str(created)), None)]
        for method, path, kwargs in _requests(created["id"]):
            response = await client.request(method, path, **kwargs)
            answers.append(
                (response.status_code, _ID.sub("ID", response.text), response.headers.get("allow"))
            )
    return answers


async def test_the_shortcut_answers_and_journals_as_the_router_does() -> None:
    fast_sim = Simulator(Settings(clock="virtual", start_time=START))
    slow_sim = Simulator(Settings(clock="virtual", start_time=START))
    slow = create_app(simulator=slow_sim)
    seen: list[str] = []
    slow.add_middleware(Counting, seen=seen)  # any middleware turns the shortcut off

    fast_answers = await _answers(create_app(simulator=fast_sim), fast_sim)
    slow_answers = await _answers(slow, slow_sim)

    assert len(seen) == len(slow_answers)  # the middleware saw every vendor request
    assert fast_answers == slow_answers
    assert {status for status, _, _ in fast_answers} >= {200, 400, 401, 403, 404, 405, 429, 500}
    fast_journal = [(e.method, _ID.sub("ID", e.path), e.status) for e in fast_sim.journal]
    slow_journal = [(e.method, _ID.sub("ID", e.path), e.status) for e in slow_sim.journal]
    assert fast_journal == slow_journal
    assert len(fast_journal) == len(fast_answers)


async def test_a_bug_in_a_handler_is_a_logged_500_envelope_on_both_ways(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for middleware in (False, True):
        sim = Simulator(Settings(clock="virtual", start_time=START))
        app = create_app(simulator=sim)
        if middleware:
            app.add_middleware(Counting, seen=[])

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(sim, "create_task", broken)
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as client:
            with caplog.at_level(logging.ERROR, logger="mockserver"):
                response = await client.post(
                    "/v1/videos/generations", json=VALID, headers={"Authorization": "Bearer k"}
                )

        assert response.status_code == 500
        assert set(response.json()["error"]) == {"code", "message", "type"}
        assert "a bug" in caplog.text
        assert [entry.status for entry in sim.journal] == [500]
        caplog.clear()


async def test_under_a_mount_the_routes_go_through_the_router() -> None:
    seen: list[str] = []
    outer = Starlette(routes=[Mount("/api", app=create_app(Settings(clock="virtual")))])
    outer.add_middleware(Counting, seen=seen)
    transport = httpx.ASGITransport(outer)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://mock.test", headers=headers
    ) as client:
        created = await client.post("/api/v1/videos/generations", json=VALID)
        queried = await client.get(f"/api/v1/tasks/{created.json()['id']}")
        outside = await client.post("/v1/videos/generations", json=VALID)

    assert created.status_code == 200
    assert created.json()["status"] == "pending"
    assert queried.json() == created.json()
    assert outside.status_code == 404
    assert len(seen) == 3
