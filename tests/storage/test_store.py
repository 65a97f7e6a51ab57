"""The Store interface, held to the same behaviour by every store (tests/conftest.py STORES)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mockserver import Store
from mockserver.domain.clock import VirtualClock
from mockserver.domain.deliveries import Attempt, Delivery, Outcome
from mockserver.domain.idempotency import Claim
from mockserver.domain.journal import Entry
from mockserver.domain.tasks import Failure, Plan, Task, VideoRequest
from mockserver.storage.base import (
    NOTHING_RESTORED,
    Added,
    AddResult,
    Exists,
    NewTask,
    Refusal,
    Refused,
)
from mockserver.storage.sqlite import SqliteStore
from mockserver.storage.sqlite_schema import SCHEMA_VERSION

from ..conftest import START, STORES

pytestmark = pytest.mark.anyio

REQUEST = VideoRequest("sora-2-pro-preview", "a cat", "16:9", 4, "720p")


@pytest.fixture(params=sorted(STORES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    made = STORES[request.param](tmp_path)
    assert await made.open(lambda key: None) == NOTHING_RESTORED  # a new store holds nothing
    yield made
    made.close()


def task(
    n: int, owner: str = "sk-a", *, ends: float = 45.0, failure: Failure | None = None
) -> Task:
    plan = Plan(START, START + 5, START + ends, failure)
    return Task(f"task-unified-1-{n:08d}", owner, REQUEST, plan, 7.0, "http://mock")


async def add(store: Store, item: Task, **limits: float | None) -> AddResult:
    balance = limits.get("balance")
    cap = limits.get("max_concurrent")
    return await store.add_task(NewTask(item, balance, None if cap is None else int(cap), START))


async def test_a_task_is_kept_and_read_back(store: Store) -> None:
    assert await add(store, task(1)) == Added(task(1))

    assert await store.get_task(task(1).id) == task(1)
    assert await store.get_task("task-unified-1-nothere0") is None
    assert [t.id for t in await store.tasks()] == [task(1).id]
    assert await store.count_tasks() == 1


async def test_a_keys_tasks_are_its_own_in_creation_order(store: Store) -> None:
    for n, owner in enumerate(["sk-a", "sk-b", "sk-a", "sk-a"], start=1):
        await add(store, task(n, owner))
    await add(store, task(9, "sk-b", ends=90.0), max_concurrent=1)  # refused: not kept

    assert [t.id for t in await store.tasks_of("sk-a")] == [task(n).id for n in (1, 3, 4)]
    assert await store.tasks_of("sk-b") == [task(2, "sk-b")]
    assert await store.tasks_of("sk-nobody") == []


async def test_clear_forgets_each_keys_tasks(store: Store) -> None:
    await add(store, task(1))
    await store.clear()
    await add(store, task(2))

    assert await store.tasks_of("sk-a") == [task(2)]


async def test_a_taken_id_answers_the_task_that_exists_and_keeps_it(store: Store) -> None:
    await add(store, task(1), balance=100)
    other = task(1, owner="sk-b", ends=90.0)

    assert await add(store, other, balance=100) == Exists(task(1))
    assert (await store.get_task(other.id)) == task(1)
    assert [t.id for t in await store.tasks()] == [task(1).id]
    ((key, view),) = await store.accounts(START)  # nothing opened, nothing reserved twice
    assert (key, view.reserved, view.running) == ("sk-a", 7.0, 1)


def claimed(key: str, fingerprint: str = "fp-1", expires: float = START + 60) -> Claim:
    return Claim(key, fingerprint, expires)


async def keyed(
    store: Store, item: Task, claim: Claim, *, at: float = START, cap: int | None = None
) -> AddResult:
    return await store.add_task(NewTask(item, None, cap, at, claim))


async def test_a_bound_key_answers_its_task_and_keeps_nothing_new(store: Store) -> None:
    assert await keyed(store, task(1), claimed("k1")) == Added(task(1))

    again = await keyed(store, task(2), claimed("k1", "fp-2"))

    assert again == Exists(task(1), claimed("k1"))  # the claim that bound it: its fingerprint
    assert await store.get_task(task(2).id) is None
    ((_, view),) = await store.accounts(START)
    assert (view.reserved, view.running) == (7.0, 1)


async def test_a_bound_key_is_answered_before_the_owners_limits(store: Store) -> None:
    await keyed(store, task(1), claimed("k1"), cap=1)

    assert await keyed(store, task(2), claimed("k1"), cap=1) == Exists(task(1), claimed("k1"))
    assert await keyed(store, task(3), claimed("k2"), cap=1) == Refused(Refusal.CONCURRENCY)


async def test_a_key_binds_per_owner_only_when_kept_and_until_it_expires(store: Store) -> None:
    await keyed(store, task(1), claimed("k1"), cap=1)
    assert await keyed(store, task(2), claimed("k2"), cap=1) == Refused(Refusal.CONCURRENCY)

    assert await keyed(store, task(3, owner="sk-b"), claimed("k1")) == Added(task(3, owner="sk-b"))
    assert await keyed(store, task(4), claimed("k2")) == Added(task(4))  # k2 was left free
    expired = await keyed(store, task(5), claimed("k1", expires=START + 90), at=START + 60)
    assert expired == Added(task(5))
    assert await keyed(store, task(6), claimed("k1"), at=START + 61) == Exists(
        task(5), claimed("k1", expires=START + 90)
    )


async def test_clear_forgets_bound_keys(store: Store) -> None:
    await keyed(store, task(1), claimed("k1"))

    await store.clear()

    assert await keyed(store, task(2), claimed("k1")) == Added(task(2))


async def test_the_concurrency_cap_refuses_and_keeps_nothing(store: Store) -> None:
    assert await add(store, task(1), max_concurrent=2) == Added(task(1))
    assert await add(store, task(2), max_concurrent=2) == Added(task(2))

    assert await add(store, task(3), max_concurrent=2) == Refused(Refusal.CONCURRENCY)
    assert await store.count_tasks() == 2
    (_, view), *_ = await store.accounts(START)
    assert (view.running, view.reserved) == (2, 14.0)


async def test_credits_refuse_what_does_not_fit(store: Store) -> None:
    assert await add(store, task(1), balance=10) == Added(task(1))

    assert await add(store, task(2), balance=10) == Refused(Refusal.CREDITS)
    (_, view), *_ = await store.accounts(START)
    assert (view.credits, view.reserved, view.remaining) == (10, 7.0, 3.0)


async def test_an_ended_task_is_charged_if_completed_and_released_if_failed(store: Store) -> None:
    await add(store, task(1), balance=100)
    await add(store, task(2, failure=Failure("service_error", "no", 30)), balance=100)

    (_, before), *_ = await store.accounts(START)
    (_, after), *_ = await store.accounts(START + 45)

    assert (before.used, before.reserved, before.running) == (0.0, 14.0, 2)
    assert (after.used, after.reserved, after.running, after.remaining) == (7.0, 0.0, 0, 93.0)


async def test_a_replanned_task_settles_at_its_new_end(store: Store) -> None:
    long = task(1, ends=125.0)
    await add(store, long, balance=100)
    long.plan = long.plan.failed_from(START + 20, Failure("request_cancelled", "cancelled"))

    await store.save_plan(long)

    assert (await store.get_task(long.id)) == long
    (_, view), *_ = await store.accounts(START + 20)
    assert (view.used, view.reserved, view.running) == (0.0, 0.0, 0)


async def test_a_bucket_gives_its_size_then_says_when_the_next_token_comes(store: Store) -> None:
    waits = [await store.take_token("sk-a", 0.5, 2, START) for _ in range(3)]

    assert waits == [0.0, 0.0, pytest.approx(2.0)]
    assert await store.take_token("sk-a", 0.5, 2, START + 1.0) == pytest.approx(1.0)
    assert await store.take_token("sk-a", 0.5, 2, START + 2.0) == 0.0
    assert await store.take_token("sk-b", 0.5, 2, START) == 0.0  # another key, another bucket


async def test_the_most_specific_fault_is_used_up_first(store: Store) -> None:
    broad = await store.add_fault("internal_error", None, None, None)
    narrow = await store.add_fault("rate_limit_exceeded", "getTaskDetail", "sk-a", 1)

    first = await store.take_fault("getTaskDetail", "sk-a")
    second = await store.take_fault("getTaskDetail", "sk-a")
    other = await store.take_fault("createVideoGeneration", "sk-b")

    assert [f.id if f else None for f in (first, second, other)] == [narrow.id, broad.id, broad.id]
    assert [f.id for f in await store.faults()] == [broad.id]
    assert await store.remove_fault(broad.id)
    assert not await store.remove_fault(broad.id)
    assert await store.take_fault("getTaskDetail", "sk-a") is None


async def test_the_journal_keeps_entries_in_order(store: Store) -> None:
    entries = [Entry(START + i, "GET", f"/v1/tasks/{i}", "sk-a...", 200, None) for i in range(3)]
    for entry in entries:
        await store.log_request(entry)

    assert await store.journal() == entries


async def test_a_delivery_is_listed_once_however_often_it_is_saved(store: Store) -> None:
    one, two = task(1), task(2)
    await add(store, one)
    await add(store, two)
    delivery = Delivery(one, "https://example.com/hook", "msg_1", "end")
    delivery.attempts.append(Attempt(1, START + 45))
    await store.save_delivery(delivery)
    delivery.attempts[0].status_code, delivery.outcome = 200, Outcome.DELIVERED
    await store.save_delivery(delivery)
    await store.save_delivery(Delivery(two, "https://example.com/hook", "msg_2", "replay"))

    assert [d.webhook_id for d in await store.deliveries()] == ["msg_1", "msg_2"]
    (only,) = await store.deliveries(one.id)
    assert (only.outcome, only.attempts[0].status_code) == (Outcome.DELIVERED, 200)


async def test_clear_forgets_everything(store: Store) -> None:
    await add(store, task(1), balance=100)
    await store.add_fault("internal_error", None, None, None)
    await store.log_request(Entry(START, "GET", "/v1/tasks/x", None, 404, None))
    await store.take_token("sk-a", 1.0, 1, START)
    await store.save_delivery(Delivery(task(1), "https://example.com/", "msg_1", "end"))
    await store.save_clock(VirtualClock(START + 3))

    await store.clear()

    assert await store.count_tasks() == 0
    assert await store.get_task(task(1).id) is None
    assert await store.accounts(START) == []
    assert await store.faults() == []
    assert await store.journal() == []
    assert await store.deliveries() == []
    assert await store.take_token("sk-a", 1.0, 1, START) == 0.0  # a full bucket again


async def test_a_curved_plan_a_callback_scenario_and_a_request_id_are_kept(store: Store) -> None:
    plan = Plan(START, START + 5, START + 200, None, curve=((START + 50, 30.0), (START + 70, 30.0)))
    item = Task("task-unified-1-curved00", "sk-a", REQUEST, plan, 69.12, "http://mock", "duplicate")
    entry = Entry(START, "POST", "/v1/videos/generations", "sk-a...", 200, None, "req_0123")
    await add(store, item)
    await store.log_request(entry)

    assert await store.get_task(item.id) == item
    assert await store.journal() == [entry]


def test_sqlite_keeps_them_across_a_restart_and_migrates_a_layout_1_file(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    old = SqliteStore(path)
    asyncio.run(old.open(lambda key: None))
    old.close()
    with sqlite3.connect(path) as conn:  # the first release's layout: without the new columns
        for table, column in [
            ("tasks", "curve"),
            ("tasks", "callback_scenario"),
            ("journal", "request_id"),
            ("journal", "headers"),
            ("journal", "replayed"),
            ("tasks", "billing_rule"),
            ("tasks", "object"),
            ("tasks", "output_type"),
        ]:
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("ALTER TABLE tasks RENAME COLUMN price TO credits")
        conn.execute("DROP TABLE claims")
        conn.execute("DROP TABLE files")
        conn.execute("PRAGMA user_version = 1")
    conn.close()

    plan = Plan(START, START + 5, START + 200, None, curve=((START + 50, 30.0), (START + 70, 30.0)))
    item = Task("task-unified-1-curved00", "sk-a", REQUEST, plan, 69.12, "http://mock", "delay:30")
    migrated = SqliteStore(path)
    asyncio.run(migrated.open(lambda key: None))
    asyncio.run(migrated.add_task(NewTask(item, None, None, START)))
    migrated.close()
    reopened = SqliteStore(path)
    restored = asyncio.run(reopened.open(lambda key: None))
    reopened.close()

    assert [task for task, _ in restored.tasks] == [item]
    assert asyncio.run(reopened.tasks_of("sk-a")) == [item]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    conn.close()


def test_sqlite_keeps_a_bound_key_across_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    first = SqliteStore(path)
    asyncio.run(first.open(lambda key: None))
    asyncio.run(first.add_task(NewTask(task(1), None, None, START, Claim("k1", "fp", START + 60))))
    first.close()

    reopened = SqliteStore(path)
    asyncio.run(reopened.open(lambda key: None))
    again = asyncio.run(
        reopened.add_task(NewTask(task(2), None, None, START, Claim("k1", "fp", START + 60)))
    )
    reopened.close()

    assert again == Exists(task(1), Claim("k1", "fp", START + 60))
