"""`--isolate-keys`: each API key a world of its own (clock, faults, journal, callbacks,
accounts, reset); admin calls take `?api_key=` for one world, and act on all without it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mockserver import Settings, create_app
from mockserver.cli.main import build_parser, settings_from
from mockserver.domain.timing import FAST

from ..bodies import create_body
from ..conftest import START

pytestmark = pytest.mark.anyio

A, B = "sk-world-a", "sk-world-b"
CREATE = create_body(prompt="a cat", duration=4)  # ends at +45 s


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(timings=FAST, clock="virtual", start_time=START, isolate_keys=True))
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as client:
        yield client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def create(api: httpx.AsyncClient, key: str, **headers: str) -> httpx.Response:
    return await api.post("/v1/videos/generations", json=CREATE, headers={**auth(key), **headers})


async def status(api: httpx.AsyncClient, key: str, task_id: str) -> Any:
    response = await api.get(f"/v1/tasks/{task_id}", headers=auth(key))
    return response.json()["status"] if response.status_code == 200 else response.status_code


async def test_advancing_one_keys_clock_completes_its_task_only(api: httpx.AsyncClient) -> None:
    task_a = (await create(api, A)).json()["id"]
    task_b = (await create(api, B)).json()["id"]

    moved = await api.post("/_mock/clock/advance", params={"api_key": A}, json={"seconds": 1000})

    assert moved.json()["now"] == START + 1000
    assert await status(api, A, task_a) == "completed"
    assert await status(api, B, task_b) == "pending"
    assert (await api.get("/_mock/clock", params={"api_key": B})).json()["now"] == START
    # without ?api_key= every clock moves
    await api.post("/_mock/clock/advance", json={"seconds": 50})
    assert await status(api, B, task_b) == "completed"


async def test_a_fault_for_one_key_never_hits_another(api: httpx.AsyncClient) -> None:
    for params, body in [
        ({"api_key": A}, {"scenario": "internal_error"}),
        ({}, {"scenario": "insufficient_quota", "match": {"api_key": A, "operation": "create"}}),
    ]:
        assert (await api.post("/_mock/faults", params=params, json=body)).status_code == 201

    answers = [(await create(api, key)).status_code for key in (B, B, A, B)]

    assert answers == [200, 200, 402, 200]  # the more specific of A's faults first
    assert [
        f["scenario"] for f in (await api.get("/_mock/faults", params={"api_key": B})).json()
    ] == []
    assert len((await api.get("/_mock/faults", params={"api_key": A})).json()) == 2


async def test_resetting_one_key_leaves_the_others(api: httpx.AsyncClient) -> None:
    task_a = (await create(api, A)).json()["id"]
    task_b = (await create(api, B)).json()["id"]

    await api.post("/_mock/reset", params={"api_key": A})

    assert await status(api, A, task_a) == 404
    assert await status(api, B, task_b) == "pending"
    assert [t["id"] for t in (await api.get("/_mock/tasks")).json()] == [task_b]
    await api.post("/_mock/reset")  # all of them
    assert (await api.get("/_mock/tasks")).json() == []


async def test_journals_and_accounts_are_per_key_and_merged_without_a_key(
    api: httpx.AsyncClient,
) -> None:
    await create(api, A)
    await create(api, B, **{"X-Mock-Scenario": "internal_error"})
    await api.get("/v1/tasks/task-unified-1-x", headers=auth("not-a-vendor-key"))

    journal_a = (await api.get("/_mock/requests", params={"api_key": A})).json()
    every = (await api.get("/_mock/requests")).json()

    assert [(e["api_key"], e["status"]) for e in journal_a] == [("sk-wor...", 200)]
    assert sorted(e["status"] for e in every) == [200, 401, 500]
    accounts = (await api.get("/_mock/accounts", params={"api_key": A})).json()
    assert [a["api_key"] for a in accounts] == ["sk-wor..."]
    health = (await api.get("/_mock/health")).json()
    assert (health["worlds"], health["tasks"]) == (2, 1)


async def test_a_task_is_found_in_its_world_for_cancel_and_video(api: httpx.AsyncClient) -> None:
    task_a = (await create(api, A)).json()["id"]
    task_b = (await create(api, B)).json()["id"]

    cancelled = await api.post(f"/_mock/tasks/{task_b}/cancel")
    assert cancelled.json()["status"] == "failed"
    await api.post("/_mock/clock/advance", params={"api_key": A}, json={"seconds": 45})
    done = (await api.get(f"/v1/tasks/{task_a}", headers=auth(A))).json()
    video = await api.get(done["results"][0])
    assert video.headers["content-type"] == "video/mp4"


async def test_metrics_per_key_and_summed(api: httpx.AsyncClient) -> None:
    await create(api, A)
    await create(api, B)
    await create(api, B)

    def total(text: str) -> float:
        lines = [ln for ln in text.splitlines() if ln.startswith("evolink_mock_requests_total")]
        return sum(float(ln.rsplit(" ", 1)[1]) for ln in lines)

    assert total((await api.get("/_mock/metrics", params={"api_key": B})).text) == 2
    assert total((await api.get("/_mock/metrics")).text) == 3


async def test_a_refused_key_is_a_400_for_admin_and_a_401_for_the_api(
    api: httpx.AsyncClient,
) -> None:
    refused = await api.get("/_mock/requests", params={"api_key": "nope"})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "api_key"
    assert (await create(api, "nope")).status_code == 401


def test_the_flag_and_its_limits() -> None:
    parse = build_parser().parse_args
    assert settings_from(parse(["serve", "--isolate-keys"])).isolate_keys
    with pytest.raises(SystemExit, match="not --db"):
        settings_from(parse(["serve", "--isolate-keys", "--db", "x.db"]))
    with pytest.raises(ValueError, match="not with db_path"):
        Settings(isolate_keys=True, db_path="x.db")


async def test_past_the_limit_the_least_recently_used_world_is_forgotten() -> None:
    from mockserver import Simulator
    from mockserver.service.worlds import Worlds

    worlds = Worlds(Simulator(Settings(clock="virtual", isolate_keys=True)), max_worlds=2)
    first, second = worlds.world("sk-1"), worlds.world("sk-2")
    assert worlds.world("sk-1") is first  # used again: now the most recent
    worlds.world("sk-3")

    assert worlds.world("sk-1") is first
    assert worlds.world("sk-2") is not second  # forgotten, then made anew
    await worlds.aclose()
