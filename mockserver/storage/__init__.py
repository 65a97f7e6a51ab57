"""Where a simulator's state lives: the `Store` interface and its implementations."""

from __future__ import annotations

from ..settings import Settings
from .base import Store
from .memory import MemoryStore


def open_store(settings: Settings) -> Store:
    """The store the settings ask for: SQLite with `db_path`, else memory."""
    if settings.db_path is not None:
        from .sqlite import SqliteStore  # not imported unless asked for

        return SqliteStore(settings.db_path)
    return MemoryStore()


__all__ = ["MemoryStore", "Store", "open_store"]
