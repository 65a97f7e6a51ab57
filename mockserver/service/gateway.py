"""The gateway's reads of more than one thing: a page of a key's tasks, a batch of tasks by id,
and the models a key can use.

The vendor's pages document none of them; its current client calls all three
(EvoLinkAI/evolink-mcp, `packages/core/src/services/api-client.ts`: `listTasks`, `queryTasks`;
the docs' guides check a key with `GET /v1/models`), and their shapes are what it reads. Each
runs the steps every vendor operation runs first (authentication, the scenario, the rate limit)
and then reads the store; the limits they enforce (page sizes, how many ids, the filters'
values) are the served spec's (`openapi/overlay.yaml`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..domain.errors import InvalidRequest
from ..domain.models import ModelProfile
from ..domain.tasks import Task, TaskStatus
from ..domain.types import JSONObject
from ..spec import LIST_TASKS, Spec
from .calls import BodyReader, Call
from .requests import whole_number
from .simulator import Simulator

#: The failure code of a cancelled task: the mock shows it `failed` (facts, section 4), and a
#: listing's `status=cancelled` finds it.
CANCELLED = "request_cancelled"
#: `status=processing` finds queued tasks too: the vendor's client says so of its filter
#: (`tools/list-tasks.ts`: '"processing" includes queued tasks').
_STATUS_MATCHES: Mapping[str, frozenset[TaskStatus]] = {
    "processing": frozenset({TaskStatus.PENDING, TaskStatus.PROCESSING}),
    "cancelled": frozenset({TaskStatus.FAILED}),
}
#: How the vendor routes' 400 messages begin.
_INVALID = "Invalid request parameters: "
#: What `GET /v1/models` says owns every model (the OpenAI-compatible list's `owned_by`).
OWNED_BY = "evolink"


@dataclass(frozen=True, slots=True)
class Limits:
    """What the served spec allows a listing and a batch: the filters' values, the page range,
    the page size (and its default), how many ids a batch takes and what one looks like."""

    statuses: tuple[str, ...]
    types: tuple[str, ...]
    max_page: int
    default_page_size: int
    max_page_size: int
    max_ids: int
    id_prefix: str

    @classmethod
    def of(cls, spec: Spec) -> Limits:
        params = {p["name"]: p["schema"] for p in spec.operation(LIST_TASKS)["parameters"]}
        ids = spec.document["components"]["schemas"]["TaskBatchRequest"]["properties"]["task_ids"]
        return cls(
            statuses=tuple(params["status"]["enum"]),
            types=tuple(params["type"]["enum"]),
            max_page=int(params["page"]["maximum"]),
            default_page_size=int(params["page_size"]["default"]),
            max_page_size=int(params["page_size"]["maximum"]),
            max_ids=int(ids["maxItems"]),
            id_prefix=str(ids["items"]["pattern"]).removeprefix("^"),
        )


@functools.lru_cache(maxsize=16)
def limits(spec: Spec) -> Limits:
    return Limits.of(spec)


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """One listing's filters and page."""

    status: str | None = None
    type: str | None = None
    model: str | None = None
    page: int = 1
    page_size: int = 20

    def matches(self, task: Task, now: float) -> bool:
        if self.model and task.request.model != self.model:
            return False
        if self.type is not None and task.output_type != self.type:
            return False
        if self.status is None:
            return True
        status = task.status_at(now)
        if self.status == "cancelled":
            failure = task.plan.failure
            return status is TaskStatus.FAILED and failure is not None and failure.code == CANCELLED
        return status in _STATUS_MATCHES.get(self.status, frozenset({TaskStatus(self.status)}))


def _one_of(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    raw = params.get(name)
    if raw is not None and raw not in allowed:
        raise InvalidRequest(
            f"{_INVALID}{name} must be one of {', '.join(allowed)}, got {raw[:40]!r}",
            param=name,
        )
    return raw


def task_query(params: Mapping[str, str], allowed: Limits) -> TaskQuery:
    """A listing's query string, checked: InvalidRequest naming the first bad parameter."""
    return TaskQuery(
        status=_one_of(params, "status", allowed.statuses),
        type=_one_of(params, "type", allowed.types),
        model=params.get("model") or None,
        page=whole_number(params.get("page"), "page", 1, allowed.max_page, prefix=_INVALID),
        page_size=whole_number(
            params.get("page_size"),
            "page_size",
            allowed.default_page_size,
            allowed.max_page_size,
            prefix=_INVALID,
        ),
    )


def batch_ids(body: object, allowed: Limits) -> list[str]:
    """The ids of a batch body `{"task_ids": [...]}`, each once, in the order given:
    InvalidRequest naming `task_ids` for anything else."""
    ids = body.get("task_ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not 1 <= len(ids) <= allowed.max_ids:
        count = f"got {len(ids)}" if isinstance(ids, list) else "got none"
        raise InvalidRequest(
            f'{_INVALID}the body must be {{"task_ids": [...]}} with 1 to '
            f"{allowed.max_ids} task ids, {count}",
            param="task_ids",
        )
    for task_id in ids:
        if not isinstance(task_id, str) or not task_id.startswith(allowed.id_prefix):
            raise InvalidRequest(
                f"Invalid task ID format, must start with {allowed.id_prefix!r}: "
                f"{str(task_id)[:80]!r}",
                param="task_ids",
            )
    return list(dict.fromkeys(ids))


def list_item(task: Task, now: float) -> JSONObject:
    """A task as a listing shows it: what the vendor's client types as `TaskListItem`, no result
    links; an ended task also its `duration` and `credits_used`, as its query body."""
    plan = task.plan
    status = plan.status_at(now)
    completed = status is TaskStatus.COMPLETED
    item: JSONObject = {
        "id": task.id,
        "model": task.request.model,
        "type": task.output_type,
        "status": status.value,
        "progress": plan.progress_at(now),
        "created_at": int(plan.created),
        "has_results": completed,
        "result_count": 1 if completed else 0,
        "has_error": status is TaskStatus.FAILED,
    }
    if status.terminal:
        item["duration"] = plan.duration()
        item["credits_used"] = task.price if completed else 0.0
    return item


class TaskPage(NamedTuple):
    """One page of a key's listing, and how many of its tasks match in all."""

    items: list[JSONObject]
    total: int
    query: TaskQuery

    def to_json(self) -> JSONObject:
        return {
            "object": "list",
            "data": self.items,
            "total": self.total,
            "page": self.query.page,
            "page_size": self.query.page_size,
        }


def model_entry(model: ModelProfile) -> dict[str, Any]:
    """A model as `GET /v1/models` lists it: the OpenAI-compatible entry (its creation time is
    not known to the mock: 0)."""
    return {"id": model.name, "object": "model", "created": 0, "owned_by": OWNED_BY}


class Gateway:
    """The reads of one world (`Simulator`): the app's, or an isolated key's."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.limits = limits(simulator.spec)

    async def _admitted(self, call: Call) -> str | None:
        """The steps before any vendor operation reads: the caller's key, once authenticated,
        past its scenario and its rate limit; None when the scenario drops the connection."""
        sim = self.simulator
        await sim.catch_up()
        return await sim.admission.admitted(call)

    async def list_tasks(self, call: Call, params: Mapping[str, str]) -> TaskPage | None:
        """`GET /v1/tasks`: a page of the caller's tasks, newest first (None: dropped)."""
        owner = await self._admitted(call)
        if owner is None:
            return None
        query = task_query(params, self.limits)
        now = self.simulator.now()
        kept = await self.simulator.store.tasks_of(owner)
        found = [
            task
            for task in reversed(kept)  # kept oldest first
            if now < task.result_expires() and query.matches(task, now)
        ]
        start = (query.page - 1) * query.page_size
        shown = [list_item(task, now) for task in found[start : start + query.page_size]]
        return TaskPage(shown, len(found), query)

    async def get_tasks(self, call: Call, read_body: BodyReader) -> tuple[list[Task], float] | None:
        """`POST /v1/tasks/batch`: the caller's tasks of the ids asked, as their queries would
        answer them now, and that time (None: dropped)."""
        owner = await self._admitted(call)
        if owner is None:
            return None
        ids = batch_ids(await read_body(), self.limits)
        sim = self.simulator
        now = sim.now()
        found = [await sim.task_for(owner, task_id, now, call.base_url) for task_id in ids]
        return [task for task in found if task is not None], now

    async def models(self, call: Call) -> list[ModelProfile] | None:
        """`GET /v1/models`: the served models the caller's key may use (its profile's
        `models`, or all), in the order they are served (None: dropped)."""
        owner = await self._admitted(call)
        if owner is None:
            return None
        allowed = self.simulator.admission.profile(owner).models
        return [m for m in self.simulator.models if allowed is None or m.name in allowed]
