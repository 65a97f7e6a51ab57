"""`evolink-mock proxy`: the vendor's routes forwarded with the caller's key, every exchange
checked against the spec (violations journaled), recorded without the key; what the upstream
answers, or how it fails, reaches the caller as it came."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema_rs
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mockserver import Settings, create_app, load_spec
from mockserver.domain.timing import FAST
from mockserver.service.proxy import Proxy
from mockserver.storage.recording import RecordingWriter, read_recording
from mockserver.testing import serve_in_thread
from mockserver.web.proxy import create_proxy_app

from ..bodies import create_body

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "openapi" / "recording.schema.json").read_text())
KEY = "sk-proxy-secret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
VALID = create_body(duration=4)


@pytest.fixture
def upstream() -> Iterator[str]:
    with serve_in_thread(create_app(Settings(clock="virtual", timings=FAST))) as url:
        yield url


def proxied(upstream: str, record: Path | None = None, *, media: bool = False):
    recorder = RecordingWriter(record) if record is not None else None
    return serve_in_thread(
        create_proxy_app(Proxy(upstream, load_spec(), recorder=recorder, record_media=media))
    )


def test_a_lifecycle_through_the_proxy_is_recorded_without_the_key(
    upstream: str, tmp_path: Path
) -> None:
    record = tmp_path / "rec.jsonl"
    with (
        proxied(upstream, record, media=True) as proxy,
        httpx.Client(base_url=proxy, headers=AUTH, timeout=10) as api,
    ):
        assert api.get("/_mock/health").json()["mode"] == "proxy"
        task = api.post("/v1/videos/generations", json=VALID).json()
        for _ in range(20):  # bounded: FAST ends a 4 s task 45 simulated seconds in
            httpx.post(f"{upstream}/_mock/clock/advance", json={"seconds": 5}, timeout=5)
            seen = api.get(f"/v1/tasks/{task['id']}").json()
            if seen["status"] == "completed":
                break
        assert seen["status"] == "completed"
        video = api.get(seen["results"][0].removeprefix(upstream))
        journal = api.get("/_mock/requests").json()

    text = record.read_text()
    assert KEY not in text
    validator = jsonschema_rs.Draft202012Validator(SCHEMA)
    lines = [json.loads(line) for line in text.splitlines()]
    for line in lines:
        validator.validate(line)
    assert (lines[0]["method"], lines[0]["at"]) == ("POST", 0)
    assert [line["at"] for line in lines] == sorted(line["at"] for line in lines)
    assert lines[-1]["response_body"]["status"] == "completed"
    saved = record.with_name("rec.jsonl.media") / lines[-1]["media"][0]
    assert saved.read_bytes()[4:8] == b"ftyp"
    assert (video.status_code, video.content) == (200, saved.read_bytes())
    assert all(entry["violations"] == [] for entry in journal)
    assert {entry["api_key"] for entry in journal} == {"sk-pro..."}
    assert [e.status for e in read_recording(record)] == [line["status"] for line in lines]


def test_errors_pass_through_unchanged_and_a_bad_request_is_a_violation(upstream: str) -> None:
    with proxied(upstream) as proxy:
        bad = httpx.post(
            f"{proxy}/v1/videos/generations", json={**VALID, "duration": 5}, headers=AUTH
        )
        direct = httpx.post(
            f"{upstream}/v1/videos/generations", json={**VALID, "duration": 5}, headers=AUTH
        )
        text = httpx.post(
            f"{proxy}/v1/videos/generations",
            content=json.dumps(VALID),
            headers={**AUTH, "Content-Type": "text/plain"},
        )
        nokey = httpx.get(f"{proxy}/v1/tasks/task-unified-1-x")
        journal = httpx.get(f"{proxy}/_mock/requests").json()

    assert (bad.status_code, bad.json()) == (direct.status_code, direct.json())
    assert nokey.status_code == 401
    assert journal[0]["violations"] == ["request: duration: 5 is not one of 4, 8 or 12"]
    assert text.status_code == 400
    assert journal[1]["violations"] == [
        "request: Content-Type must be application/json, got text/plain"
    ]
    assert journal[2]["violations"] == []


def prism_like() -> Starlette:
    """Prism's way of refusing a create: 422 with a problem document, outside the spec."""

    async def create(request: Request) -> Response:
        return JSONResponse({"type": "UNPROCESSABLE_ENTITY", "title": "Invalid"}, status_code=422)

    return Starlette(routes=[Route("/v1/videos/generations", create, methods=["POST"])])


def test_an_answer_outside_the_spec_is_journaled_as_a_violation_and_passed_on() -> None:
    with serve_in_thread(prism_like()) as upstream, proxied(upstream) as proxy:
        answer = httpx.post(f"{proxy}/v1/videos/generations", json={"model": "x"}, headers=AUTH)
        journal = httpx.get(f"{proxy}/_mock/requests").json()

    assert answer.status_code == 422
    assert answer.json()["type"] == "UNPROCESSABLE_ENTITY"
    assert (
        "response: status 422 is not documented for createVideoGeneration"
        in (journal[0]["violations"])
    )


def slow_and_failing() -> Starlette:
    async def slow(request: Request) -> Response:
        await asyncio.sleep(0.5)
        return JSONResponse({"error": {"code": "x", "message": "late", "type": "t"}}, 503)

    return Starlette(routes=[Route("/v1/credits", slow, methods=["GET"])])


def test_a_slow_upstream_error_arrives_as_it_came() -> None:
    with serve_in_thread(slow_and_failing()) as upstream, proxied(upstream) as proxy:
        answer = httpx.get(f"{proxy}/v1/credits", headers=AUTH, timeout=10)

    assert answer.status_code == 503
    assert answer.json()["error"]["message"] == "late"


@pytest.fixture
def cutting_upstream() -> Iterator[str]:
    """Accepts connections, reads the request, and closes without a byte of answer."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(2)
            try:
                conn.recv(65536)
            finally:
                conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    server.close()


def test_a_cut_connection_is_cut_for_the_caller_too_never_a_500(cutting_upstream: str) -> None:
    with proxied(cutting_upstream) as proxy:
        with pytest.raises(httpx.TransportError):
            httpx.post(f"{proxy}/v1/videos/generations", json=VALID, headers=AUTH, timeout=10)
        journal = httpx.get(f"{proxy}/_mock/requests").json()

    assert journal[0]["status"] == 0
    assert journal[0]["violations"][0].startswith("upstream:")
