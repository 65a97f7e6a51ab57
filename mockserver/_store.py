"""Where tasks live. In memory here; `mockserver._sqlite.SqliteStore` is the durable one
(`--db PATH`), a `MemoryStore` that also writes every change to SQLite: reads stay dict lookups.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ._tasks import Task


class Store(Protocol):
    def add(self, task: Task) -> None: ...
    def get(self, task_id: str) -> Task | None: ...
    def update(self, task: Task) -> None:
        """`task.plan` was replaced (a cancel): a durable store writes it down."""
        ...

    def __contains__(self, task_id: object) -> bool: ...
    def __iter__(self) -> Iterator[Task]: ...
    def __len__(self) -> int: ...
    def clear(self) -> None: ...


class MemoryStore:
    """A dict of tasks by id: O(1) reads, nothing else to it."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}

    def add(self, task: Task) -> None:
        self._tasks[task.id] = task

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def update(self, task: Task) -> None:
        """Nothing to do: the task object in the dict is the one that changed."""

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._tasks

    def __iter__(self) -> Iterator[Task]:
        return iter(list(self._tasks.values()))

    def __len__(self) -> int:
        return len(self._tasks)

    def clear(self) -> None:
        self._tasks.clear()
