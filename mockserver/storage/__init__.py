"""Where a simulator's state lives: the `Store` interface and its implementations."""

from __future__ import annotations

from ..settings import Settings
from .base import Store, StoreUnavailable
from .memory import MemoryStore


def open_store(settings: Settings, *, prefix: str = "evolink-mock") -> Store:
    """The store the settings ask for, not yet open: Redis with `store_url` (its keys under
    `prefix`), SQLite with `db_path`, else memory. StoreUnavailable if Redis is asked for and
    the `redis` extra is not installed."""
    if settings.store_url is not None:
        try:
            from .redis import RedisStore  # not imported unless asked for
        except ImportError as exc:
            if exc.name is None or exc.name.partition(".")[0] not in ("redis", "hiredis"):
                raise  # a bug, not a missing extra
            raise StoreUnavailable(
                f"{settings.store_url}: needs the redis extra ({exc}): "
                "pip install 'evolink-sora-mock[redis]'"
            ) from None
        return RedisStore(settings.store_url, prefix=prefix)
    if settings.db_path is not None:
        from .sqlite import SqliteStore  # not imported unless asked for

        return SqliteStore(settings.db_path)
    return MemoryStore()


__all__ = ["MemoryStore", "Store", "open_store"]
