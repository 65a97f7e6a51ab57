"""wait(): polling, backoff, progress, failure, timeout; download(): streamed and atomic."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from evolink_client import (
    NO_RETRY,
    APIConnectionError,
    Task,
    TaskFailedError,
    TaskNotFoundError,
    TaskNotReadyError,
    TaskStatus,
    UnexpectedResponseError,
    WaitTimeoutError,
)

from ..client_fixtures import (
    MP4_BYTES,
    TASK_ID,
    TASK_URL,
    VIDEO_URL,
    BrokenStream,
    FakeTime,
    completed_body,
    failed_body,
    make_async_client,
    make_client,
    task_body,
)


def responses(*bodies: dict[str, object]) -> list[httpx.Response]:
    return [httpx.Response(200, json=body) for body in bodies]


RISING = responses(
    task_body(),
    task_body(status="processing", progress=30),
    task_body(status="processing", progress=70),
    completed_body(),
)

# -- wait --------------------------------------------------------------------------------------


def test_wait_reports_rising_progress_and_returns_the_completed_task() -> None:
    fake = FakeTime()
    seen: list[tuple[TaskStatus, int]] = []
    with respx.mock() as router, make_client(fake) as client:
        route = router.get(TASK_URL).mock(side_effect=RISING)
        task = client.wait(TASK_ID, on_progress=lambda t: seen.append((t.status, t.progress)))
    assert task.status is TaskStatus.COMPLETED
    assert task.result_url == VIDEO_URL
    assert seen == [
        (TaskStatus.PENDING, 0),
        (TaskStatus.PROCESSING, 30),
        (TaskStatus.PROCESSING, 70),
        (TaskStatus.COMPLETED, 100),
    ]
    assert route.call_count == 4
    # 2 s, then x1.5 each poll
    assert fake.sleeps == [2.0, 3.0, 4.5]


def test_wait_poll_interval_backs_off_to_its_ceiling() -> None:
    fake = FakeTime()
    pending = responses(*[task_body()] * 5, completed_body())
    with respx.mock() as router, make_client(fake) as client:
        router.get(TASK_URL).mock(side_effect=pending)
        client.wait(TASK_ID, poll_interval=1.0, max_poll_interval=2.0)
    assert fake.sleeps == [1.0, 1.5, 2.0, 2.0, 2.0]


def test_wait_raises_task_failed_with_the_failure_code() -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        router.get(TASK_URL).mock(
            side_effect=responses(task_body(status="processing", progress=10), failed_body())
        )
        with pytest.raises(TaskFailedError) as info:
            client.wait(TASK_ID)
    error = info.value
    assert error.code == "content_policy_violation"
    assert error.task.status is TaskStatus.FAILED
    assert error.task_id == TASK_ID
    assert "content_policy_violation" in str(error)


def test_wait_times_out_naming_the_task_and_its_last_status() -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        route = router.get(TASK_URL).respond(json=task_body(status="processing", progress=40))
        with pytest.raises(WaitTimeoutError) as info:
            client.wait(TASK_ID, timeout=10.0)
    error = info.value
    assert error.task_id == TASK_ID
    assert error.last_status is TaskStatus.PROCESSING
    assert TASK_ID in str(error)
    assert "processing" in str(error)
    # 2 + 3 + 4.5, then the last 0.5 s up to the deadline, one final poll, and no further sleep
    assert fake.sleeps == [2.0, 3.0, 4.5, 0.5]
    assert route.call_count == 5


def test_wait_with_zero_timeout_polls_once() -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        route = router.get(TASK_URL).respond(json=task_body())
        with pytest.raises(WaitTimeoutError):
            client.wait(TASK_ID, timeout=0)
    assert route.call_count == 1
    assert fake.sleeps == []


def test_wait_on_a_finished_task_makes_no_request() -> None:
    fake = FakeTime()
    done = Task.from_json(completed_body())
    with respx.mock(assert_all_called=False) as router, make_client(fake) as client:
        route = router.get(TASK_URL).respond(json=task_body())
        assert client.wait(done) is done
    assert not route.called


def test_wait_accepts_a_pending_task_object() -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        router.get(TASK_URL).mock(side_effect=responses(completed_body()))
        task = client.wait(Task.from_json(task_body()))
    assert task.status is TaskStatus.COMPLETED


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout": -1}, {"poll_interval": 0}, {"poll_interval": 5, "max_poll_interval": 1}],
    ids=["negative-timeout", "zero-interval", "ceiling-below-interval"],
)
def test_wait_refuses_nonsense_settings(kwargs: dict[str, Any]) -> None:
    with make_client(FakeTime()) as client, pytest.raises(ValueError, match="poll_interval"):
        client.wait(TASK_ID, **kwargs)


@pytest.mark.anyio
async def test_async_wait_progress_failure_and_timeout() -> None:
    fake = FakeTime()
    seen: list[int] = []
    async with make_async_client(fake) as client:
        with respx.mock() as router:
            route = router.get(TASK_URL).mock(side_effect=RISING)
            task = await client.wait(TASK_ID, on_progress=lambda t: seen.append(t.progress))
            assert task.status is TaskStatus.COMPLETED
            assert seen == [0, 30, 70, 100]
            route.mock(side_effect=responses(failed_body("generation_timeout")))
            with pytest.raises(TaskFailedError) as failed:
                await client.wait(TASK_ID)
            assert failed.value.code == "generation_timeout"
            route.mock(side_effect=None, return_value=httpx.Response(200, json=task_body()))
            with pytest.raises(WaitTimeoutError) as timed_out:
                await client.wait(TASK_ID, timeout=1.0)
            assert timed_out.value.last_status is TaskStatus.PENDING


# -- download ----------------------------------------------------------------------------------


def test_download_streams_the_result_to_the_path_without_the_key(tmp_path: Path) -> None:
    target = tmp_path / "cat.mp4"
    with respx.mock() as router, make_client(FakeTime()) as client:
        route = router.get(VIDEO_URL).respond(content=MP4_BYTES)
        assert client.download(Task.from_json(completed_body()), target) == target
    assert target.read_bytes() == MP4_BYTES
    assert sorted(tmp_path.iterdir()) == [target]
    assert "authorization" not in route.calls.last.request.headers


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_downloaded_video_has_the_mode_the_umask_gives(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "cat.mp4"
    old = os.umask(umask)
    try:
        with respx.mock() as router, make_client(FakeTime()) as client:
            router.get(VIDEO_URL).respond(content=MP4_BYTES)
            client.download(Task.from_json(completed_body()), target)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_download_by_task_id_fetches_the_task_first(tmp_path: Path) -> None:
    target = tmp_path / "cat.mp4"
    with respx.mock() as router, make_client(FakeTime()) as client:
        router.get(TASK_URL).respond(json=completed_body())
        router.get(VIDEO_URL).respond(content=MP4_BYTES)
        client.download(TASK_ID, str(target))
    assert target.read_bytes() == MP4_BYTES


def test_download_broken_midway_leaves_no_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "cat.mp4"
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        route = router.get(VIDEO_URL).mock(
            side_effect=lambda request: httpx.Response(200, stream=BrokenStream())
        )
        with pytest.raises(APIConnectionError) as info:
            client.download(Task.from_json(completed_body()), target)
    assert isinstance(info.value.__cause__, httpx.ReadError)
    assert route.call_count == 4  # retried as a read, each attempt from scratch
    assert list(tmp_path.iterdir()) == []


def test_download_failure_keeps_an_existing_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "cat.mp4"
    target.write_bytes(b"previous video")
    with respx.mock() as router, make_client(FakeTime(), retry=NO_RETRY) as client:
        router.get(VIDEO_URL).mock(side_effect=lambda r: httpx.Response(200, stream=BrokenStream()))
        with pytest.raises(APIConnectionError):
            client.download(Task.from_json(completed_body()), target)
    assert target.read_bytes() == b"previous video"
    assert sorted(tmp_path.iterdir()) == [target]


def test_download_shorter_than_content_length_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "cat.mp4"
    with respx.mock() as router, make_client(FakeTime(), retry=NO_RETRY) as client:
        router.get(VIDEO_URL).respond(content=MP4_BYTES[:10], headers={"content-length": "4000"})
        with pytest.raises(APIConnectionError, match="truncated"):
            client.download(Task.from_json(completed_body()), target)
    assert list(tmp_path.iterdir()) == []


def test_download_of_an_expired_link_is_typed_and_writes_nothing(tmp_path: Path) -> None:
    body = {"error": {"code": "not_found", "message": "link expired", "type": "x"}}
    with respx.mock() as router, make_client(FakeTime()) as client:
        route = router.get(VIDEO_URL).respond(404, json=body)
        with pytest.raises(TaskNotFoundError):
            client.download(Task.from_json(completed_body()), tmp_path / "v.mp4")
    assert route.call_count == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (failed_body(), TaskFailedError),
        (task_body(status="processing", progress=50), TaskNotReadyError),
    ],
    ids=["failed", "processing"],
)
def test_download_of_an_unfinished_task_requests_nothing(
    tmp_path: Path, body: dict[str, object], expected: type[Exception]
) -> None:
    with respx.mock(assert_all_called=False) as router, make_client(FakeTime()) as client:
        route = router.get(VIDEO_URL).respond(content=MP4_BYTES)
        with pytest.raises(expected):
            client.download(Task.from_json(body), tmp_path / "v.mp4")
    assert not route.called
    assert list(tmp_path.iterdir()) == []


def test_download_of_a_completed_task_without_results_is_unexpected(tmp_path: Path) -> None:
    body = task_body(status="completed", progress=100)
    with make_client(FakeTime()) as client, pytest.raises(UnexpectedResponseError) as info:
        client.download(Task.from_json(body), tmp_path / "v.mp4")
    assert TASK_ID in info.value.raw
    assert list(tmp_path.iterdir()) == []


def test_download_into_a_missing_directory_is_an_os_error(tmp_path: Path) -> None:
    with make_client(FakeTime()) as client, pytest.raises(FileNotFoundError):
        client.download(Task.from_json(completed_body()), tmp_path / "nope" / "v.mp4")


@pytest.mark.anyio
async def test_async_download_broken_midway_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "cat.mp4"
    async with make_async_client(FakeTime(), retry=NO_RETRY) as client:
        with respx.mock() as router:
            router.get(VIDEO_URL).mock(
                side_effect=lambda r: httpx.Response(200, stream=BrokenStream())
            )
            with pytest.raises(APIConnectionError):
                await client.download(Task.from_json(completed_body()), target)
            assert list(tmp_path.iterdir()) == []
            router.get(VIDEO_URL).respond(content=MP4_BYTES)
            await client.download(Task.from_json(completed_body()), target)
    assert target.read_bytes() == MP4_BYTES
    assert sorted(tmp_path.iterdir()) == [target]
