"""The client against the real simulator: in-process (ASGI) and over a socket (serve_in_thread)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from evolink_client import (
    AsyncClient,
    Client,
    InvalidRequestError,
    PermissionDeniedError,
    TaskNotFoundError,
    TaskStatus,
)
from mockserver import Settings, create_app
from mockserver.domain.limits import UNLIMITED_REMAINING
from mockserver.domain.timing import FAST
from mockserver.testing.server import serve_in_thread

from ..mp4probe import probe

KEY = "sk-client-test"
OTHER_KEY = "sk-someone-else"
MISSING = "task-unified-1700000000-zzzzzzzz"


def assert_mp4(path: Path, width: int = 1280, height: int = 720) -> None:
    data = path.read_bytes()
    assert len(data) > 8
    assert data[4:8] == b"ftyp"
    info = probe(data)
    assert (info.width, info.height) == (width, height)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


class AsyncAdmin:
    """Moves a virtual clock through the simulator's admin route; doubles as the client's sleep."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.slept: list[float] = []

    async def advance(self, seconds: float) -> None:
        response = await self.http.post("/_mock/clock/advance", json={"seconds": seconds})
        response.raise_for_status()

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await self.advance(seconds)


# -- in-process, async -------------------------------------------------------------------------


@pytest.fixture
async def inprocess() -> AsyncIterator[tuple[AsyncClient, AsyncAdmin]]:
    transport = httpx.ASGITransport(create_app(Settings(timings=FAST, clock="virtual")))
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://sim.test") as http,
        AsyncClient(KEY, base_url="http://sim.test", transport=transport) as client,
    ):
        admin = AsyncAdmin(http)
        client._sleep = admin.sleep  # polling advances the virtual clock instead of waiting
        yield client, admin


@pytest.mark.anyio
async def test_inprocess_create_advance_get_wait_download(
    inprocess: tuple[AsyncClient, AsyncAdmin], tmp_path: Path
) -> None:
    client, admin = inprocess
    task = await client.create_video("A cat playing piano", duration=4, quality="720p")
    assert (task.status, task.progress) == (TaskStatus.PENDING, 0)
    assert task.task_info is not None
    assert task.task_info.video_duration == 4

    await admin.advance(5 + 20)  # out of the queue, half-way through 40 s of processing
    midway = await client.get_task(task.id)
    assert midway.status is TaskStatus.PROCESSING
    assert 0 < midway.progress < 100

    seen: list[int] = []
    done = await client.wait(task, on_progress=lambda t: seen.append(t.progress))
    assert done.status is TaskStatus.COMPLETED
    assert seen == sorted(seen)
    assert seen[-1] == 100
    assert admin.slept  # it did poll more than once

    target = await client.download(done, tmp_path / "cat.mp4")
    assert_mp4(target)


@pytest.mark.anyio
async def test_inprocess_credits_fall_by_the_price_of_a_completed_task(
    inprocess: tuple[AsyncClient, AsyncAdmin],
) -> None:
    client, admin = inprocess
    before = await client.get_credits()
    await client.create_video("A cat", duration=8, quality="1080p")
    await admin.advance(3600)
    after = await client.get_credits()

    assert (before.used, before.unlimited, before.account_used) == (0.0, True, 0.0)
    assert before.remaining == before.token_remaining == UNLIMITED_REMAINING
    assert (after.used, after.unlimited, after.account_used) == (230.44608, True, 230.44608)


@pytest.mark.anyio
async def test_inprocess_typed_errors(inprocess: tuple[AsyncClient, AsyncAdmin]) -> None:
    client, _ = inprocess
    with pytest.raises(TaskNotFoundError) as not_found:
        await client.get_task(MISSING)
    assert not_found.value.code == "task_not_found"
    with pytest.raises(InvalidRequestError) as bad_id:
        await client.get_task("not-a-task-id")
    assert (bad_id.value.code, bad_id.value.param) == ("invalid_task_id", "task_id")

    task = await client.create_video("A cat")
    transport = client._http._transport
    async with AsyncClient(OTHER_KEY, base_url="http://sim.test", transport=transport) as other:
        with pytest.raises(PermissionDeniedError) as denied:
            await other.get_task(task.id)
    assert denied.value.code == "permission_denied"


# -- over a real socket ------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[str]:
    with serve_in_thread(create_app(Settings(timings=FAST, clock="virtual"))) as base_url:
        yield base_url


def advance(base_url: str, seconds: float) -> None:
    httpx.post(f"{base_url}/_mock/clock/advance", json={"seconds": seconds}).raise_for_status()


def test_socket_sync_create_advance_get_wait_download(server: str, tmp_path: Path) -> None:
    assert server.startswith("http://127.0.0.1:")
    with Client(KEY, base_url=server, sleep=lambda s: advance(server, s)) as client:
        task = client.create_video("A cat", duration=8, quality="1080p", aspect_ratio="9:16")
        advance(server, 5 + 60)
        assert client.get_task(task.id).status is TaskStatus.PROCESSING
        done = client.wait(task.id, poll_interval=30, max_poll_interval=60)
        assert done.results == (f"{server}/_mock/videos/{task.id}.mp4",)
        assert_mp4(client.download(done, tmp_path / "v.mp4"), width=1024, height=1792)


def test_socket_sync_typed_errors(server: str) -> None:
    with Client(KEY, base_url=server) as client:
        task = client.create_video("A cat")
        with pytest.raises(TaskNotFoundError):
            client.get_task(MISSING)
        with pytest.raises(InvalidRequestError, match="invalid_task_id"):
            client.get_task("bogus")
    with Client(OTHER_KEY, base_url=server) as other, pytest.raises(PermissionDeniedError):
        other.get_task(task.id)


@pytest.mark.anyio
async def test_socket_async_create_wait_download(server: str, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=server) as http:
        admin = AsyncAdmin(http)
        async with AsyncClient(KEY, base_url=server, sleep=admin.sleep) as client:
            task = await client.create_video("A cat", duration=4)
            await admin.advance(3)
            assert (await client.get_task(task.id)).status is TaskStatus.PENDING
            done = await client.wait(task)
            assert_mp4(await client.download(done.id, tmp_path / "v.mp4"))
            with pytest.raises(TaskNotFoundError):
                await client.get_task(MISSING)


# -- serve_in_thread itself --------------------------------------------------------------------


def test_serve_in_thread_stops_serving_on_exit() -> None:
    with serve_in_thread(create_app(Settings(timings=FAST, clock="virtual"))) as base_url:
        assert httpx.get(f"{base_url}/_mock/health").json()["status"] == "ok"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/_mock/health")


def test_serve_in_thread_gives_distinct_ports() -> None:
    app = create_app(Settings(timings=FAST, clock="virtual"))
    with serve_in_thread(app) as first, serve_in_thread(app) as second:
        assert first != second


def failing_app() -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("startup failed on purpose")
        yield

    return Starlette(lifespan=lifespan)


def test_serve_in_thread_raises_when_startup_fails() -> None:
    with (
        pytest.raises(RuntimeError, match="exited during startup") as info,
        serve_in_thread(failing_app()),
    ):
        pytest.fail("should not get here")
    assert isinstance(info.value.__cause__, SystemExit)


def slow_app() -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        import anyio

        await anyio.sleep(0.5)
        yield

    return Starlette(lifespan=lifespan)


def test_serve_in_thread_startup_is_bounded() -> None:
    with (
        pytest.raises(RuntimeError, match=r"did not start within 0\.1 s"),
        serve_in_thread(slow_app(), startup_timeout=0.1),
    ):
        pytest.fail("should not get here")
