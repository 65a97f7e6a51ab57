"""Admin-injected faults: "the next N requests matching this answer with that scenario"."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..spec import BATCH_TASKS, CREATE, CREDITS, LIST_MODELS, LIST_TASKS, QUERY

#: Short names people type, to the spec's operation ids (the operations a key calls).
OPERATIONS = {
    "create": CREATE,
    "query": QUERY,
    "credits": CREDITS,
    "list": LIST_TASKS,
    "batch": BATCH_TASKS,
    "models": LIST_MODELS,
    CREATE: CREATE,
    QUERY: QUERY,
    CREDITS: CREDITS,
    LIST_TASKS: LIST_TASKS,
    BATCH_TASKS: BATCH_TASKS,
    LIST_MODELS: LIST_MODELS,
}


@dataclass(slots=True)
class Fault:
    id: int
    scenario: str
    operation: str | None
    api_key: str | None
    #: How many more requests it applies to; None is every one until deleted.
    remaining: int | None

    @property
    def specificity(self) -> int:
        return (self.operation is not None) + (self.api_key is not None)

    def matches(self, operation: str, api_key: str | None) -> bool:
        return (self.operation in (None, operation)) and (self.api_key in (None, api_key))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scenario": self.scenario,
            "match": {"operation": self.operation, "api_key": self.api_key},
            "remaining": self.remaining,
        }


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(
        self, scenario: str, operation: str | None, api_key: str | None, times: int | None
    ) -> Fault:
        fault = Fault(next(self._ids), scenario, operation, api_key, times)
        self._faults.append(fault)
        return fault

    def take(self, operation: str, api_key: str | None) -> Fault | None:
        """The most specific live fault matching the request (oldest first), used up by one."""
        candidates = [f for f in self._faults if f.matches(operation, api_key)]
        if not candidates:
            return None
        fault = max(candidates, key=lambda f: (f.specificity, -f.id))
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
        return fault

    def __iter__(self) -> Iterator[Fault]:
        return iter(list(self._faults))

    def __len__(self) -> int:
        return len(self._faults)

    def remove(self, fault_id: int) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) < before

    def clear(self) -> None:
        self._faults.clear()
