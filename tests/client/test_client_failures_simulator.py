"""The client against the simulator's failure scenarios (admin faults): typed errors, retries
against a real server, failed tasks and wait() running out of time.

The faults are injected through `POST /_mock/faults`; the client sends nothing special (its
creates carry an `Idempotency-Key`, which the simulator does not act on: a keyed create is
retried here only after a fault that fires before any task is made). The
catalogue of errors is the spec's (`load_spec().errors`), so a newly documented error is tested
here without editing this file. AsyncClient runs in-process (httpx.ASGITransport); the blocking
Client runs over a real socket (serve_in_thread).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from contract_tests.oracle import expected_class
from evolink_client import (
    NO_RETRY,
    APIStatusError,
    AsyncClient,
    Client,
    Credits,
    RetryPolicy,
    ServerError,
    Task,
    TaskFailedError,
    TaskStatus,
    WaitTimeoutError,
)
from mockserver import Settings, Simulator, create_app, load_spec
from mockserver.domain.errors import RETRY_AFTER_429
from mockserver.domain.gateway import RETRY_AFTER_503
from mockserver.domain.timing import FAST
from mockserver.spec import (
    BATCH_TASKS,
    CREATE,
    CREDITS,
    LIST_MODELS,
    LIST_TASKS,
    QUERY,
    DocumentedError,
)
from mockserver.testing.server import serve_in_thread

from ..client_fixtures import FakeTime

KEY = "sk-failures-test"
BASE = "http://sim.test"
#: The default policy's attempts, with the jitter pinned to half the backoff ceiling.
POLICY = RetryPolicy()
JITTER = 0.5
#: The simulator's default timings for a 4 s 720p video: 5 s queued, then 40 s of processing.
QUEUE_SECONDS = 5.0
PROCESSING_SECONDS = 40.0

DOCUMENTED: list[tuple[str, DocumentedError]] = [
    (operation_id, error)
    for operation_id, errors in sorted(load_spec().errors.items())
    for _, error in sorted(errors.items())
]
DOCUMENTED_IDS = [f"{operation_id}-{error.status}" for operation_id, error in DOCUMENTED]


def no_dns(host: str, port: int) -> list[str]:
    """The simulator's resolver for callback hosts: nothing resolves, so nothing leaves 127.0.0.1.

    Needed while the simulator fills a create without `callback_url` with the spec's example
    (https://your-domain.com/...): every task would otherwise look that name up, and try to send
    it a callback when it ends.
    """
    raise OSError(f"tests resolve no names ({host})")


def offline_app(settings: Settings) -> Starlette:
    return create_app(simulator=Simulator(settings, resolver=no_dns))


def expected_attempts(operation_id: str, status: int) -> int:
    """How many requests the default policy makes against a fault that never lets up.

    A 429 and a 5xx are retried, a create's too: it carries an `Idempotency-Key`, under which a
    server answers a repeat with the first answer instead of a second task. Without keys a
    create is retried only after a 429 (test_async_unkeyed_create_is_not_retried_after_a_500).
    """
    return POLICY.max_attempts if status == 429 or status >= 500 else 1


#: What the simulator's injected errors ask for in `Retry-After`, by status.
RETRY_AFTER = {429: RETRY_AFTER_429, 503: RETRY_AFTER_503}


def expected_sleeps(status: int, attempts: int) -> list[float]:
    """What the default policy sleeps between `attempts`: what `Retry-After` asks, where the
    answer carries one, else the backoff with the jitter pinned."""
    if status in RETRY_AFTER:
        return [float(RETRY_AFTER[status])] * (attempts - 1)
    return [JITTER * POLICY.base_delay * 2**n for n in range(attempts - 1)]


def assert_documented(exc: APIStatusError, error: DocumentedError) -> None:
    assert type(exc) is expected_class(error.status)
    assert (exc.status, exc.code, exc.type, exc.message, exc.param) == (
        error.status,
        error.code,
        error.type,
        error.message,
        error.param,
    )
    assert json.loads(exc.raw)["error"]["code"] == error.code
    assert error.code in str(exc)
    assert KEY not in str(exc)
    assert KEY not in repr(exc.__dict__)


def fault_body(scenario: str, operation: str, times: int | None) -> dict[str, Any]:
    return {"scenario": scenario, "match": {"operation": operation, "api_key": KEY}, "times": times}


def api_requests(journal: list[dict[str, Any]]) -> list[tuple[str, int, str | None]]:
    """The vendor-API requests the simulator saw: (method, status, scenario)."""
    return [(entry["method"], entry["status"], entry["scenario"]) for entry in journal]


# -- in-process: AsyncClient over httpx.ASGITransport ---------------------------------------------


@dataclass
class AsyncSim:
    """A fresh virtual-clock simulator and its admin routes; `sleep` doubles as a client's sleep."""

    admin: httpx.AsyncClient
    transport: httpx.ASGITransport
    slept: list[float] = field(default_factory=list)

    async def fault(self, scenario: str, operation: str, times: int | None = 1) -> None:
        response = await self.admin.post(
            "/_mock/faults", json=fault_body(scenario, operation, times)
        )
        assert response.status_code == 201, response.text

    async def faults(self) -> list[dict[str, Any]]:
        faults: list[dict[str, Any]] = (await self.admin.get("/_mock/faults")).json()
        return faults

    async def journal(self) -> list[dict[str, Any]]:
        journal: list[dict[str, Any]] = (await self.admin.get("/_mock/requests")).json()
        return journal

    async def now(self) -> float:
        now: float = (await self.admin.get("/_mock/clock")).json()["now"]
        return now

    async def tasks(self) -> int:
        tasks: int = (await self.admin.get("/_mock/health")).json()["tasks"]
        return tasks

    async def advance(self, seconds: float) -> None:
        response = await self.admin.post("/_mock/clock/advance", json={"seconds": seconds})
        response.raise_for_status()

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await self.advance(seconds)

    def client(self, **kwargs: Any) -> AsyncClient:
        options: dict[str, Any] = {
            "transport": self.transport,
            "sleep": self.sleep,
            "random": lambda: JITTER,
            **kwargs,
        }
        return AsyncClient(KEY, base_url=BASE, **options)


class KeysSeen(httpx.AsyncBaseTransport):
    """A transport in front of another that notes each request's `Idempotency-Key`."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.keys: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.keys.append(request.headers.get("idempotency-key"))
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def asim() -> AsyncIterator[AsyncSim]:
    transport = httpx.ASGITransport(offline_app(Settings(timings=FAST, clock="virtual")))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as admin:
        yield AsyncSim(admin, transport)


async def call_async(client: AsyncClient, operation_id: str, task_id: str) -> object:
    if operation_id == CREATE:
        return await client.create_video("A cat playing piano", duration=4)
    if operation_id == CREDITS:
        return await client.get_credits()
    if operation_id == LIST_TASKS:
        return await client.list_tasks()
    if operation_id == BATCH_TASKS:
        return await client.get_tasks([task_id])
    if operation_id == LIST_MODELS:
        return await client.models()
    return await client.get_task(task_id)


#: what each call returns when it succeeds (a task where not listed)
ANSWERS: dict[str, type] = {
    CREDITS: Credits,
    LIST_TASKS: list,
    BATCH_TASKS: list,
    LIST_MODELS: list,
}
#: the operations whose request is a POST
POSTS = {CREATE, BATCH_TASKS}


def test_every_documented_operation_is_exercised() -> None:
    """call_async/call_sync know how to make each operation's request; a new one needs a call."""
    spec = load_spec()
    keyed = {op: errors for op, errors in spec.errors.items() if op not in spec.public}
    assert set(keyed) == {CREATE, QUERY, CREDITS, LIST_TASKS, BATCH_TASKS, LIST_MODELS}
    assert all(keyed.values())


@pytest.mark.anyio
@pytest.mark.parametrize(("operation_id", "error"), DOCUMENTED, ids=DOCUMENTED_IDS)
async def test_async_documented_error_from_a_fault(
    asim: AsyncSim, operation_id: str, error: DocumentedError
) -> None:
    async with asim.client(retry=NO_RETRY) as client:
        task = await client.create_video("A cat")  # something real to query
        await asim.fault(error.code, operation_id, times=1)
        with pytest.raises(APIStatusError) as info:
            await call_async(client, operation_id, task.id)
        assert_documented(info.value, error)
        assert await asim.faults() == []  # used up by the one request
        again = await call_async(client, operation_id, task.id)  # times=1: the next one is fine
    assert isinstance(again, ANSWERS.get(operation_id, Task))
    method = "POST" if operation_id in POSTS else "GET"
    assert api_requests(await asim.journal())[1:] == [
        (method, error.status, error.code),
        (method, 200, None),
    ]
    assert asim.slept == []


@pytest.mark.anyio
async def test_async_read_retried_after_one_500_returns_the_task(asim: AsyncSim) -> None:
    async with asim.client() as client:
        task = await client.create_video("A cat")
        await asim.fault("internal_error", "query", times=1)
        got = await client.get_task(task.id)
    assert (got.id, got.status) == (task.id, TaskStatus.PENDING)
    assert api_requests(await asim.journal()) == [
        ("POST", 200, None),
        ("GET", 500, "internal_error"),
        ("GET", 200, None),
    ]
    assert asim.slept == [JITTER * POLICY.base_delay]


@pytest.mark.anyio
async def test_async_unkeyed_create_is_not_retried_after_a_500(asim: AsyncSim) -> None:
    async with asim.client(idempotency_keys=False) as client:  # 4 attempts, but no key
        await asim.fault("internal_error", "create", times=1)
        with pytest.raises(ServerError) as info:
            await client.create_video("A cat")
        assert info.value.code == "internal_error"
        assert api_requests(await asim.journal()) == [("POST", 500, "internal_error")]
        assert await asim.tasks() == 0
        await client.create_video("A cat")  # the fault is used up: what a retry would have done
    assert await asim.tasks() == 1
    assert asim.slept == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("scenario", "status"), [("rate_limit_exceeded", 429), ("internal_error", 500)]
)
async def test_async_create_is_retried_with_its_key_and_makes_one_task(
    asim: AsyncSim, scenario: str, status: int
) -> None:
    seen = KeysSeen(asim.transport)
    async with asim.client(transport=seen) as client:  # the default: keys, 4 attempts
        await asim.fault(scenario, "create", times=1)
        task = await client.create_video("A cat")
    assert task.status is TaskStatus.PENDING
    assert api_requests(await asim.journal()) == [("POST", status, scenario), ("POST", 200, None)]
    assert await asim.tasks() == 1
    [key, again] = seen.keys
    assert key is not None
    assert again == key
    assert asim.slept == expected_sleeps(status, 2)  # Retry-After where the answer has one


@pytest.mark.anyio
async def test_async_wait_raises_task_failed_for_content_policy_violation(asim: AsyncSim) -> None:
    async with asim.client() as client:
        await asim.fault("fail:content_policy_violation", "create", times=1)
        start = await asim.now()
        task = await client.create_video("A cat")
        assert task.status is TaskStatus.PENDING  # it fails later, when it leaves the queue
        seen: list[TaskStatus] = []
        with pytest.raises(TaskFailedError) as info:
            await client.wait(task, on_progress=lambda t: seen.append(t.status))
    failed = info.value
    assert (failed.code, failed.task_id) == ("content_policy_violation", task.id)
    assert failed.task.status is TaskStatus.FAILED
    assert failed.task.error is not None
    assert failed.task.error.type == "task_error"
    assert failed.message == failed.task.error.message
    assert failed.message
    assert task.id in str(failed)
    assert "content_policy_violation" in str(failed)
    assert seen[-1] is TaskStatus.FAILED
    assert set(seen[:-1]) == {TaskStatus.PENDING}
    # the client's sleeps drove the simulator's clock past the queue, and no further than needed
    assert asim.slept
    assert await asim.now() - start == pytest.approx(sum(asim.slept))
    assert sum(asim.slept[:-1]) < QUEUE_SECONDS <= sum(asim.slept)


@pytest.mark.anyio
async def test_async_wait_timeout_names_the_task_and_its_last_status(asim: AsyncSim) -> None:
    fake = FakeTime()
    async with asim.client() as client:
        task = await client.create_video("A cat", duration=4)
    await asim.advance(QUEUE_SECONDS + PROCESSING_SECONDS / 4)  # processing, 25%
    before = await asim.now()
    polls: list[Task] = []
    # The client's own clock and sleep are fake; the simulator's virtual clock never moves.
    async with asim.client(sleep=fake.asleep, clock=fake.clock) as client:
        with pytest.raises(WaitTimeoutError) as info:
            await client.wait(task, timeout=10, poll_interval=2, on_progress=polls.append)
    timeout = info.value
    assert (timeout.task_id, timeout.last_status) == (task.id, TaskStatus.PROCESSING)
    assert timeout.timeout == 10
    assert timeout.task.progress == 25
    assert task.id in str(timeout)
    assert "processing" in str(timeout)
    assert sum(fake.sleeps) == pytest.approx(10)  # never slept past the deadline
    assert len(polls) == len(fake.sleeps) + 1
    assert await asim.now() == before
    assert [m for m, _, _ in api_requests(await asim.journal())] == ["POST"] + ["GET"] * len(polls)


@pytest.mark.anyio
async def test_async_progress_rises_to_the_failure_point_then_raises(asim: AsyncSim) -> None:
    async with asim.client() as client:
        await asim.fault("fail:generation_timeout@50", "create", times=1)
        task = await client.create_video("A cat", duration=4, quality="720p")
        seen: list[tuple[TaskStatus, int]] = []
        with pytest.raises(TaskFailedError) as info:
            await client.wait(
                task,
                poll_interval=2,
                max_poll_interval=2,
                on_progress=lambda t: seen.append((t.status, t.progress)),
            )
    assert info.value.code == "generation_timeout"
    assert (info.value.task.status, info.value.task.progress) == (TaskStatus.FAILED, 50)
    assert seen[-1] == (TaskStatus.FAILED, 50)
    progress = [p for _, p in seen]
    assert progress == sorted(progress)
    processing = [p for status, p in seen if status is TaskStatus.PROCESSING]
    # polled every 2 s through 20 s of processing: about ten readings, strictly rising, below 50
    assert len(processing) >= 8
    assert processing == sorted(set(processing))
    assert processing[0] > 0
    assert processing[-1] < 50
    assert {status for status, _ in seen} == {
        TaskStatus.PENDING,
        TaskStatus.PROCESSING,
        TaskStatus.FAILED,
    }


# -- over a real socket: the blocking Client -------------------------------------------------------


@dataclass
class SyncSim:
    base_url: str
    admin: httpx.Client
    slept: list[float] = field(default_factory=list)

    def fault(self, scenario: str, operation: str, times: int | None = 1) -> None:
        response = self.admin.post("/_mock/faults", json=fault_body(scenario, operation, times))
        assert response.status_code == 201, response.text

    def faults(self) -> list[dict[str, Any]]:
        faults: list[dict[str, Any]] = self.admin.get("/_mock/faults").json()
        return faults

    def journal(self) -> list[dict[str, Any]]:
        journal: list[dict[str, Any]] = self.admin.get("/_mock/requests").json()
        return journal

    def tasks(self) -> int:
        tasks: int = self.admin.get("/_mock/health").json()["tasks"]
        return tasks

    def advance(self, seconds: float) -> None:
        self.admin.post("/_mock/clock/advance", json={"seconds": seconds}).raise_for_status()

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def client(self, **kwargs: Any) -> Client:
        options: dict[str, Any] = {"sleep": self.sleep, "random": lambda: JITTER, **kwargs}
        return Client(KEY, base_url=self.base_url, **options)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_in_thread(offline_app(Settings(timings=FAST, clock="virtual"))) as base_url:
        yield base_url


@pytest.fixture
def ssim(server: str) -> Iterator[SyncSim]:
    """The module's server, reset: no task, fault or journal entry from an earlier test."""
    assert server.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=server) as admin:
        admin.post("/_mock/reset").raise_for_status()
        yield SyncSim(server, admin)


def call_sync(client: Client, operation_id: str, task_id: str) -> object:
    if operation_id == CREATE:
        return client.create_video("A cat playing piano", duration=4)
    if operation_id == CREDITS:
        return client.get_credits()
    if operation_id == LIST_TASKS:
        return client.list_tasks()
    if operation_id == BATCH_TASKS:
        return client.get_tasks([task_id])
    if operation_id == LIST_MODELS:
        return client.models()
    return client.get_task(task_id)


@pytest.mark.parametrize(("operation_id", "error"), DOCUMENTED, ids=DOCUMENTED_IDS)
def test_sync_documented_error_with_the_default_retries(
    ssim: SyncSim, operation_id: str, error: DocumentedError
) -> None:
    """A fault that lasts as long as the client keeps trying: each error is retried or not as the
    README says, and the last answer's error is raised."""
    attempts = expected_attempts(operation_id, error.status)
    with ssim.client() as client:  # the default policy
        task = client.create_video("A cat")
        ssim.fault(error.code, operation_id, times=attempts)
        with pytest.raises(APIStatusError) as info:
            call_sync(client, operation_id, task.id)
    assert_documented(info.value, error)
    assert ssim.faults() == []  # exactly `attempts` requests were made: all of the fault
    method = "POST" if operation_id in POSTS else "GET"
    assert api_requests(ssim.journal())[1:] == [(method, error.status, error.code)] * attempts
    assert ssim.slept == expected_sleeps(error.status, attempts)
    assert ssim.tasks() == 1  # no create that failed made a task


def test_sync_read_retried_after_one_500_returns_the_task(ssim: SyncSim) -> None:
    with ssim.client() as client:
        task = client.create_video("A cat")
        ssim.fault("internal_error", "query", times=1)
        got = client.get_task(task.id)
    assert got.id == task.id
    assert got.status is TaskStatus.PENDING
    assert api_requests(ssim.journal()) == [
        ("POST", 200, None),
        ("GET", 500, "internal_error"),
        ("GET", 200, None),
    ]
    assert ssim.slept == [JITTER * POLICY.base_delay]


def test_sync_unkeyed_create_is_not_retried_after_a_500(ssim: SyncSim) -> None:
    with ssim.client(idempotency_keys=False) as client:
        ssim.fault("internal_error", "create", times=1)
        with pytest.raises(ServerError) as info:
            client.create_video("A cat")
    assert (info.value.status, info.value.code) == (500, "internal_error")
    assert api_requests(ssim.journal()) == [("POST", 500, "internal_error")]
    assert ssim.tasks() == 0
    assert ssim.slept == []


def test_sync_wait_progress_rises_to_the_failure_point_then_raises(ssim: SyncSim) -> None:
    seen: list[tuple[TaskStatus, int]] = []
    with ssim.client() as client:
        ssim.fault("fail:generation_timeout@50", "create", times=1)
        task = client.create_video("A cat", duration=4)
        with pytest.raises(TaskFailedError) as info:
            client.wait(
                task.id,
                poll_interval=4,
                max_poll_interval=4,
                on_progress=lambda t: seen.append((t.status, t.progress)),
            )
    assert info.value.code == "generation_timeout"
    assert seen[-1] == (TaskStatus.FAILED, 50)
    processing = [p for status, p in seen if status is TaskStatus.PROCESSING]
    assert len(processing) >= 4
    assert processing == sorted(set(processing))
    assert processing[-1] < 50


@pytest.fixture(scope="module")
def fast_server() -> Iterator[str]:
    """A real-clock simulator at 200x: the 5 s queue lasts 25 ms of wall time."""
    with serve_in_thread(offline_app(Settings(timings=FAST, clock="real", speed=200))) as base_url:
        yield base_url


@pytest.mark.realclock
def test_sync_wait_with_real_sleeps_raises_task_failed(fast_server: str) -> None:
    with httpx.Client(base_url=fast_server) as admin:
        admin.post("/_mock/faults", json=fault_body("fail:content_policy_violation", "create", 1))
        started = time.monotonic()
        with Client(KEY, base_url=fast_server) as client:  # real time.sleep, real clock
            task = client.create_video("A cat")
            with pytest.raises(TaskFailedError) as info:
                client.wait(task, timeout=5, poll_interval=0.02, max_poll_interval=0.05)
        elapsed = time.monotonic() - started
    assert info.value.code == "content_policy_violation"
    assert info.value.task_id == task.id
    assert elapsed < 2


@pytest.mark.realclock
def test_sync_wait_times_out_in_real_time(ssim: SyncSim) -> None:
    """The virtual clock never moves, so the task stays pending until wait() gives up."""
    with Client(KEY, base_url=ssim.base_url) as client:  # real time.sleep, real clock
        task = client.create_video("A cat")
        started = time.monotonic()
        with pytest.raises(WaitTimeoutError) as info:
            client.wait(task, timeout=0.1, poll_interval=0.02, max_poll_interval=0.02)
        elapsed = time.monotonic() - started
    assert (info.value.task_id, info.value.last_status) == (task.id, TaskStatus.PENDING)
    assert f"task {task.id} still pending" in str(info.value)
    assert 0.1 <= elapsed < 1
    gets = [m for m, _, _ in api_requests(ssim.journal())].count("GET")
    assert 2 <= gets <= 10  # it polled, at about the interval asked for
