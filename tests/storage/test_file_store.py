"""Uploaded files in the store, held to the same behaviour by every store (tests/conftest.py
STORES): kept with their bytes, counted against a quota in one step, gone when they expire."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mockserver import Store
from mockserver.domain.files import FILE_TTL, StoredFile
from mockserver.storage.base import NOTHING_RESTORED, FileKept, NewFile
from mockserver.storage.sqlite import SqliteStore

from ..conftest import START, STORES

pytestmark = pytest.mark.anyio

#: every byte value, so that no store may treat the bytes as text
CONTENT = bytes(range(256)) * 3


@pytest.fixture(params=sorted(STORES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    made = STORES[request.param](tmp_path)
    assert await made.open(lambda key: None) == NOTHING_RESTORED
    yield made
    made.close()


def stored(n: int, owner: str = "sk-a", *, at: float = START) -> StoredFile:
    return StoredFile(
        f"file_{n:08d}",
        owner,
        f"ref-{n}.png",
        f"ref-{n}.png",
        "image/png",
        len(CONTENT),
        "images",
        at,
        "http://mock",
        1280,
        720,
    )


async def add(
    store: Store, file: StoredFile, *, cap: int | None = None, now: float = START
) -> FileKept:
    return await store.add_file(NewFile(file, CONTENT + file.id.encode(), cap, now))


async def test_a_file_is_kept_with_its_bytes_and_read_back(store: Store) -> None:
    assert await add(store, stored(1)) is FileKept.ADDED

    assert await store.get_file(stored(1).id) == stored(1)
    assert await store.file_content(stored(1).id) == CONTENT + stored(1).id.encode()
    assert await store.get_file("file_00000009") is None
    assert await store.file_content("file_00000009") is None


async def test_the_files_listed_and_counted_are_the_owners_live_ones_oldest_first(
    store: Store,
) -> None:
    for file in (stored(1), stored(2, at=START + 1), stored(3, "sk-b", at=START + 2)):
        assert await add(store, file, now=file.uploaded) is FileKept.ADDED

    assert [f.id for f in await store.files("sk-a", START + 3)] == [stored(1).id, stored(2).id]
    assert [f.id for f in await store.files(None, START + 3)] == [
        stored(1).id,
        stored(2).id,
        stored(3).id,
    ]
    assert await store.count_files("sk-a", START + 3) == 2
    assert await store.count_files("sk-c", START + 3) == 0


async def test_a_file_is_gone_from_the_list_and_the_count_when_it_expires(store: Store) -> None:
    await add(store, stored(1))
    expires = START + FILE_TTL

    assert await store.count_files("sk-a", expires - 1) == 1
    assert await store.files("sk-a", expires) == []
    assert await store.files(None, expires) == []
    assert await store.count_files("sk-a", expires) == 0


async def test_an_expired_file_is_forgotten_at_the_next_upload_of_anyone(store: Store) -> None:
    await add(store, stored(1))
    later = START + FILE_TTL + 1

    assert await add(store, stored(2, "sk-b", at=later), now=later) is FileKept.ADDED
    assert await store.get_file(stored(1).id) is None
    assert await store.file_content(stored(1).id) is None


async def test_a_full_quota_keeps_nothing_until_a_file_expires_or_is_deleted(store: Store) -> None:
    await add(store, stored(1), cap=2)
    await add(store, stored(2), cap=2)

    assert await add(store, stored(3), cap=2) is FileKept.QUOTA_FULL
    assert await store.get_file(stored(3).id) is None
    assert await add(store, stored(3, "sk-b"), cap=2) is FileKept.ADDED  # another key's quota
    assert await store.delete_file(stored(1).id) is True
    assert await add(store, stored(4), cap=2) is FileKept.ADDED
    later = START + FILE_TTL
    assert await add(store, stored(5, at=later), cap=1, now=later) is FileKept.ADDED


async def test_a_taken_id_keeps_nothing_and_changes_nothing(store: Store) -> None:
    await add(store, stored(1))
    other = dataclasses.replace(stored(1), owner="sk-b", file_name="other.png")

    assert await add(store, other) is FileKept.ID_TAKEN
    assert await store.get_file(other.id) == stored(1)
    assert await store.count_files("sk-b", START) == 0


async def test_a_deleted_file_is_gone_with_its_bytes(store: Store) -> None:
    await add(store, stored(1))

    assert await store.delete_file(stored(1).id) is True
    assert await store.delete_file(stored(1).id) is False
    assert await store.get_file(stored(1).id) is None
    assert await store.file_content(stored(1).id) is None
    assert await store.count_files("sk-a", START) == 0


async def test_a_reset_forgets_every_file(store: Store) -> None:
    await add(store, stored(1))

    await store.clear()

    assert await store.files(None, START) == []
    assert await store.file_content(stored(1).id) is None


def test_sqlite_keeps_files_and_their_bytes_across_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    first = SqliteStore(path)
    asyncio.run(first.open(lambda key: None))
    asyncio.run(add(first, stored(1)))
    first.close()

    reopened = SqliteStore(path)
    asyncio.run(reopened.open(lambda key: None))
    try:
        assert asyncio.run(reopened.files("sk-a", START)) == [stored(1)]
        assert asyncio.run(reopened.file_content(stored(1).id)) == CONTENT + b"file_00000001"
    finally:
        reopened.close()
