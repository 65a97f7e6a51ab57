"""Idempotency keys: every create carries one, its retries carry the same, a replay is told apart.

The server is respx: it answers what each test scripts, and the tests read the key each attempt
carried. The simulator does not act on the key; tests/client/test_client_failures_simulator.py
runs keyed creates against it only where a retry is harmless there too (a failure made no task).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import respx

from evolink_client import (
    APIConnectionError,
    APIStatusError,
    IdempotencyConflictError,
    InvalidRequestError,
    RateLimitError,
    ServerError,
    Task,
    ValidationError,
)

from ..client_fixtures import (
    CREATE_URL,
    TASK_ID,
    TASK_URL,
    FakeTime,
    make_async_client,
    make_client,
    task_body,
)

HEADER = "idempotency-key"
NEW_KEY = re.compile(r"[0-9a-f]{32}")
OK = httpx.Response(200, json=task_body())


def error(status: int, code: str = "x", **headers: str) -> httpx.Response:
    body = {"error": {"code": code, "message": f"status {status}", "type": "api_error"}}
    return httpx.Response(status, json=body, headers=headers)


def conflict(status: int, **headers: str) -> httpx.Response:
    return error(status, "idempotency_conflict", **headers)


def replay(value: str = "true") -> httpx.Response:
    return httpx.Response(200, json=task_body(), headers={"Idempotency-Replayed": value})


def keys(route: respx.Route) -> list[str | None]:
    """The key each attempt carried, in order."""
    return [call.request.headers.get(HEADER) for call in route.calls]


#: Every failure after which a keyed create is tried again: a lost answer, or an answer that
#: says "not now". (A connection never made is retried with or without a key.)
RETRIED: list[tuple[str, httpx.Response | Exception]] = [
    ("429", error(429)),
    ("500", error(500)),
    ("502", error(502)),
    ("503", error(503)),
    ("504", error(504)),
    ("409-in-flight", conflict(409)),
    ("ReadTimeout", httpx.ReadTimeout("slow")),
    ("WriteTimeout", httpx.WriteTimeout("slow")),
    ("ReadError", httpx.ReadError("reset")),
    ("RemoteProtocolError", httpx.RemoteProtocolError("closed")),
    ("ConnectError", httpx.ConnectError("refused")),
]


# -- the header ------------------------------------------------------------------------------------


def test_each_create_carries_a_new_key() -> None:
    with respx.mock() as router, make_client(FakeTime()) as client:
        route = router.post(CREATE_URL).mock(return_value=OK)
        client.create_video("A cat")
        client.create_video("A cat")
    first, second = keys(route)
    assert first is not None
    assert second is not None
    assert NEW_KEY.fullmatch(first)
    assert NEW_KEY.fullmatch(second)
    assert first != second  # two creates are two tasks, even with the same body


def test_reads_carry_no_key() -> None:
    with respx.mock() as router, make_client(FakeTime()) as client:
        route = router.get(TASK_URL).mock(return_value=OK)
        client.get_task(TASK_ID)
    assert keys(route) == [None]


def test_the_callers_key_is_sent_as_given() -> None:
    with respx.mock() as router, make_client(FakeTime()) as client:
        route = router.post(CREATE_URL).mock(return_value=OK)
        client.create_video("A cat", idempotency_key="order-42 video:1")
    assert keys(route) == ["order-42 video:1"]


@pytest.mark.parametrize("key", ["x" * 255, "~", "a b", "!#$%&'()*+,-./:;<=>?@[\\]^_`{|}"])
def test_keys_at_the_limits_are_accepted(key: str) -> None:
    with respx.mock() as router, make_client(FakeTime()) as client:
        route = router.post(CREATE_URL).mock(return_value=OK)
        client.create_video("A cat", idempotency_key=key)
    assert keys(route) == [key]


INVALID_KEYS: list[tuple[str, object, str]] = [
    ("empty", "", "non-empty"),
    ("too-long", "x" * 256, "256 characters; at most 255"),
    ("newline", "a\nb", r"'\\n' at position 1"),
    ("tab", "a\tb", r"'\\t' at position 1"),
    ("del", "ab\x7f", r"'\\x7f' at position 2"),
    ("non-ascii", "clé", "'é' at position 2"),
    ("leading-space", " key", "starts or ends with a space"),
    ("trailing-space", "key ", "starts or ends with a space"),
    ("not-a-string", 42, "non-empty string"),
]


@pytest.mark.parametrize(
    ("key", "words"), [(k, w) for _, k, w in INVALID_KEYS], ids=[i for i, _, _ in INVALID_KEYS]
)
def test_an_invalid_key_is_refused_before_any_request(key: Any, words: str) -> None:
    with respx.mock(assert_all_called=False) as router, make_client(FakeTime()) as client:
        route = router.post(CREATE_URL).mock(return_value=OK)
        with pytest.raises(ValidationError, match=words) as info:
            client.create_video("A cat", idempotency_key=key)
    assert not route.called
    assert info.value.param == "idempotency_key"
    assert isinstance(info.value, ValueError)


# -- retries under the key -------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [f for _, f in RETRIED], ids=[i for i, _ in RETRIED])
def test_a_keyed_create_is_retried_with_the_same_key(failure: httpx.Response | Exception) -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        route = router.post(CREATE_URL).mock(side_effect=[failure, OK])
        assert client.create_video("A cat").id == TASK_ID
    first, second = keys(route)
    assert first is not None
    assert NEW_KEY.fullmatch(first)
    assert second == first
    assert fake.sleeps == [0.25]


@pytest.mark.parametrize("failure", [f for _, f in RETRIED], ids=[i for i, _ in RETRIED])
def test_the_callers_key_is_the_key_of_every_retry(failure: httpx.Response | Exception) -> None:
    with respx.mock() as router, make_client(FakeTime()) as client:
        route = router.post(CREATE_URL).mock(side_effect=[failure, failure, OK])
        client.create_video("A cat", idempotency_key="order-42")
    assert keys(route) == ["order-42"] * 3


@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        (error(503), ServerError),
        (error(429), RateLimitError),
        (conflict(409), IdempotencyConflictError),
        (httpx.ReadTimeout("slow"), APIConnectionError),
    ],
    ids=["503", "429", "409", "ReadTimeout"],
)
def test_keyed_retries_stop_where_the_policy_says(
    failure: httpx.Response | Exception, raised: type[Exception]
) -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        route = router.post(CREATE_URL).mock(side_effect=[failure] * 4 + [OK])
        with pytest.raises(raised):
            client.create_video("A cat")
    assert route.call_count == 4
    assert len(set(keys(route))) == 1
    assert fake.sleeps == [0.25, 0.5, 1.0]


def test_a_409_waits_what_retry_after_says() -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        route = router.post(CREATE_URL).mock(
            side_effect=[conflict(409, **{"Retry-After": "3"}), OK]
        )
        client.create_video("A cat")
    assert route.call_count == 2
    assert fake.sleeps == [3.0]


@pytest.mark.parametrize("status", [400, 401, 402, 403])
def test_a_keyed_create_is_not_retried_after_a_refusal(status: int) -> None:
    with respx.mock() as router, make_client(FakeTime()) as client:
        route = router.post(CREATE_URL).mock(side_effect=[error(status), OK])
        with pytest.raises(APIStatusError):
            client.create_video("A cat")
    assert route.call_count == 1


# -- conflicts -------------------------------------------------------------------------------------


def test_a_422_conflict_is_raised_at_once_and_not_retried() -> None:
    fake = FakeTime()
    with respx.mock() as router, make_client(fake) as client:
        route = router.post(CREATE_URL).mock(side_effect=[conflict(422), OK])
        with pytest.raises(IdempotencyConflictError) as info:
            client.create_video("A dog", idempotency_key="order-42")
    assert route.call_count == 1
    assert fake.sleeps == []
    assert (info.value.status, info.value.code, info.value.in_flight) == (
        422,
        "idempotency_conflict",
        False,
    )
    assert "idempotency_conflict" in str(info.value)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (409, "idempotency_conflict", IdempotencyConflictError),
        (422, "idempotency_conflict", IdempotencyConflictError),
        (409, "conflict", APIStatusError),
        (422, "unprocessable", IdempotencyConflictError),
        (400, "idempotency_conflict", InvalidRequestError),
    ],
    ids=["409", "422", "409-other-code", "422-other-code", "400-same-code"],
)
def test_the_conflict_class_is_any_422_and_a_409_that_says_so(
    status: int, code: str, expected: type[APIStatusError]
) -> None:
    with respx.mock() as router, make_client(FakeTime(), idempotency_keys=False) as client:
        router.post(CREATE_URL).respond(status, json={"error": {"code": code, "message": "m"}})
        with pytest.raises(APIStatusError) as info:
            client.create_video("A cat")
    assert type(info.value) is expected


# -- replays ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "replayed"),
    [(replay(), True), (replay(" TRUE "), True), (replay("false"), False), (OK, False)],
    ids=["true", "spelled-otherwise", "false", "absent"],
)
def test_the_task_says_whether_it_was_replayed(response: httpx.Response, replayed: bool) -> None:
    with respx.mock() as router, make_client(FakeTime()) as client:
        router.post(CREATE_URL).mock(return_value=response)
        task = client.create_video("A cat")
    assert task.replayed is replayed


def test_a_lost_answer_retried_returns_the_first_task_replayed() -> None:
    """The whole point: the first attempt made the task and its answer was lost; the retry gets
    that task back, and no second one is made."""
    with respx.mock() as router, make_client(FakeTime()) as client:
        route = router.post(CREATE_URL).mock(side_effect=[httpx.ReadError("reset"), replay()])
        task = client.create_video("A cat")
    assert (task.id, task.replayed) == (TASK_ID, True)
    assert len(set(keys(route))) == 1


def test_replayed_is_no_part_of_the_body_or_of_equality() -> None:
    with respx.mock() as router, make_client(FakeTime()) as client:
        router.post(CREATE_URL).mock(return_value=replay())
        task = client.create_video("A cat")
    assert task.to_json() == task_body()
    assert task == Task.from_json(task_body())


def test_a_query_is_never_replayed() -> None:
    with respx.mock() as router, make_client(FakeTime()) as client:
        router.get(TASK_URL).mock(return_value=replay())
        assert client.get_task(TASK_ID).replayed is False


# -- turned off ------------------------------------------------------------------------------------

#: What a create without a key is retried after: only a request that surely never arrived.
UNKEYED: list[tuple[str, httpx.Response | Exception, int]] = [
    ("429", error(429), 2),
    ("ConnectError", httpx.ConnectError("refused"), 2),
    ("ConnectTimeout", httpx.ConnectTimeout("slow"), 2),
    ("500", error(500), 1),
    ("503", error(503), 1),
    ("ReadTimeout", httpx.ReadTimeout("slow"), 1),
    ("ReadError", httpx.ReadError("reset"), 1),
]


@pytest.mark.parametrize(
    ("failure", "attempts"), [(f, n) for _, f, n in UNKEYED], ids=[i for i, _, _ in UNKEYED]
)
def test_without_keys_no_header_is_sent_and_a_create_is_retried_only_if_unsent(
    failure: httpx.Response | Exception, attempts: int
) -> None:
    with respx.mock() as router, make_client(FakeTime(), idempotency_keys=False) as client:
        route = router.post(CREATE_URL).mock(side_effect=[failure, OK])
        if attempts == 1:
            with pytest.raises((APIStatusError, APIConnectionError)):
                client.create_video("A cat")
        else:
            client.create_video("A cat")
    assert route.call_count == attempts
    assert keys(route) == [None] * attempts


def test_without_keys_a_callers_key_is_refused_before_any_request() -> None:
    with (
        respx.mock(assert_all_called=False) as router,
        make_client(FakeTime(), idempotency_keys=False) as client,
    ):
        route = router.post(CREATE_URL).mock(return_value=OK)
        with pytest.raises(ValidationError, match="idempotency_keys=False"):
            client.create_video("A cat", idempotency_key="order-42")
    assert not route.called


def test_the_setting_is_on_by_default_and_readable() -> None:
    with make_client(FakeTime()) as on, make_client(FakeTime(), idempotency_keys=False) as off:
        assert (on.idempotency_keys, off.idempotency_keys) == (True, False)


# -- async: the same ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("failure", [f for _, f in RETRIED], ids=[i for i, _ in RETRIED])
async def test_async_keyed_create_is_retried_with_the_same_key(
    failure: httpx.Response | Exception,
) -> None:
    fake = FakeTime()
    async with make_async_client(fake) as client:
        with respx.mock() as router:
            route = router.post(CREATE_URL).mock(side_effect=[failure, replay()])
            task = await client.create_video("A cat")
    assert task.replayed is True
    first, second = keys(route)
    assert first is not None
    assert NEW_KEY.fullmatch(first)
    assert second == first
    assert fake.sleeps == [0.25]


@pytest.mark.anyio
async def test_async_callers_key_is_sent_and_an_invalid_one_refused() -> None:
    async with make_async_client(FakeTime()) as client:
        with respx.mock() as router:
            route = router.post(CREATE_URL).mock(side_effect=[error(503), OK])
            await client.create_video("A cat", idempotency_key="order-42")
            with pytest.raises(ValidationError, match="at most 255"):
                await client.create_video("A cat", idempotency_key="x" * 256)
    assert keys(route) == ["order-42", "order-42"]


@pytest.mark.anyio
async def test_async_422_conflict_is_raised_and_not_retried() -> None:
    fake = FakeTime()
    async with make_async_client(fake) as client:
        with respx.mock() as router:
            route = router.post(CREATE_URL).mock(side_effect=[conflict(422), OK])
            with pytest.raises(IdempotencyConflictError):
                await client.create_video("A cat")
    assert route.call_count == 1
    assert fake.sleeps == []


@pytest.mark.anyio
async def test_async_409_conflict_is_retried_after_retry_after() -> None:
    fake = FakeTime()
    async with make_async_client(fake) as client:
        with respx.mock() as router:
            route = router.post(CREATE_URL).mock(
                side_effect=[conflict(409, **{"Retry-After": "1"}), OK]
            )
            await client.create_video("A cat")
    assert route.call_count == 2
    assert fake.sleeps == [1.0]


@pytest.mark.anyio
async def test_async_without_keys_keeps_the_unkeyed_policy() -> None:
    async with make_async_client(FakeTime(), idempotency_keys=False) as client:
        with respx.mock() as router:
            route = router.post(CREATE_URL).mock(side_effect=[httpx.ReadTimeout("slow"), OK])
            with pytest.raises(APIConnectionError):
                await client.create_video("A cat")
            with pytest.raises(ValidationError):
                await client.create_video("A cat", idempotency_key="order-42")
    assert keys(route) == [None]
