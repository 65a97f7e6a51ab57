"""Helpers shared by the tests/test_client_*.py modules: task bodies, a fake clock, factories."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from evolink_client import AsyncClient, Client, RetryPolicy

BASE = "https://api.evolink.test"
API_KEY = "sk-test-s3cr3t-KEY-do-not-leak"
TASK_ID = "task-unified-1757169743-7cvnl5zw"
TASK_URL = f"{BASE}/v1/tasks/{TASK_ID}"
CREATE_URL = f"{BASE}/v1/videos/generations"
CREDITS_URL = f"{BASE}/v1/credits"
VIDEO_URL = "https://cdn.evolink.test/videos/cat.mp4"
#: The start of a real MP4: a 32-byte `ftyp` box, then the rest.
MP4_BYTES = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\x00" * 4096


def task_body(**overrides: Any) -> dict[str, Any]:
    """A task body as the API documents it; `overrides` replace or add top-level fields."""
    body: dict[str, Any] = {
        "created": 1757169743,
        "id": TASK_ID,
        "model": "sora-2-pro-preview",
        "object": "video.generation.task",
        "progress": 0,
        "status": "pending",
        "task_info": {"can_cancel": True, "estimated_time": 45, "video_duration": 4},
        "type": "video",
        "usage": {"billing_rule": "per_second", "credits_reserved": 7, "user_group": "default"},
    }
    body.update(overrides)
    return body


def completed_body(**overrides: Any) -> dict[str, Any]:
    return task_body(status="completed", progress=100, results=[VIDEO_URL], **overrides)


def failed_body(code: str = "content_policy_violation", progress: int = 30) -> dict[str, Any]:
    error = {"code": code, "message": "Content policy violation.", "type": "task_error"}
    return task_body(status="failed", progress=progress, error=error)


class FakeTime:
    """A monotonic clock that only moves when something sleeps; records every sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def make_client(fake: FakeTime, *, retry: RetryPolicy | None = None, **kwargs: Any) -> Client:
    """A client with a fake clock and a jitter of exactly half the backoff ceiling."""
    return Client(
        API_KEY,
        base_url=BASE,
        retry=retry,
        sleep=fake.sleep,
        clock=fake.clock,
        **{"random": lambda: 0.5, **kwargs},
    )


def make_async_client(
    fake: FakeTime, *, retry: RetryPolicy | None = None, **kwargs: Any
) -> AsyncClient:
    return AsyncClient(
        API_KEY,
        base_url=BASE,
        retry=retry,
        sleep=fake.asleep,
        clock=fake.clock,
        **{"random": lambda: 0.5, **kwargs},
    )


class BrokenStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that sends `good` bytes and then breaks, as a connection reset mid-download does."""

    def __init__(self, good: bytes = MP4_BYTES[:100]) -> None:
        self.good = good

    def __iter__(self) -> Iterator[bytes]:
        yield self.good
        raise httpx.ReadError("connection reset by peer")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.good
        raise httpx.ReadError("connection reset by peer")
