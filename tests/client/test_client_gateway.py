"""The client's reads of many: `list_tasks` (every page), `get_tasks` (batches of 50) and
`models`, sync and async, against respx and against the simulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from evolink_client import (
    AsyncClient,
    Model,
    TaskStatus,
    TaskSummary,
    UnexpectedResponseError,
    ValidationError,
)
from mockserver import Settings, create_app
from mockserver.domain.timing import FAST

from ..client_fixtures import BASE, FakeTime, completed_body, make_async_client, make_client

LIST_URL = f"{BASE}/v1/tasks"
BATCH_URL = f"{BASE}/v1/tasks/batch"
MODELS_URL = f"{BASE}/v1/models"


def item(n: int, status: str = "completed") -> dict[str, Any]:
    return {
        "id": f"task-unified-1800000000-{n:08d}",
        "model": "sora-2-pro-preview",
        "type": "video",
        "status": status,
        "progress": 100 if status == "completed" else 0,
        "created_at": 1_800_000_000 + n,
        "has_results": status == "completed",
        "result_count": 1 if status == "completed" else 0,
        "has_error": False,
    }


def pages(total: int, page_size: int) -> list[httpx.Response]:
    """A server's pages of `total` tasks, newest first."""
    ids = list(range(total, 0, -1))
    chunks = [ids[at : at + page_size] for at in range(0, max(total, 1), page_size)]
    return [
        httpx.Response(
            200,
            json={
                "data": [item(n) for n in chunk],
                "total": total,
                "page": number,
                "page_size": page_size,
            },
        )
        for number, chunk in enumerate(chunks, start=1)
    ]


# -- against respx ----------------------------------------------------------------------------


def test_list_tasks_reads_every_page_and_stops_after_the_last() -> None:
    with respx.mock() as router, make_client(FakeTime()) as client:
        route = router.get(LIST_URL).mock(side_effect=pages(5, 2))
        tasks = client.list_tasks(page_size=2, status="completed")

    assert [t.id for t in tasks] == [item(n)["id"] for n in (5, 4, 3, 2, 1)]
    assert route.call_count == 3
    asked = [dict(call.request.url.params) for call in route.calls]
    assert asked == [{"status": "completed", "page_size": "2", "page": str(p)} for p in (1, 2, 3)]
    assert tasks[0] == TaskSummary(
        id=item(5)["id"],
        model="sora-2-pro-preview",
        status=TaskStatus.COMPLETED,
        progress=100,
        created_at=1_800_000_005,
        type="video",
        has_results=True,
        result_count=1,
    )


def test_list_tasks_stops_at_the_limit_without_asking_for_more() -> None:
    with respx.mock() as router, make_client(FakeTime()) as client:
        route = router.get(LIST_URL).mock(side_effect=pages(5, 2))
        tasks = client.list_tasks(page_size=2, limit=3)

    assert len(tasks) == 3
    assert route.call_count == 2


def test_list_tasks_stops_on_an_empty_page_whatever_the_total_says() -> None:
    endless = {"data": [], "total": 10_000, "page": 1, "page_size": 100}
    with respx.mock() as router, make_client(FakeTime()) as client:
        route = router.get(LIST_URL).mock(return_value=httpx.Response(200, json=endless))
        tasks = client.list_tasks()

    assert (tasks, route.call_count) == ([], 1)


def test_a_task_pushed_to_the_next_page_is_listed_once() -> None:
    first = {"data": [item(3), item(2)], "total": 4, "page": 1, "page_size": 2}
    second = {"data": [item(2), item(1)], "total": 4, "page": 2, "page_size": 2}
    with respx.mock() as router, make_client(FakeTime()) as client:
        router.get(LIST_URL).mock(
            side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)]
        )
        tasks = client.list_tasks(page_size=2)

    assert [t.id for t in tasks] == [item(n)["id"] for n in (3, 2, 1)]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"status": "running"}, "status"),
        ({"type": "film"}, "type"),
        ({"model": ""}, "model"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"page_size": True}, "page_size"),
        ({"limit": 0}, "limit"),
    ],
)
def test_a_listing_the_api_would_refuse_is_not_sent(kwargs: dict[str, Any], param: str) -> None:
    with respx.mock(assert_all_called=False) as router, make_client(FakeTime()) as client:
        route = router.get(LIST_URL)
        with pytest.raises(ValidationError) as raised:
            client.list_tasks(**kwargs)

    assert raised.value.param == param
    assert route.call_count == 0


def test_an_item_that_is_not_a_task_summary_is_an_unexpected_response() -> None:
    broken = {"data": [{"id": "task-unified-1-x"}], "total": 1, "page": 1, "page_size": 100}
    with respx.mock() as router, make_client(FakeTime()) as client:
        router.get(LIST_URL).mock(return_value=httpx.Response(200, json=broken))
        with pytest.raises(
            UnexpectedResponseError, match=r"task list\.data\.0: missing required field 'status'"
        ):
            client.list_tasks()


def test_get_tasks_sends_each_id_once_fifty_a_call_in_order() -> None:
    ids = [f"task-unified-1800000000-{n:08d}" for n in range(120)]

    def answer(request: httpx.Request) -> httpx.Response:
        asked = json.loads(request.content)["task_ids"]
        found = [completed_body(id=task_id) for task_id in asked if not task_id.endswith("7")]
        return httpx.Response(200, json={"data": found})

    with respx.mock() as router, make_client(FakeTime()) as client:
        route = router.post(BATCH_URL).mock(side_effect=answer)
        tasks = client.get_tasks([*ids, ids[0]])

    sent = [json.loads(call.request.content)["task_ids"] for call in route.calls]
    assert [len(batch) for batch in sent] == [50, 50, 20]
    assert [task.id for task in tasks] == [i for i in ids if not i.endswith("7")]
    assert tasks[0].result_url == completed_body()["results"][0]


@pytest.mark.parametrize(
    "task_ids", [["not-a-task"], "task-unified-1800000000-aaaaaaaa", [7]], ids=["id", "str", "int"]
)
def test_a_batch_the_api_would_refuse_is_not_sent(task_ids: Any) -> None:
    with respx.mock(assert_all_called=False) as router, make_client(FakeTime()) as client:
        route = router.post(BATCH_URL)
        with pytest.raises(ValidationError) as raised:
            client.get_tasks(task_ids)

    assert raised.value.param == "task_ids"
    assert route.call_count == 0


def test_no_ids_ask_nothing() -> None:
    with respx.mock(assert_all_called=False) as router, make_client(FakeTime()) as client:
        route = router.post(BATCH_URL)
        assert client.get_tasks([]) == []

    assert route.call_count == 0


def test_a_batch_read_is_retried_as_a_read() -> None:
    fake = FakeTime()
    busy = httpx.Response(503, json={"error": {"code": "service_unavailable", "message": "x"}})
    found = httpx.Response(200, json={"data": [completed_body()]})
    with respx.mock() as router, make_client(fake) as client:
        route = router.post(BATCH_URL).mock(side_effect=[busy, found])
        tasks = client.get_tasks([completed_body()["id"]])

    assert route.call_count == 2
    assert len(tasks) == 1


def test_models_are_read_with_their_fields() -> None:
    body = {"object": "list", "data": [{"id": "sora-2-pro-preview", "object": "model", "x": 1}]}
    with respx.mock() as router, make_client(FakeTime()) as client:
        router.get(MODELS_URL).mock(return_value=httpx.Response(200, json=body))
        (model,) = client.models()

    assert (model.id, model.object, model.owned_by) == ("sora-2-pro-preview", "model", None)
    assert dict(model.extra) == {"x": 1}
    assert isinstance(model, Model)


@pytest.mark.anyio
async def test_the_async_client_reads_the_same() -> None:
    fake = FakeTime()
    with respx.mock() as router:
        router.get(LIST_URL).mock(side_effect=pages(3, 2))
        router.post(BATCH_URL).mock(return_value=httpx.Response(200, json={"data": []}))
        router.get(MODELS_URL).mock(return_value=httpx.Response(200, json={"data": []}))
        async with make_async_client(fake) as client:
            tasks = await client.list_tasks(page_size=2)
            batch = await client.get_tasks([item(1)["id"]])
            models = await client.models()

    assert [t.id for t in tasks] == [item(n)["id"] for n in (3, 2, 1)]
    assert (batch, models) == ([], [])


# -- against the simulator --------------------------------------------------------------------

KEY = "sk-client-gateway"


@pytest.fixture
async def simulated() -> AsyncIterator[tuple[AsyncClient, httpx.AsyncClient]]:
    transport = httpx.ASGITransport(create_app(Settings(timings=FAST, clock="virtual")))
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://sim.test") as admin,
        AsyncClient(KEY, base_url="http://sim.test", transport=transport) as client,
    ):
        yield client, admin


@pytest.mark.anyio
async def test_against_the_simulator_every_page_every_batch_and_the_models(
    simulated: tuple[AsyncClient, httpx.AsyncClient],
) -> None:
    client, admin = simulated
    made = [await client.create_video(f"a cat, take {n}", duration=4) for n in range(5)]
    await admin.post("/_mock/clock/advance", json={"seconds": 3600})

    listed = await client.list_tasks(page_size=2)
    read = await client.get_tasks([t.id for t in made])
    models = await client.models()

    assert [t.id for t in listed] == [t.id for t in reversed(made)]
    assert all(t.status is TaskStatus.COMPLETED and t.credits_used == 69.12 for t in listed)
    assert [t.id for t in read] == [t.id for t in made]
    assert all(t.result_url for t in read)
    assert [m.id for m in models] == ["sora-2-pro-preview", "sora-2-preview"]
    assert await client.list_tasks(status="failed") == []
