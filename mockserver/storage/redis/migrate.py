"""Bringing what an older release wrote under a prefix up to this release's format, on open."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from ..base import StoreUnavailable
from ..records import FORMAT, dumps, legacy_entry, legacy_task, loads

#: Seconds a process opening a prefix of an older format waits for another to migrate it.
MIGRATION_WAIT = 30.0


async def migrate(client: Any, key: Callable[..., str], *, url: str, token: str) -> None:
    """Rewrite what an older release wrote under the prefix (`key` names a key under it) to
    this format: once, by the first process to open it; any other waits for it."""
    deadline = time.monotonic() + MIGRATION_WAIT
    while (found := await client.get(key("format"))) != str(FORMAT):
        if found == "2":  # format 3 reads format 2's records as they are (records.READS)
            await client.set(key("format"), str(FORMAT))
            continue
        if found not in (None, "1"):
            raise StoreUnavailable(
                f"{url}: {key()!r} holds records of format {found}; this release reads "
                f"format {FORMAT}"
            )
        lock = key("migrating")
        if await client.set(lock, token, nx=True, px=int(MIGRATION_WAIT * 1000)):
            try:
                await _from_1(client, key)
                await client.set(key("format"), str(FORMAT))
            finally:
                await client.delete(lock)
        elif time.monotonic() > deadline:
            raise StoreUnavailable(f"{url}: {key()!r} is being migrated")
        else:
            await asyncio.sleep(0.05)


async def _from_1(client: Any, key: Callable[..., str]) -> None:
    """Release 497264d's layout (format 1, or nothing yet): tasks and journal entries were
    JSON lists, the other records JSON objects without `v`."""
    for task_id in await client.lrange(key("order"), 0, -1):
        kept = await client.get(key("task", task_id))
        if kept is not None and isinstance(row := loads(kept), list):
            await client.set(key("task", task_id), dumps(legacy_task(row)))
    journal = key("journal")
    for index, kept in enumerate(await client.lrange(journal, 0, -1)):
        if isinstance(row := loads(kept), list):
            await client.lset(journal, index, dumps(legacy_entry(row)))
    for webhook_id in await client.lrange(key("deliveries"), 0, -1):
        name = key("delivery", webhook_id)
        kept = await client.get(name)
        if kept is not None and "v" not in (record := loads(kept)):
            await client.set(name, dumps(record))
    for fault_id, kept in (await client.hgetall(key("faults"))).items():
        if "v" not in (record := loads(kept)):
            await client.hset(key("faults"), fault_id, dumps(record))
    if await client.exists(key("clock")):
        await client.hsetnx(key("clock"), "v", str(FORMAT))
