"""A simulator is built without I/O and opened by its owner (the app's lifespan, the CLI);
`open_store` alone decides what an ImportError means."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from mockserver import Settings, Simulator
from mockserver.storage import open_store
from mockserver.storage.base import StoreUnavailable
from mockserver.storage.redis import RedisStore
from mockserver.storage.sqlite import Database, SqliteStore


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("building a simulator did I/O")


@pytest.mark.parametrize(
    "settings",
    [
        Settings(clock="virtual"),
        Settings(clock="real"),
        Settings(clock="virtual", db_path="state.db"),
        Settings(clock="virtual", store_url="redis://127.0.0.1:9/0"),
    ],
    ids=["memory", "memory-real-clock", "sqlite", "redis"],
)
def test_building_a_simulator_touches_no_file_and_no_socket(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for store in (SqliteStore, RedisStore):
        monkeypatch.setattr(store, "open", _refuse)
    monkeypatch.setattr(Database, "__init__", _refuse)
    monkeypatch.setattr(socket.socket, "connect", _refuse)

    sim = Simulator(settings)

    assert not sim.opened
    assert list(tmp_path.iterdir()) == []


@pytest.mark.anyio
async def test_opening_a_simulator_opens_its_store_once(tmp_path: Path) -> None:
    sim = Simulator(Settings(clock="virtual", start_time=1e9, db_path=str(tmp_path / "s.db")))
    try:
        await sim.open()
        await sim.open()
        assert isinstance(sim.store, SqliteStore)
        assert sim.store.db.stored_clock() is not None  # the clock written down on opening
    finally:
        sim.close()


def test_a_missing_redis_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.startswith("mockserver.storage.redis")]:
        monkeypatch.delitem(sys.modules, name)  # imported again, by open_store
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)  # as if not installed

    with pytest.raises(StoreUnavailable, match=r"needs the redis extra .*\[redis\]"):
        open_store(Settings(store_url="redis://127.0.0.1:9/0"))


def test_an_import_error_of_another_module_is_reported_as_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "mockserver.storage.redis", None)  # a broken module

    with pytest.raises(ImportError) as raised:
        Simulator(Settings(store_url="redis://127.0.0.1:9/0"))

    assert not isinstance(raised.value, StoreUnavailable)  # not taken for a missing extra
    assert raised.value.name == "mockserver.storage.redis"
