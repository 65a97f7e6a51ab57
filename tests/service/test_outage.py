"""A store that cannot be reached, as the layers above it see it: the store's `StoreUnavailable`
reaches them as the domain's `StoreOutage` (its base class), the HTTP layer answers the
documented 500 envelope without a journal entry, health answers 503, and the lease rounds go on.
Without Redis: the memory store's operations are made to fail (the Redis outage tests in
test_redis.py run the same path end to end)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from mockserver import MemoryStore, Settings, Simulator
from mockserver.domain.errors import StoreOutage
from mockserver.domain.timing import FAST
from mockserver.service.worlds import Worlds
from mockserver.storage.base import StoreUnavailable

from ..bodies import create_body
from ..callback_fixtures import api_for
from ..conftest import KEY, START

pytestmark = pytest.mark.anyio
BODY = create_body(prompt="a cat")
DOWN = "redis://10.0.0.1:6379: connection refused"


@contextlib.contextmanager
def down(store: MemoryStore) -> Iterator[None]:
    """Every async operation of `store` raises `StoreUnavailable` until the block ends."""

    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable(DOWN)

    names = [
        name
        for name in dir(store)
        if not name.startswith("_") and inspect.iscoroutinefunction(getattr(store, name))
    ]
    for name in names:
        setattr(store, name, refused)
    try:
        yield
    finally:
        for name in names:
            delattr(store, name)


def simulator() -> tuple[Simulator, MemoryStore]:
    store = MemoryStore()
    settings = Settings(timings=FAST, clock="virtual", start_time=START)
    return Simulator(settings, store=store), store


async def test_the_api_answers_an_outage_500_in_the_envelope_and_journals_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim, store = simulator()
    async with api_for(sim) as api:
        made = (await api.post("/v1/videos/generations", json=BODY)).json()
        with down(store), caplog.at_level(logging.WARNING, logger="mockserver"):
            created = await api.post("/v1/videos/generations", json=BODY)
            queried = await api.get(f"/v1/tasks/{made['id']}")
            health = await api.get("/_mock/health")
        journal = (await api.get("/_mock/requests")).json()
        again = await api.get(f"/v1/tasks/{made['id']}")

    for answer in (created, queried):
        assert answer.status_code == 500
        assert answer.json()["error"]["code"] == "internal_error"
        assert set(answer.json()["error"]) == {"code", "message", "type"}
        assert answer.headers["x-request-id"]
    assert health.status_code == 503
    assert health.json() == {"status": "unavailable", "store": DOWN}
    # one warning line a failed call, no traceback
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "store unavailable on POST /v1/videos/generations",
        f"store unavailable on GET /v1/tasks/{made['id']}",
    ]
    assert all(r.exc_info is None for r in caplog.records)
    assert [e["status"] for e in journal] == [200]  # the outage's answers are not journaled
    assert again.status_code == 200  # the next operation tries the store again


async def test_the_files_and_gateway_routes_answer_an_outage_in_their_envelopes() -> None:
    sim, store = simulator()
    async with api_for(sim) as api:
        assert (await api.get("/v1/tasks")).status_code == 200  # opened while the store is up
        with down(store):
            listed_files = await api.get("/api/v1/files/list")
            listed_tasks = await api.get("/v1/tasks")
        after = await api.get("/v1/tasks")

    assert listed_files.status_code == 500
    files = listed_files.json()  # the files API's own envelope
    assert (files["success"], files["code"]) == (False, 500)
    assert files["msg"]
    assert listed_tasks.status_code == 500
    assert listed_tasks.json()["error"]["code"] == "internal_error"
    assert after.status_code == 200


async def test_the_service_passes_the_stores_outage_up_as_a_store_outage() -> None:
    sim, store = simulator()
    task = await sim.submit(BODY, api_key=KEY)
    worlds = Worlds(sim)
    try:
        with down(store):
            with pytest.raises(StoreOutage, match=DOWN) as by_simulator:
                await sim.journal()
            with pytest.raises(StoreOutage, match=DOWN) as by_worlds:
                await worlds.cancel(None, task.id)  # Worlds reads the store itself first
            with pytest.raises(StoreOutage, match=DOWN) as through_both:
                await worlds.health()  # Worlds.health calls Simulator.health
    finally:
        await sim.aclose()

    for raised in (by_simulator, by_worlds, through_both):
        assert type(raised.value) is StoreUnavailable  # the store's own, unwrapped


async def test_the_lease_rounds_go_on_through_an_outage_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim, store = simulator()
    worlds = Worlds(sim)
    try:
        with down(store), caplog.at_level(logging.ERROR, logger="mockserver.worlds"):
            rounds = asyncio.create_task(worlds.keep_leases())
            await asyncio.sleep(0.05)  # the first round: the lease's renewal fails
            assert not rounds.done()
            rounds.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rounds
    finally:
        await sim.aclose()

    assert caplog.records == []
