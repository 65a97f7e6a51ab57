"""Retries: which failures, how many times, how long apart (observed through the fake sleep)."""

from __future__ import annotations

import email.utils
import logging
import time
from pathlib import Path

import httpx
import pytest
import respx

from evolink_client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    Task,
)
from evolink_client._retry import parse_retry_after

from ..client_fixtures import (
    API_KEY,
    CREATE_URL,
    TASK_ID,
    TASK_URL,
    VIDEO_URL,
    FakeTime,
    completed_body,
    make_async_client,
    make_client,
    task_body,
)


def error(status: int, **headers: str) -> httpx.Response:
    body = {"error": {"code": "x", "message": f"status {status}", "type": "api_error"}}
    return httpx.Response(status, json=body, headers=headers)


OK = httpx.Response(200, json=task_body())


# -- reads -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_read_retries_retryable_status_with_exponential_jittered_backoff(status: int) -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        route = router.get(TASK_URL).mock(side_effect=[error(status), error(status), OK])
        assert client.get_task(TASK_ID).id == TASK_ID
    assert route.call_count == 3
    # random() = 0.5 of the ceilings 0.5 s and 1 s
    assert fake.sleeps == [0.25, 0.5]


def test_read_gives_up_after_max_attempts_with_the_last_error() -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        route = router.get(TASK_URL).mock(return_value=error(503))
        with pytest.raises(ServerError) as info:
            client.get_task(TASK_ID)
    assert route.call_count == 4
    assert fake.sleeps == [0.25, 0.5, 1.0]
    assert info.value.status == 503


def test_backoff_ceiling_is_capped_by_max_delay() -> None:
    fake = FakeTime()
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=2.0)
    with respx.mock() as router, make_client(fake, retry=policy, random=lambda: 1.0) as c:
        router.get(TASK_URL).mock(return_value=error(500))
        with pytest.raises(ServerError):
            c.get_task(TASK_ID)
    assert fake.sleeps == [1.0, 2.0, 2.0, 2.0]


def test_full_jitter_draws_from_zero() -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake, random=lambda: 0.0) as client:
        router.get(TASK_URL).mock(return_value=error(502))
        with pytest.raises(ServerError):
            client.get_task(TASK_ID)
    assert fake.sleeps == [0.0, 0.0, 0.0]


def test_total_time_budget_stops_retries_early() -> None:
    fake = FakeTime()
    policy = RetryPolicy(max_attempts=10, base_delay=0.5, max_delay=8.0, max_elapsed=1.0)
    with respx.mock() as router, make_client(fake, retry=policy) as client:
        route = router.get(TASK_URL).mock(return_value=error(503))
        with pytest.raises(ServerError):
            client.get_task(TASK_ID)
    # 0.25 + 0.5 = 0.75 s; the next 1.0 s wait would end past the 1 s budget
    assert fake.sleeps == [0.25, 0.5]
    assert route.call_count == 3


def test_retry_after_seconds_is_honoured() -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        route = router.get(TASK_URL).mock(side_effect=[error(429, **{"Retry-After": "7"}), OK])
        client.get_task(TASK_ID)
    assert route.call_count == 2
    assert fake.sleeps == [7.0]


def test_retry_after_http_date_is_honoured() -> None:
    fake = FakeTime()
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    with respx.mock() as router, make_client(fake) as client:
        router.get(TASK_URL).mock(side_effect=[error(503, **{"Retry-After": when}), OK])
        client.get_task(TASK_ID)
    [slept] = fake.sleeps
    assert 28.0 <= slept <= 30.0  # the date has whole seconds


def test_retry_after_beyond_the_budget_gives_up_at_once() -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        route = router.get(TASK_URL).mock(return_value=error(429, **{"Retry-After": "3600"}))
        with pytest.raises(RateLimitError) as info:
            client.get_task(TASK_ID)
    assert route.call_count == 1
    assert fake.sleeps == []
    assert info.value.retry_after == 3600.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 0.5 ", 0.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:28:10 -0000", 10.0),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("", None),
        (None, None),
    ],
    ids=[
        "int",
        "float",
        "negative",
        "date",
        "past-date",
        "minus-zero",
        "junk",
        "nan",
        "inf",
        "empty",
        "absent",
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(value, now) == expected


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404])
def test_read_never_retries_client_errors(status: int) -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        route = router.get(TASK_URL).mock(return_value=error(status))
        with pytest.raises(APIStatusError):
            client.get_task(TASK_ID)
    assert route.call_count == 1
    assert fake.sleeps == []


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.ReadTimeout("slow"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("closed"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_read_retries_transport_errors(exc: Exception) -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        route = router.get(TASK_URL).mock(side_effect=[exc, OK])
        client.get_task(TASK_ID)
    assert route.call_count == 2
    assert fake.sleeps == [0.25]


def test_read_timeout_exhausted_raises_api_timeout_error_from_httpx() -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        router.get(TASK_URL).mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(APITimeoutError) as info:
            client.get_task(TASK_ID)
    assert isinstance(info.value, APIConnectionError)
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


def test_download_is_retried_like_a_read(tmp_path: Path) -> None:
    target = tmp_path / "v.mp4"
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        route = router.get(VIDEO_URL).mock(
            side_effect=[error(503), httpx.ConnectError("x"), httpx.Response(200, content=b"mp4")]
        )
        client.download(Task.from_json(completed_body()), target)
    assert route.call_count == 3
    assert fake.sleeps == [0.25, 0.5]
    assert target.read_bytes() == b"mp4"


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"base_delay": -1}, {"max_delay": -1}, {"max_elapsed": -1}],
    ids=["no-attempts", "negative-base", "negative-max", "negative-budget"],
)
def test_retry_policy_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# -- create without an idempotency key: not idempotent ----------------------------------------
# (with a key, the default: tests/client/test_client_idempotency.py)


@pytest.mark.parametrize(
    "first",
    [error(429), httpx.ConnectError("refused"), httpx.ConnectTimeout("slow")],
    ids=["429", "ConnectError", "ConnectTimeout"],
)
@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "unkeyed"])
def test_create_is_retried_when_no_task_can_have_been_made(
    first: httpx.Response | Exception, keyed: bool
) -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake, idempotency_keys=keyed) as client:
        route = router.post(CREATE_URL).mock(side_effect=[first, OK])
        assert client.create_video("A cat").id == TASK_ID
    assert route.call_count == 2
    assert fake.sleeps == [0.25]


@pytest.mark.parametrize(
    "failure",
    [
        error(500),
        error(502),
        error(503),
        error(504),
        httpx.ReadTimeout("slow"),
        httpx.WriteTimeout("slow"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("closed"),
    ],
    ids=["500", "502", "503", "504", "ReadTimeout", "WriteTimeout", "ReadError", "Remote"],
)
def test_unkeyed_create_is_not_retried_when_a_task_may_exist(
    failure: httpx.Response | Exception,
) -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake, idempotency_keys=False) as client:
        route = router.post(CREATE_URL).mock(side_effect=[failure, OK])
        with pytest.raises((ServerError, APIConnectionError)):
            client.create_video("A cat")
    assert route.call_count == 1
    assert fake.sleeps == []


def test_unkeyed_create_429_retries_are_bounded() -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake, idempotency_keys=False) as client:
        route = router.post(CREATE_URL).mock(return_value=error(429))
        with pytest.raises(RateLimitError):
            client.create_video("A cat")
    assert route.call_count == 4


def test_retries_are_logged_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeTime()
    caplog.set_level(logging.DEBUG, logger="evolink.client")
    with respx.mock() as router, make_client(fake) as client:
        router.get(TASK_URL).mock(side_effect=[error(503), OK])
        client.get_task(TASK_ID)
    assert "retrying GET" in caplog.text
    assert API_KEY not in caplog.text


# -- async: the same decisions -----------------------------------------------------------------


@pytest.mark.anyio
async def test_async_read_retries_with_the_same_backoff() -> None:
    fake = FakeTime()
    async with make_async_client(fake) as client:
        with respx.mock() as router:
            route = router.get(TASK_URL).mock(side_effect=[error(503), error(429), OK])
            await client.get_task(TASK_ID)
    assert route.call_count == 3
    assert fake.sleeps == [0.25, 0.5]


@pytest.mark.anyio
async def test_async_download_is_retried_like_a_read(tmp_path: Path) -> None:
    target = tmp_path / "v.mp4"
    fake = FakeTime()
    async with make_async_client(fake) as client:
        with respx.mock() as router:
            route = router.get(VIDEO_URL).mock(
                side_effect=[error(502), httpx.Response(200, content=b"mp4")]
            )
            await client.download(Task.from_json(completed_body()), target)
    assert route.call_count == 2
    assert fake.sleeps == [0.25]
    assert target.read_bytes() == b"mp4"


@pytest.mark.anyio
async def test_async_unkeyed_create_not_retried_after_500_but_after_connect_error() -> None:
    fake = FakeTime()
    async with make_async_client(fake, idempotency_keys=False) as client:
        with respx.mock() as router:
            route = router.post(CREATE_URL).mock(side_effect=[error(500), OK])
            with pytest.raises(ServerError):
                await client.create_video("A cat")
            assert route.call_count == 1
            route.mock(side_effect=[httpx.ConnectError("refused"), OK])
            await client.create_video("A cat")
            assert route.call_count == 3
