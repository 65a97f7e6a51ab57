"""What release 497264d's stores wrote opens with this code, and reads back the same.

The fixtures (tests/fixtures/release_497264d/, made by its `make.py` at that release): a SQLite
file, every key its Redis store wrote, and what that release read back from each."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
import redis as sync_redis

from mockserver.domain.tasks import Plan, Task, VideoRequest
from mockserver.storage.base import NewTask, StoreUnavailable
from mockserver.storage.records import FORMAT
from mockserver.storage.redis import RedisStore
from mockserver.storage.sqlite import SqliteStore

from ..fixtures.release_497264d.make import read_back
from ..redis_server import redis_url

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "release_497264d"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
NOW: float = EXPECTED["now"]


def load_redis(url: str, prefix: str) -> None:
    """Write the release's keys back exactly, under `prefix` instead of its own."""
    client = sync_redis.Redis.from_url(url, decode_responses=True)
    try:
        for key, kind, value in json.loads((FIXTURES / "redis.json").read_text("utf-8")):
            name = prefix + key[len("legacy") :]
            if kind == "string":
                client.set(name, value)
            elif kind == "list":
                client.rpush(name, *value)
            elif kind == "hash":
                client.hset(name, mapping=value)
            elif kind == "set":
                client.sadd(name, *value)
            elif kind == "zset":
                client.zadd(name, dict(value))
            else:  # pragma: no cover - make.py writes no other kind
                raise AssertionError(kind)
    finally:
        client.close()


async def listed_by_owner(store: SqliteStore | RedisStore) -> dict[str, list[str]]:
    """Each key's task ids as `tasks_of` lists them."""
    owners = {task.owner for task in await store.tasks()}
    return {owner: [task.id for task in await store.tasks_of(owner)] for owner in owners}


def owners_of(rows: list[list[object]]) -> dict[str, list[str]]:
    """Each key's task ids, in the order `read_back` lists every task (creation order); a row
    is `[id, owner, ...]`."""
    found: dict[str, list[str]] = {}
    for task_id, owner, *_ in rows:
        found.setdefault(str(owner), []).append(str(task_id))
    return found


async def test_a_sqlite_file_of_the_release_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    shutil.copy(FIXTURES / "state.db", path)
    store = SqliteStore(str(path))
    try:
        restored = await store.open(lambda key: {"sk-beta": 10_000.0}.get(key))
        found = await read_back(store, restored)
        journal = await store.journal()
        by_owner = await listed_by_owner(store)
    finally:
        store.close()

    assert found == EXPECTED["sqlite"]
    assert {(e.headers, e.replayed) for e in journal} == {((), False)}  # kept none, no replay
    assert len(found["tasks"]) == 5
    assert len(found["deliveries"]) == 2
    assert by_owner == owners_of(found["tasks"])


@pytest.mark.redis
async def test_a_redis_database_of_the_release_reads_back_the_same() -> None:
    url, prefix = redis_url(), f"migrated-{uuid.uuid4().hex}"
    load_redis(url, prefix)
    store = RedisStore(url, prefix=prefix)
    try:
        restored = await store.open(lambda key: None)
        found = await read_back(store, restored)
        journal = await store.journal()
        by_owner = await listed_by_owner(store)  # indexed by owner on open: it had no index
    finally:
        store.close()

    assert found == EXPECTED["redis"]
    assert {(e.headers, e.replayed) for e in journal} == {((), False)}  # kept none, no replay
    assert len(found["tasks"]) == 5
    assert len(found["faults"]) == 2
    assert by_owner == owners_of(found["tasks"])


@pytest.mark.redis
async def test_the_release_s_redis_records_are_rewritten_named_and_versioned() -> None:
    url, prefix = redis_url(), f"migrated-{uuid.uuid4().hex}"
    load_redis(url, prefix)
    store = RedisStore(url, prefix=prefix)
    try:
        await store.open(lambda key: None)
        await store.open(lambda key: None)  # a second process: nothing left to migrate
    finally:
        store.close()

    client = sync_redis.Redis.from_url(url, decode_responses=True)
    try:
        task = json.loads(str(client.get(f"{prefix}:task:task-unified-1800000000-aaaa0003")))
        entries = [json.loads(e) for e in client.lrange(f"{prefix}:journal", 0, -1)]
        fault = json.loads(str(client.hget(f"{prefix}:faults", "1")))
        assert client.get(f"{prefix}:format") == str(FORMAT)
        assert client.hget(f"{prefix}:clock", "v") == str(FORMAT)
    finally:
        client.close()
    assert (task["v"], task["price"], task["callback_scenario"]) == (
        FORMAT,
        414.72,
        "callback_timeout",
    )
    assert [(e["v"], e["status"]) for e in entries] == [(FORMAT, 200), (FORMAT, 200), (FORMAT, 429)]
    assert (fault["v"], fault["scenario"]) == (FORMAT, "http:503")


@pytest.mark.redis
async def test_a_redis_prefix_of_an_unknown_format_is_refused_untouched() -> None:
    url, prefix = redis_url(), f"newer-{uuid.uuid4().hex}"
    client = sync_redis.Redis.from_url(url, decode_responses=True)
    client.set(f"{prefix}:format", "99")
    client.set(f"{prefix}:task:x", "[1, 2]")
    store = RedisStore(url, prefix=prefix)
    try:
        with pytest.raises(StoreUnavailable, match="format 99; this release reads format 3"):
            await store.open(lambda key: None)
        assert client.get(f"{prefix}:task:x") == "[1, 2]"
    finally:
        store.close()
        client.close()


@pytest.mark.redis
async def test_a_redis_prefix_of_format_2_reads_as_the_one_model_of_that_release() -> None:
    """Format 2 (before a task kept its model's fields) is format 3 without them: its tasks read
    back as the releases before served their one model, billed per second."""
    url, prefix = redis_url(), f"format2-{uuid.uuid4().hex}"
    request = VideoRequest("sora-2-pro-preview", "a cat", "16:9", 4, "720p")
    kept = Task(
        "task-unified-1800000000-format02", "sk-a", request, Plan(0.0, 5.0, 45.0), 69.12, ""
    )
    store = RedisStore(url, prefix=prefix)
    try:
        await store.open(lambda key: None)
        await store.add_task(NewTask(kept, None, None, 0.0))
    finally:
        store.close()
    client = sync_redis.Redis.from_url(url, decode_responses=True)
    try:  # as the release before wrote it: format 2, no model fields
        name = f"{prefix}:task:{kept.id}"
        record = json.loads(str(client.get(name)))
        for field in ("billing_rule", "object", "output_type"):
            del record[field]
        client.set(name, json.dumps({**record, "v": 2}))
        client.set(f"{prefix}:format", "2")
        reopened = RedisStore(url, prefix=prefix)
        try:
            await reopened.open(lambda key: None)
            found = await reopened.get_task(kept.id)
        finally:
            reopened.close()
        assert client.get(f"{prefix}:format") == str(FORMAT)
    finally:
        client.close()

    assert found == kept
    assert found is not None
    assert (found.billing_rule, found.object, found.output_type) == (
        "per_second",
        "video.generation.task",
        "video",
    )
