"""Where a simulator's state lives: the `Store` interface and its implementations."""

from __future__ import annotations

from ..settings import Settings
from .base import Store
from .memory import MemoryStore


def open_store(settings: Settings, *, prefix: str = "evolink-mock") -> Store:
    """The store the settings ask for: Redis with `store_url` (its keys under `prefix`),
    SQLite with `db_path`, else memory."""
    if settings.store_url is not None:
        from .redis import RedisStore  # not imported unless asked for

        return RedisStore(settings.store_url, prefix=prefix)
    if settings.db_path is not None:
        from .sqlite import SqliteStore  # not imported unless asked for

        return SqliteStore(settings.db_path)
    return MemoryStore()


__all__ = ["MemoryStore", "Store", "open_store"]
