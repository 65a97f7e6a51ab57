"""The dashboard's server side: the task listing it polls and the allow-listed asset route."""

from __future__ import annotations

import json
from urllib.parse import unquote

import httpx
import pytest
from starlette.types import ASGIApp, Message, Scope

from mockserver import Simulator, create_app
from mockserver.ui.routes import ASSETS, CONTENT_SECURITY_POLICY

from ..bodies import create_body
from ..conftest import KEY, START
from ..image_fixtures import png

pytestmark = pytest.mark.anyio

BODY = create_body(prompt="a cat", duration=4)


async def create(api: httpx.AsyncClient, **headers: str) -> str:
    response = await api.post("/v1/videos/generations", json=BODY, headers=headers)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["id"]
    return task_id


async def advance(api: httpx.AsyncClient, seconds: float) -> None:
    response = await api.post("/_mock/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text


def assert_envelope(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "type"}


# -- GET /_mock/tasks ---------------------------------------------------------------------------


async def test_an_empty_simulator_lists_no_tasks(api: httpx.AsyncClient) -> None:
    response = await api.get("/_mock/tasks")
    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["x-total-count"] == "0"


async def test_a_task_is_listed_with_its_plan_and_redacted_key(api: httpx.AsyncClient) -> None:
    task_id = await create(api)
    body = {**BODY, "prompt": "<script>alert(1)</script>", "callback_url": "https://example.com/h"}
    other = (await api.post("/v1/videos/generations", json=body)).json()["id"]
    listing = (await api.get("/_mock/tasks")).json()
    assert [t["id"] for t in listing] == [other, task_id]  # same second: the later first
    assert listing[1] == {
        "id": task_id,
        "api_key": "sk-tes...",
        "model": "sora-2-pro-preview",
        "status": "pending",
        "progress": 0,
        "created": START,
        "started": START + 5,
        "ends_at": START + 45,
        "estimated_time": 45,
        "error_code": None,
        "error_message": None,
        "prompt": "a cat",
        "callback_url": None,
        "video_url": None,
    }
    assert listing[0]["prompt"] == "<script>alert(1)</script>"  # JSON as is: the page escapes
    assert listing[0]["callback_url"] == "https://example.com/h"
    assert KEY not in (await api.get("/_mock/tasks")).text


async def test_the_listing_follows_the_clock(api: httpx.AsyncClient) -> None:
    task_id = await create(api)
    await advance(api, 25)
    (task,) = (await api.get("/_mock/tasks")).json()
    assert (task["status"], task["progress"]) == ("processing", 50)
    await advance(api, 20)
    (task,) = (await api.get("/_mock/tasks")).json()
    assert (task["id"], task["status"], task["progress"]) == (task_id, "completed", 100)
    video = await api.get(task["video_url"])  # what the dashboard plays inline
    assert (video.status_code, video.headers["content-type"]) == (200, "video/mp4")


async def test_each_task_is_listed_with_its_model(api: httpx.AsyncClient) -> None:
    await create(api)
    await api.post("/v1/videos/generations", json={**BODY, "model": "sora-2-preview"})
    listing = (await api.get("/_mock/tasks")).json()
    assert [t["model"] for t in listing] == ["sora-2-preview", "sora-2-pro-preview"]


async def test_a_failed_task_shows_its_code_only_once_it_has_failed(
    api: httpx.AsyncClient,
) -> None:
    await create(api, **{"X-Mock-Scenario": "fail:service_error@50"})
    (task,) = (await api.get("/_mock/tasks")).json()
    assert task["status"] == "pending"
    assert task["error_code"] is None  # the script is not given away before it plays
    assert task["ends_at"] == START + 5 + 20  # but the plan's end is: failing at 50 %
    await advance(api, 25)
    (task,) = (await api.get("/_mock/tasks")).json()
    assert (task["status"], task["progress"]) == ("failed", 50)
    assert task["error_code"] == "service_error"
    assert task["error_message"].startswith("Service error")


async def test_newest_first_across_seconds_and_keys(api: httpx.AsyncClient, sim: Simulator) -> None:
    first = await create(api)
    await advance(api, 1)
    second = (
        await api.post(
            "/v1/videos/generations", json=BODY, headers={"Authorization": "Bearer sk-short"}
        )
    ).json()["id"]
    listing = (await api.get("/_mock/tasks")).json()
    assert [(t["id"], t["api_key"]) for t in listing] == [(second, "***"), (first, "sk-tes...")]
    assert [t["created"] for t in listing] == [START + 1, START]


async def test_limit_keeps_the_newest(api: httpx.AsyncClient) -> None:
    ids = []
    for _ in range(3):
        ids.append(await create(api))
        await advance(api, 1)
    response = await api.get("/_mock/tasks", params={"limit": 2})
    assert [t["id"] for t in response.json()] == ids[::-1][:2]
    assert response.headers["x-total-count"] == "3"


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "100001", ""])
async def test_a_bad_limit_is_a_400_envelope(api: httpx.AsyncClient, limit: str) -> None:
    response = await api.get("/_mock/tasks", params={"limit": limit})
    assert_envelope(response, 400)
    assert response.json()["error"]["param"] == "limit"


async def test_the_listing_default_limit_is_1000(api: httpx.AsyncClient) -> None:
    for _ in range(1001):
        assert (await api.post("/v1/videos/generations", json=BODY)).status_code == 200
    response = await api.get("/_mock/tasks")
    assert len(response.json()) == 1000
    assert response.headers["x-total-count"] == "1001"


# -- GET /_mock/files ---------------------------------------------------------------------------


async def test_uploaded_files_are_listed_newest_first_until_they_expire(
    api: httpx.AsyncClient,
) -> None:
    ids = []
    for name in ("first.png", "second.png"):
        uploaded = await api.post(
            "/api/v1/files/upload/stream", files={"file": (name, png(1280, 720), "image/png")}
        )
        ids.append(uploaded.json()["data"]["file_id"])
        await advance(api, 1)

    listed = await api.get("/_mock/files")

    assert listed.headers["x-total-count"] == "2"
    newest, oldest = listed.json()
    assert [newest["id"], oldest["id"]] == ids[::-1]
    assert newest["api_key"] == "sk-tes..."  # redacted, as the tasks' keys
    assert (newest["original_name"], newest["width"], newest["height"]) == ("second.png", 1280, 720)
    assert oldest["uploaded"] == START
    assert oldest["expires"] == START + 72 * 3600
    assert (await api.get(oldest["url"])).content == png(1280, 720)  # a path on this server
    await advance(api, 72 * 3600)
    assert (await api.get("/_mock/files")).json() == []


async def test_the_file_listing_takes_a_limit(api: httpx.AsyncClient) -> None:
    for _ in range(2):
        await api.post("/api/v1/files/upload/stream", files={"file": ("a.png", png(16, 9))})

    listed = await api.get("/_mock/files", params={"limit": "1"})

    assert len(listed.json()) == 1
    assert listed.headers["x-total-count"] == "2"
    assert_envelope(await api.get("/_mock/files", params={"limit": "0"}), 400)


# -- the page and its assets --------------------------------------------------------------------


async def test_the_page_is_served_with_a_strict_policy(api: httpx.AsyncClient) -> None:
    response = await api.get("/_mock/ui")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "/_mock/ui/app.js" in response.text
    assert "/_mock/ui/style.css" in response.text


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
    ],
)
async def test_each_asset_has_its_content_type(
    api: httpx.AsyncClient, name: str, content_type: str
) -> None:
    response = await api.get(f"/_mock/ui/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.content


def test_the_allow_list_is_the_three_files() -> None:
    assert set(ASSETS) == {"index.html", "app.js", "style.css"}


@pytest.mark.parametrize(
    "path",
    [
        "/_mock/ui/../_app.py",
        "/_mock/ui/..%2F_app.py",
        "/_mock/ui/%2E%2E%2F_app.py",
        "/_mock/ui/_app.py",
        "/_mock/ui/missing.js",
        "/_mock/ui/.",
        "/_mock/ui/..",
        "/_mock/ui/%2E%2E",
        "/_mock/ui/APP.JS",
        "/_mock/ui/app.js%00",
        "/_mock/ui/ui/app.js",
    ],
)
async def test_anything_else_is_a_404_envelope(sim: Simulator, path: str) -> None:
    # straight to the ASGI app: an HTTP client (httpx too) would normalise the dots away
    status, headers, body = await raw_get(create_app(simulator=sim), path)
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert set(json.loads(body)["error"]) >= {"code", "message", "type"}
    assert "content-security-policy" not in headers
    assert b"import" not in body


async def raw_get(app: ASGIApp, raw_path: str) -> tuple[int, dict[str, str], bytes]:
    """GET a raw request target, percent-decoded into `path` as a server would."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"mock.test")],
        "client": ("127.0.0.1", 1234),
        "server": ("mock.test", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], headers, body


async def test_the_page_uses_no_inline_code_and_no_other_origin(api: httpx.AsyncClient) -> None:
    html = (await api.get("/_mock/ui")).text
    script = (await api.get("/_mock/ui/app.js")).text
    css = (await api.get("/_mock/ui/style.css")).text
    assert "<script>" not in html  # only <script src=...>
    assert " style=" not in html
    for text in (html, script, css):
        assert "http://" not in text
        assert "https://" not in text
        assert "//cdn" not in text
    assert "innerHTML" not in script
    assert "insertAdjacentHTML" not in script
    assert "document.write" not in script
