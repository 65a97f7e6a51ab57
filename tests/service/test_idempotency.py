"""`Idempotency-Key` on a create: one task per key and request, on every store."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mockserver import Settings, Simulator, create_app
from mockserver.domain.idempotency import KEEP_FOR
from mockserver.domain.timing import FAST
from mockserver.testing import serve_in_thread

from ..bodies import create_body
from ..conftest import KEY, START

pytestmark = pytest.mark.anyio

CREATE = "/v1/videos/generations"
BODY = create_body(prompt="a cat", duration=4)  # 720p 4 s: 69.12 credits


async def create(
    api: httpx.AsyncClient, key: str | None, body: Any = BODY, **headers: str
) -> httpx.Response:
    if key is not None:
        headers["Idempotency-Key"] = key
    return await api.post(CREATE, json=body, headers=headers)


async def tasks(api: httpx.AsyncClient) -> list[str]:
    return [task["id"] for task in (await api.get("/_mock/tasks")).json()]


async def reserved(api: httpx.AsyncClient) -> list[float]:
    return [account["reserved"] for account in (await api.get("/_mock/accounts")).json()]


async def test_two_creates_with_one_key_make_one_task_and_reserve_once(
    api: httpx.AsyncClient,
) -> None:
    first = await create(api, "key-1")
    second = await create(api, "key-1")

    assert first.status_code == second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert "idempotency-replayed" not in first.headers
    assert second.headers["idempotency-replayed"] == "true"
    assert second.json() == first.json()  # the first answer again
    assert await tasks(api) == [first.json()["id"]]
    assert await reserved(api) == [69.12]


async def test_the_same_key_with_another_request_is_a_422_naming_the_task(
    api: httpx.AsyncClient,
) -> None:
    first = (await create(api, "key-1")).json()

    other = await create(api, "key-1", create_body(prompt="a dog", duration=4))

    assert other.status_code == 422
    error = other.json()["error"]
    assert error["code"] == "idempotency_conflict"
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "Idempotency-Key"
    assert first["id"] in error["message"]
    assert await tasks(api) == [first["id"]]
    assert await reserved(api) == [69.12]


async def test_key_order_and_whitespace_make_the_same_request(api: httpx.AsyncClient) -> None:
    first = (await create(api, "key-1")).json()
    reordered = '{ "duration" : 4,\n "prompt":"a cat",   "model": "sora-2-pro-preview"}'

    again = await api.post(
        CREATE,
        content=reordered,
        headers={"Idempotency-Key": "key-1", "Content-Type": "application/json"},
    )

    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.headers["idempotency-replayed"] == "true"


async def test_a_default_spelled_out_is_another_request(api: httpx.AsyncClient) -> None:
    """The body is compared as sent (Stripe's way): `aspect_ratio` left out is not the same
    request as `aspect_ratio` given, even when the given one is the default."""
    await create(api, "key-1")

    spelled = await create(api, "key-1", {**BODY, "aspect_ratio": "16:9"})

    assert spelled.status_code == 422


async def test_a_key_belongs_to_its_api_key(api: httpx.AsyncClient) -> None:
    mine = (await create(api, "shared")).json()

    theirs = await create(api, "shared", Authorization="Bearer sk-test-other")

    assert theirs.status_code == 200
    assert "idempotency-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine["id"]
    assert len(await tasks(api)) == 2


async def test_creates_without_a_key_each_make_a_task(api: httpx.AsyncClient) -> None:
    ids = {(await create(api, None)).json()["id"] for _ in range(3)}

    assert len(ids) == 3


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "is empty"),
        ("k" * 256, "is 256 characters long; at most 255 are allowed"),
        ("tab\there", "must be printable ASCII characters"),
        ("caf\u00e9", "must be printable ASCII characters"),
    ],
    ids=["empty", "256-characters", "control-character", "not-ascii"],
)
async def test_a_malformed_key_is_a_400_naming_the_header(
    api: httpx.AsyncClient, key: str, problem: str
) -> None:
    headers = [
        (b"Authorization", f"Bearer {KEY}".encode()),
        (b"Idempotency-Key", key.encode("latin-1")),
    ]

    answer = await api.post(CREATE, json=BODY, headers=headers)

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["param"] == "Idempotency-Key"
    assert error["message"] == f"Invalid request parameters: Idempotency-Key {problem}"
    assert await tasks(api) == []


async def test_a_key_of_255_printable_characters_is_a_key(api: httpx.AsyncClient) -> None:
    key = "".join(chr(32 + i % 95) for i in range(255))

    first, second = await create(api, key), await create(api, key)

    assert first.status_code == 200
    assert second.json()["id"] == first.json()["id"]


@pytest.mark.parametrize(
    "refusal",
    [
        {"X-Mock-Scenario": "http:503"},
        {"X-Mock-Scenario": "rate_limit_exceeded"},
        {"X-Mock-Scenario": "insufficient_quota"},
        {"X-Mock-Scenario": "internal_error"},
        {"Authorization": "Bearer "},
    ],
    ids=["503", "429", "402", "500", "401"],
)
async def test_a_refused_create_leaves_the_key_free(
    api: httpx.AsyncClient, refusal: dict[str, str]
) -> None:
    refused = await create(api, "key-1", **refusal)
    assert refused.status_code >= 400

    retried = await create(api, "key-1")

    assert retried.status_code == 200
    assert "idempotency-replayed" not in retried.headers
    assert await tasks(api) == [retried.json()["id"]]


async def test_a_503_fault_then_the_retry_with_the_key_make_one_task(
    api: httpx.AsyncClient,
) -> None:
    fault = {"scenario": "http:503", "match": {"operation": "create"}, "times": 1}
    assert (await api.post("/_mock/faults", json=fault)).status_code == 201

    answers = [await create(api, "retry-1") for _ in range(3)]

    assert [a.status_code for a in answers] == [503, 200, 200]
    assert answers[2].json()["id"] == answers[1].json()["id"]
    assert await tasks(api) == [answers[1].json()["id"]]
    assert await reserved(api) == [69.12]


async def test_a_key_bound_to_a_task_that_failed_replays_that_task(
    api: httpx.AsyncClient,
) -> None:
    first = await create(api, "key-1", **{"X-Mock-Scenario": "fail:service_error"})
    await api.post("/_mock/clock/advance", json={"seconds": 600})
    failed = (await api.get(f"/v1/tasks/{first.json()['id']}")).json()
    assert failed["status"] == "failed"

    again = await create(api, "key-1")

    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotency-replayed"] == "true"


async def test_a_key_is_kept_24_simulated_hours(api: httpx.AsyncClient) -> None:
    first = (await create(api, "key-1")).json()
    await api.post("/_mock/clock/advance", json={"seconds": KEEP_FOR - 1})
    kept = await create(api, "key-1")
    await api.post("/_mock/clock/advance", json={"seconds": 1})

    later = await create(api, "key-1")

    assert kept.json()["id"] == first["id"]
    assert later.status_code == 200
    assert "idempotency-replayed" not in later.headers
    assert later.json()["id"] != first["id"]


async def test_reset_forgets_keys(api: httpx.AsyncClient) -> None:
    first = (await create(api, "key-1")).json()
    assert (await api.post("/_mock/reset")).status_code == 200

    again = await create(api, "key-1")

    assert "idempotency-replayed" not in again.headers
    assert again.json()["id"] != first["id"]
    assert await tasks(api) == [again.json()["id"]]


async def test_replays_are_counted(api: httpx.AsyncClient) -> None:
    await create(api, "key-1")
    await create(api, "key-1")
    await create(api, "key-1")
    await create(api, "key-2")

    metrics = (await api.get("/_mock/metrics")).text

    assert "evolink_mock_idempotent_replays_total 2.0" in metrics.splitlines()


def test_drop_after_create_binds_the_key_and_the_retry_gets_its_task() -> None:
    """The lost answer's task is the one the retry answers (over a socket: the connection is cut
    before any byte of the answer)."""
    sim = Simulator(Settings(timings=FAST, clock="virtual", start_time=START))
    with serve_in_thread(create_app(simulator=sim)) as base_url:
        fault = {"scenario": "drop-after-create", "match": {"operation": "create"}, "times": 1}
        assert httpx.post(f"{base_url}/_mock/faults", json=fault).status_code == 201
        headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": "lost-1"}
        with pytest.raises(httpx.TransportError):
            httpx.post(f"{base_url}{CREATE}", json=BODY, headers=headers, timeout=5)

        retried = httpx.post(f"{base_url}{CREATE}", json=BODY, headers=headers, timeout=5)
        made = httpx.get(f"{base_url}/_mock/tasks").json()
        accounts = httpx.get(f"{base_url}/_mock/accounts").json()
        journal = httpx.get(f"{base_url}/_mock/requests").json()

    assert retried.status_code == 200
    assert retried.headers["idempotency-replayed"] == "true"
    assert [task["id"] for task in made] == [retried.json()["id"]]
    assert [account["reserved"] for account in accounts] == [69.12]
    creates = [entry for entry in journal if entry["path"] == CREATE]
    assert [(entry["status"], entry["scenario"]) for entry in creates] == [
        (200, "drop-after-create"),
        (200, None),
    ]


async def test_the_journal_shows_a_creates_headers_and_whether_it_replayed(
    api: httpx.AsyncClient,
) -> None:
    sent = {"Idempotency-Key": "key-1", "X-Evo-Client": "evolink-mcp", "X-Api-Key": KEY}
    await create(api, None, **sent)
    await create(api, None, **sent)

    journal = (await api.get("/_mock/requests")).json()

    first, second = journal
    assert first["headers"]["idempotency-key"] == "key-1"
    assert first["headers"]["x-evo-client"] == "evolink-mcp"
    assert first["headers"]["authorization"] == "[redacted]"
    assert first["headers"]["x-api-key"] == "[redacted]"
    assert KEY not in str(journal)  # the API key is nowhere, only its redacted form
    assert (first["replayed"], second["replayed"]) == (False, True)
